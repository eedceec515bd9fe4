"""Preview before commit: what a change would do to every phone's files, stored nowhere.

:func:`run_changes` is the one service behind ``?dry_run=true`` on every API
write, ``POST /api/v1/changes`` and the CLI's ``set``/``apply --dry-run``.
It runs the caller's edits in one transaction
(:meth:`provisioner.store.TenantRepository.session`); a real run commits
them with their audit entries. A preview then:

1. picks the phones the change can reach (every phone of a tenant whose own
   fields or settings changed, or whose lines changed, since the tenant
   directory lists them; the members of a changed group; a changed phone);
2. renders them as stored (read on a second connection, which sees only
   what is committed: the session's rows are locked, so that is the state
   before the change) and as the open transaction sees them, through the
   same pipeline the server serves from (:func:`provisioner.pipeline.render_tenants`);
3. rolls the transaction back, records the audit entries marked dry-run,
   and diffs every file of every phone whose files differ: against what it
   gets now, and against what it last fetched (:func:`_last_fetched_diff`).

A refused change is not an error here: its problem is the answer.
Secret values (line passwords, settings the catalog marks secret) are
masked in the diffs unless the caller may see secrets: the phones are then
rendered a second time with the secrets replaced before the templates see
them (:mod:`provisioner.masking`), and the diffs are of those files; ETags
are always of the real files.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

from provisioner.catalog import Catalog
from provisioner.domain import Snapshot
from provisioner.edits import Edits
from provisioner.errors import Problem, ProvisionerError, ValidationFailed
from provisioner.etags import etag_of
from provisioner.masking import MASK, masked_files
from provisioner.pipeline import render_tenants
from provisioner.render import RenderedFile, Renderer
from provisioner.resolve import PhoneView
from provisioner.state import TenantState
from provisioner.store import Changes, SeenRow, Store, TenantSession

__all__ = [
    "MASK",
    "SECRETS_DIFFER",
    "UNSHOWABLE",
    "FileDiff",
    "LastFetch",
    "Outcome",
    "PhoneDiff",
    "run_changes",
]

T = TypeVar("T")
# diff_current of a file whose only changes are masked secret values.
SECRETS_DIFFER = "# only masked secret values differ\n"
# What a file shows when it cannot be rendered with its secrets masked.
UNSHOWABLE = "# not shown: the files cannot be rendered with their secrets masked\n"
_Content = tuple[str | bytes, str]  # what a file shows (masked text or bytes), its ETag


@dataclass(frozen=True, slots=True)
class LastFetch:
    """When a phone last fetched a file, and the ETag it was served (``""``: not recorded)."""

    at: int
    protocol: str
    status: str
    etag: str


@dataclass(frozen=True, slots=True)
class FileDiff:
    """One file a phone would fetch (or would no longer find), before → after.

    ``diff_current`` is a unified diff from what the phone gets now (``""``:
    unchanged). ``diff_last_fetched`` is from what it last fetched: ``None``
    when that is not known (the server keeps the ETag of what it served, not
    the bytes, so only "the same as now" or "the same as after" can be told).
    """

    name: str
    diff_current: str
    diff_last_fetched: str | None
    last_fetched: LastFetch | None


@dataclass(frozen=True, slots=True)
class PhoneDiff:
    """A phone whose files the change would alter."""

    mac: str
    tenant: str
    files: list[FileDiff]


@dataclass(slots=True)
class Outcome:
    """What running (or previewing) changes did or would do."""

    value: object = None  # what the operations returned (real runs)
    changes: Changes = field(default_factory=Changes)
    problems: list[ProvisionerError] = field(default_factory=list)
    phones: list[PhoneDiff] = field(default_factory=list)


def run_changes(
    store: Store,
    edits: Edits,
    operations: Callable[[Edits], T],
    *,
    dry_run: bool,
    reveal_secrets: bool = False,
) -> Outcome:
    """Run ``operations`` (edits through the given ``Edits``) in one transaction.

    Real (``dry_run`` false): everything is committed, or nothing (the
    error propagates). Preview: nothing is stored but the audit entries
    (marked dry-run); a refused change comes back in ``problems``.
    """
    tenants = store.tenants
    catalog = tenants.catalog
    if not dry_run:
        with tenants.session(commit=True) as session:
            value = operations(Edits(session, catalog, edits.actor))
        return Outcome(value, session.changes)
    outcome = Outcome()
    try:
        with tenants.session(commit=False) as session:
            outcome.value = operations(Edits(session, catalog, edits.actor.previewing()))
            session.flush()
            outcome.changes = session.changes
            macs = _reachable(session)
            before = tenants.snapshot(macs=macs) if macs else None
            after = session.snapshot(macs) if macs else None
    except ProvisionerError as exc:
        outcome.problems.append(exc)
        return outcome
    if before is None or after is None:
        return outcome
    last = _last_fetches(store, macs)
    renderer = Renderer(catalog)
    old, _ = _render(catalog, renderer, before, macs, reveal_secrets)
    new, errors = _render(catalog, renderer, after, macs, reveal_secrets)
    if errors:
        # The server would keep serving the tenant's last good files: say why.
        outcome.problems.append(ValidationFailed(errors))
    for mac in sorted(set(old) | set(new)):
        tenant, was = old.get(mac, ("", {}))
        tenant, now = new.get(mac, (tenant, {}))
        if {n: e for n, (_, e) in was.items()} == {n: e for n, (_, e) in now.items()}:
            continue
        files = [
            _file_diff(name, was.get(name), now.get(name), last.get((mac, _key(name))))
            for name in sorted(set(was) | set(now))
        ]
        outcome.phones.append(PhoneDiff(mac, tenant, files))
    return outcome


def _reachable(session: TenantSession) -> set[str]:
    """MACs of the phones whose files the session's changes can alter.

    A tenant written from partial states (a single edit reads only the
    phones it touches) is answered from what the writes reached (the change
    feed's :class:`~provisioner.store.Reach`, with the phones of the tenant
    or the groups' members read in the transaction); a whole one from its
    states before and after. A tenant both edited and applied in one session
    counts as reached whole.
    """
    macs: set[str] = set()
    for name, (before, after) in session.touched.items():
        states = [s for s in (before, after) if s is not None]
        partial = [s.partial for s in states]
        if all(partial):
            macs |= session.reached_macs(name)
        elif any(partial):
            macs |= session.reached_macs(name) | {m for s in states for m in s.phones}
            macs |= set(session.phone_macs(name))
        else:
            macs |= _whole_reach(before, after)
    return macs


def _whole_reach(before: TenantState | None, after: TenantState | None) -> set[str]:
    """MACs of the phones whose files a change of a tenant between two whole states alters."""
    states = [s for s in (before, after) if s is not None]
    everyone = {mac for s in states for mac in s.phones}
    if before is None or after is None or _head(before) != _head(after):
        return everyone
    if any(_lines(before.phones.get(mac)) != _lines(after.phones.get(mac)) for mac in everyone):
        return everyone  # the tenant directory lists every line
    changed = {
        n
        for n in before.groups.keys() | after.groups.keys()
        if before.groups.get(n) != after.groups.get(n)
    }
    macs = {
        mac for s in states for mac, phone in s.phones.items() if changed.intersection(phone.groups)
    }
    return macs | {m for m in everyone if before.phones.get(m) != after.phones.get(m)}


def _head(state: TenantState) -> tuple[object, ...]:
    return (state.sip_domain, state.platform, state.description, state.settings, state.locked)


def _lines(phone: object) -> object:
    return None if phone is None else getattr(phone, "lines", None)


def _render(
    catalog: Catalog,
    renderer: Renderer,
    snapshot: Snapshot,
    macs: Collection[str],
    reveal_secrets: bool,
) -> tuple[dict[str, tuple[str, dict[str, _Content]]], list[Problem]]:
    """Each phone's tenant and files: name → (text masked unless ``reveal_secrets``, or
    bytes if binary; the ETag of the real bytes)."""
    names = {tenant.id: tenant.name for tenant in snapshot.tenants.values()}

    def build(view: PhoneView, files: list[RenderedFile]) -> tuple[str, dict[str, _Content]]:
        shown = {f.path: f.data for f in files}
        if not reveal_secrets:
            shown = _masked(catalog, renderer, view, files)
        return view.phone.mac, {f.path: (_text(shown[f.path]), etag_of(f.data)) for f in files}

    renders = render_tenants(catalog, snapshot, build, renderer=renderer, macs=macs)
    result: dict[str, tuple[str, dict[str, _Content]]] = {}
    errors: list[Problem] = []
    for tenant_id, render in renders.items():
        for mac, files in render.phones:
            result[mac] = (names[tenant_id], files)
        errors += [Problem("", str(error)) for error in render.errors]
    return result, errors


def _masked(
    catalog: Catalog, renderer: Renderer, view: PhoneView, files: list[RenderedFile]
) -> dict[str, bytes]:
    """Each file's bytes rendered with the secrets masked (:mod:`provisioner.masking`)."""
    masked = masked_files(catalog, renderer, view)
    if isinstance(masked, list):
        by_path = {f.path: f.data for f in masked}
        if by_path.keys() == {f.path for f in files}:
            return by_path
    # The masked render failed, or made other files (a template testing a secret):
    # show that they cannot be shown rather than anything of the real ones.
    return {f.path: UNSHOWABLE.encode() for f in files}


def _text(data: bytes) -> str | bytes:
    """A file's text, or its bytes when it is not UTF-8 text."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _diff(name: str, old: str | bytes | None, new: str | bytes | None) -> str:
    """A unified diff of one file (``None``: absent); binary files are named, not shown."""
    if old == new:
        return ""
    if isinstance(old, bytes) or isinstance(new, bytes):
        return f"Binary files a/{name} and b/{name} differ\n"
    lines = difflib.unified_diff(
        (old or "").splitlines(keepends=True),
        (new or "").splitlines(keepends=True),
        "/dev/null" if old is None else f"a/{name}",
        "/dev/null" if new is None else f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _file_diff(
    name: str, old: _Content | None, new: _Content | None, last: SeenRow | None
) -> FileDiff:
    """One file's diffs; ``old``/``new`` absent when the phone has no such file then."""
    shown_old = None if old is None else old[0]
    shown_new = None if new is None else new[0]
    current = _diff(name, shown_old, shown_new)
    if not current and _etag(old) != _etag(new):
        current = SECRETS_DIFFER
    fetched = None
    since: str | None = None
    if last is None:
        since = _diff(name, None, shown_new)  # never fetched: all of it is new to the phone
    else:
        fetched = LastFetch(last.last_seen, last.protocol, last.status, last.etag)
        if last.etag and last.etag == _etag(old):
            since = current
        elif last.etag and last.etag == _etag(new):
            since = ""
    return FileDiff(name, current, since, fetched)


def _etag(content: _Content | None) -> str | None:
    return None if content is None else content[1]


def _last_fetches(store: Store, macs: Collection[str]) -> dict[tuple[str, str], SeenRow]:
    """The newest successful fetch of each (MAC, lower-cased path) of these phones."""
    rows = store.seen.fetched(macs)
    return {(row.mac or "", _key(row.path)): row for row in rows}


def _key(path: str) -> str:
    """A path as the server looks it up (case-insensitively, no leading slash)."""
    return path.lstrip("/").lower()
