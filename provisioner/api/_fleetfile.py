"""Fleet files over the API: export (as ``export-fleet`` writes them) and apply (as ``apply``).

Apply is :func:`provisioner.fleet_apply.apply_fleet`, all or nothing and
audited as the key. ``?dry_run=true`` runs the same apply through the one
preview service, :func:`provisioner.preview.run_changes` (as ``provisioner
apply --dry-run`` does), and answers what it would change, stored nowhere
(docs/api.md).
An export holds every secret only for an admin key; anyone else gets the
secrets left out (``secret_settings``, ``password_set`` say which are set),
so such an export is for reading, not for applying back.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from provisioner.api._call import Call, Reply
from provisioner.api._fleet import ADMIN, VIEWER
from provisioner.api._preview import Preview, _preview
from provisioner.api._routing import PREFIX, Route
from provisioner.apikeys import Role
from provisioner.edits import Edits
from provisioner.entities import redact
from provisioner.errors import InputError
from provisioner.fleet import export_fleet, fleet_text, parse_fleet, read_fleet_text
from provisioner.fleet_apply import Applied, apply_fleet
from provisioner.preview import Outcome, run_changes
from provisioner.state import TenantState

__all__ = ["ROUTES"]


class ExportQuery(BaseModel):
    """The export's format."""

    model_config = ConfigDict(extra="forbid")
    format: Literal["toml", "json"] = "toml"


class FleetExport(BaseModel):
    """A fleet file, as ``provisioner export-fleet`` writes it."""

    model_config = ConfigDict(extra="forbid")
    format: str
    content: str
    secrets: bool = Field(description="whether secrets are in it (admin keys only)")


class FleetApplyIn(BaseModel):
    """A fleet file to apply."""

    model_config = ConfigDict(extra="forbid", strict=True)
    format: Literal["toml", "json"] = "toml"
    content: str = Field(description="the fleet file's text")
    prune: bool = Field(False, description="delete tenants, groups and phones it does not list")


class FleetApplyQuery(BaseModel):
    """Whether to preview the fleet file only."""

    model_config = ConfigDict(extra="forbid")
    dry_run: bool = Field(False, description="answer what would change; store nothing")


class FleetApplied(Preview):
    """What applying changed (with dry_run: would change, with each affected phone's diffs)."""

    described: list[str] = Field(description="one line per entity changed, then pins kept")
    warnings: list[str]


async def export_fleet_file(call: Call) -> Reply:
    """The fleet (a tenant key: its tenant) as a fleet file."""
    q: ExportQuery = call.query
    store, catalog = call.services.store, call.services.catalog
    if call.key.tenant is not None:
        name = call.key.tenant
        states = [await call.run(lambda: store.tenants.state(name))]
    else:
        states = await call.run(store.tenants.all_states)
    books = await call.run(store.phonebooks.books)
    document = export_fleet(states, books)
    secrets = call.key.role is Role.ADMIN
    if not secrets:
        for kind in ("tenants", "groups", "phones"):
            document[kind] = [redact(catalog, entry) for entry in document[kind]]
    text = fleet_text(document, toml=q.format == "toml")
    return Reply(FleetExport(format=q.format, content=text, secrets=secrets))


export_fleet_file.__name__ = "export_fleet"


async def apply_fleet_file(call: Call) -> Reply:
    """Make the stored fleet match a fleet file, all or nothing."""
    body: FleetApplyIn = call.body
    catalog = call.services.catalog
    document: dict[str, Any] = read_fleet_text(
        body.content, toml=body.format == "toml", name="body.content"
    )
    states = parse_fleet(document, catalog)
    if call.key.tenant is not None:
        for state in states:
            call.own(state.name, f"no tenant named {state.name!r}")
        if body.prune:
            raise InputError("prune: a key limited to a tenant cannot prune other tenants")
    store = call.services.store
    if call.query.dry_run:
        return await _preview_fleet(call, states, prune=body.prune)
    applied = await call.run(lambda: apply_fleet(store, call.edits, states, prune=body.prune))
    return Reply(
        FleetApplied(
            dry_run=False,
            problems=[],
            phones=[],
            changes=dict(sorted(applied.changes.items())),
            described=applied.described,
            warnings=applied.warnings,
        )
    )


async def _preview_fleet(call: Call, states: list[TenantState], *, prune: bool) -> Reply:
    """What applying ``states`` would do: the preview document, the lines ``apply`` would
    print and its warnings (none of them when the file would be refused)."""
    store = call.services.store

    def apply(edits: Edits) -> Applied:
        return apply_fleet(store, edits, states, prune=prune)

    outcome: Outcome = await call.run(
        lambda: run_changes(
            store, call.edits, apply, dry_run=True, reveal_secrets=call.reveals_secrets()
        )
    )
    applied = outcome.value if isinstance(outcome.value, Applied) else None
    document = _preview(outcome, call, PREFIX + "/fleet/apply")
    document["changes"] = dict(sorted(document["changes"].items()))
    return Reply(
        FleetApplied(
            **document,
            described=[] if applied is None else applied.described,
            warnings=[] if applied is None else applied.warnings,
        )
    )


apply_fleet_file.__name__ = "apply_fleet"
ROUTES = [
    Route("GET", "/fleet", export_fleet_file, "Export the fleet file", "fleet", VIEWER,
          query=ExportQuery, answer=FleetExport),
    Route("POST", "/fleet/apply", apply_fleet_file, "Apply a fleet file, or preview it",
          "fleet", ADMIN, query=FleetApplyQuery, body=FleetApplyIn, answer=FleetApplied,
          large_body=True,
          description="As `provisioner apply`: all or nothing; firmware pins of running "
          "rollouts are kept. The body is JSON of at most `serve --api-max-fleet-body` "
          "bytes (default 16 MiB; every other JSON body: 1 MiB); a larger one is refused "
          "with 413 (code 1102) naming the limit. With dry_run=true (as `provisioner apply "
          "--dry-run`) nothing is stored and the answer says what would change: the rows by "
          "kind, one line per entity, and each affected phone's diffs; a file refused once "
          "applied is then in `problems` (one that cannot be read is 422 as without it)."),
]  # fmt: skip
