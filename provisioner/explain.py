"""A phone's resolved settings with their provenance, its transports and files: ``explain``.

The command line (``provisioner explain --json``) and the admin API
(``GET /api/v1/phones/{mac}/explain``) both print :func:`explain_phone`.
"""

from __future__ import annotations

import json
from typing import Any

from provisioner.catalog import Catalog
from provisioner.chars import clean_text
from provisioner.domain import Snapshot
from provisioner.errors import NotFoundError
from provisioner.keylayout import PlacedKey, phone_layout
from provisioner.masking import MASK
from provisioner.pipeline import render_snapshot, view_warnings
from provisioner.render import RenderedFile, RenderError
from provisioner.resolve import PhoneView, Resolved, Resolver
from provisioner.serve import Protocol, access_from, transport_refusal
from provisioner.settings import Value

__all__ = ["MASK", "explain_phone", "phone_view", "rendered", "shown", "transports"]


def shown(value: Value, *, secret: bool = False, reveal: bool = False) -> str:
    """A setting value as admins read it (JSON spelling; secrets masked)."""
    if secret and not reveal and value != "":
        return MASK
    return clean_text(json.dumps(value, ensure_ascii=False))


def phone_view(catalog: Catalog, snapshot: Snapshot, mac: str) -> tuple[Resolver, PhoneView]:
    """The resolver over ``snapshot`` (read for ``mac``) and the phone's view."""
    phone = next((p for p in snapshot.phones.values() if p.mac == mac), None)
    if phone is None:
        raise NotFoundError(f"no phone with MAC {mac}")
    resolver = Resolver(catalog, snapshot)
    return resolver, resolver.phone(phone)


def rendered(
    catalog: Catalog, resolver: Resolver, view: PhoneView
) -> tuple[list[RenderedFile], list[RenderError]]:
    """The phone's files as the pipeline renders them now, or why they fail."""
    result = render_snapshot(catalog, resolver.snapshot, shared=False, macs=[view.phone.mac])
    return result.phones.get(view.phone.mac, []), result.errors


def transports(view: PhoneView) -> dict[str, str | None]:
    """Why each transport refuses the phone's own files (``None``: it may serve them).

    The gateway applies the same rule (:func:`provisioner.serve.transport_refusal`);
    per-request checks (allowlists, credentials, certificates) come on top.
    """
    values = {name: resolved.value for name, resolved in view.settings.items()}
    access = access_from(values)
    result = {protocol.value: transport_refusal(access, protocol) for protocol in Protocol}
    if result["ftp"] is None and not values["access.ftp.enabled"]:
        result["ftp"] = "access.ftp.enabled is off for the tenant"
    return result


def _entry(resolved: Resolved, text: str, gated: bool) -> dict[str, Any]:
    return {
        "value": text,
        "source": resolved.source.kind.value,
        "scope": resolved.source.name,
        "locked": resolved.source.locked,
        "rendered": not gated,
    }


def _keys(view: PhoneView) -> dict[str, Any]:
    """The placed keys, where the list came from, and why they do not fit (if so)."""
    layout, problems = phone_layout(view)
    source = view.settings["keys"].source

    def entry(p: PlacedKey) -> dict[str, Any]:
        where = {"module": p.module, "slot": p.slot, "number": p.number, "line": p.line}
        return {**where, **p.key, **({"policy": True} if p.policy else {})}

    return {
        "source": source.kind.value,
        "scope": source.name,
        "locked": source.locked,
        "placed": [entry(p) for p in layout.phone]
        + [entry(p) for placed in layout.modules for p in placed],
        "problems": problems,
        # Lines of the keys.policy rule that fit on no free key (docs/settings.md).
        "policy_dropped": layout.dropped,
    }


def explain_phone(
    catalog: Catalog, snapshot: Snapshot, mac: str, reveal: bool = False
) -> dict[str, Any]:
    """Everything ``explain --json`` prints for the phone ``mac`` (``snapshot`` read for it)."""
    resolver, view = phone_view(catalog, snapshot, mac)
    secret = {name for name in view.settings if catalog.spec(name).secret}

    def text(name: str, resolved: Resolved) -> str:
        return shown(resolved.value, secret=name in secret, reveal=reveal)

    line_names = {name for lv in view.lines for name in lv.settings}
    files, errors = rendered(catalog, resolver, view)
    return {
        "mac": mac,
        "model": view.model.id,
        "tenant": view.tenant.name,
        "groups": [g.name for g in view.groups],
        "settings": {
            name: _entry(r, text(name, r), name in view.gated)
            for name, r in sorted(view.settings.items())
            if name not in line_names
        },
        "transports": {
            name: {"served": reason is None, "reason": reason or ""}
            for name, reason in transports(view).items()
        },
        "lines": [
            {
                "position": lv.line.position,
                "settings": {
                    name: _entry(r, text(name, r), name in view.gated)
                    for name, r in sorted(lv.settings.items())
                },
            }
            for lv in view.lines
        ],
        "keys": _keys(view),
        "files": [{"path": f.path, "bytes": len(f.data)} for f in files],
        "render_errors": [str(e) for e in errors],
        "warnings": view_warnings(view),
    }
