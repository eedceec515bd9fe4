"""The audit log's entries: who changed what, from what to what, with secrets redacted.

Every write of the service layer (:mod:`provisioner.edits`, fleet apply,
API keys) builds one :class:`AuditEntry` per entity it touched and hands it
to the store in the write's own transaction, so a write and its record are
stored together or not at all. ``before`` and ``after`` hold only the fields
that changed, flattened to paths (``lines[1].user``, ``settings.time.zone``);
secret values (line passwords, secret settings) appear as ``"(set)"`` or
``"(unset)"``, never as themselves.
"""

from __future__ import annotations

import datetime
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from provisioner.actor import Actor, ActorKind
from provisioner.errors import InputError

__all__ = [
    "MAX_PATHS",
    "REDACTED",
    "AuditEntry",
    "changed",
    "entry_for",
    "parse_since",
]

REDACTED = "(set)"
UNSET = "(unset)"
# Past this many changed paths (a fleet apply of a big tenant) only counts are kept.
MAX_PATHS = 200

Flat = dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded write."""

    actor_kind: ActorKind
    actor: str
    key_id: int | None
    request_id: str
    action: str  # e.g. phone.create, setting.set, fleet.apply, apikey.revoke
    scope: str  # tenant:acme, group:acme/sales, phone:MAC, line:MAC/N, apikey:ID
    entity: str  # what at that scope: the phone, "setting time.zone", "line 2"
    tenant: str | None
    mac: str | None
    dry_run: bool
    before: Flat = field(default_factory=dict)
    after: Flat = field(default_factory=dict)
    at: float = 0.0
    id: int = 0


def flatten(value: Any, prefix: str = "") -> Flat:
    """A nested entry as ``{path: leaf}``; lines are keyed by position, other lists kept whole."""
    out: Flat = {}
    if isinstance(value, Mapping):
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    elif (
        isinstance(value, list)
        and value
        and all(isinstance(v, Mapping) and "position" in v for v in value)
    ):
        for item in value:
            out.update(flatten(item, f"{prefix}[{item['position']}]"))
    else:
        out[prefix] = value
    return out


def changed(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    secret: Callable[[str], bool],
) -> tuple[Flat, Flat]:
    """The paths whose values differ, before and after; ``secret(path)`` values are redacted."""
    old: Flat = {}
    new: Flat = {}
    _flatten_differing(before or {}, after or {}, "", old, new)
    paths = sorted(p for p in old.keys() | new.keys() if old.get(p, _ABSENT) != new.get(p, _ABSENT))
    if len(paths) > MAX_PATHS:
        return {"changed_paths": len(paths)}, {"changed_paths": len(paths)}

    def shown(flat: Flat, path: str) -> Any:
        value = flat[path]
        if secret(path):
            return REDACTED if value else UNSET
        return value

    return (
        {p: shown(old, p) for p in paths if p in old},
        {p: shown(new, p) for p in paths if p in new},
    )


_ABSENT = object()


def _flatten_differing(old: Any, new: Any, prefix: str, old_out: Flat, new_out: Flat) -> None:
    """:func:`flatten` of ``old`` into ``old_out`` and of ``new`` into ``new_out``, leaving out
    the parts of two mappings that are equal on both sides.

    An equal part holds no path whose values differ, so the result of
    :func:`changed` is the same; skipping them keeps the audit of a large
    ``apply`` from flattening every phone it did not change.
    """
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in old.keys() | new.keys():
            before, after = old.get(key, _ABSENT), new.get(key, _ABSENT)
            if before is after or before == after:
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            _flatten_differing(before, after, path, old_out, new_out)
        return
    if old is not _ABSENT:
        old_out.update(flatten(old, prefix))
    if new is not _ABSENT:
        new_out.update(flatten(new, prefix))


def entry_for(
    actor: Actor,
    action: str,
    scope: str,
    entity: str,
    *,
    tenant: str | None = None,
    mac: str | None = None,
    before: Flat | None = None,
    after: Flat | None = None,
) -> AuditEntry:
    """An entry by ``actor``, now."""
    return AuditEntry(
        actor_kind=actor.kind,
        actor=actor.name,
        key_id=actor.key_id,
        request_id=actor.request_id,
        action=action,
        scope=scope,
        entity=entity,
        tenant=tenant,
        mac=mac,
        dry_run=actor.dry_run,
        before=before or {},
        after=after or {},
        at=time.time(),
    )


_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_since(text: str, now: float) -> float:
    """``--since``: ``30m``, ``12h``, ``7d`` ago, or a UTC date ``2026-05-01[T12:00[:00]]``."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        return now - int(relative.group(1)) * _UNIT[relative.group(2)]
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            f"invalid time {text!r}: expected 30m, 12h, 7d or a date such as 2026-05-01T12:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()
