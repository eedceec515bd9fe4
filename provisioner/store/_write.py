"""Writing a tenant's state as the difference from what is stored.

Only rows that change are touched, so applying the same state twice writes
nothing (the fleet file's idempotence) and row ids stay stable for later
references (seen records, jobs).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping

from sqlalchemy import Table, delete, insert, update
from sqlalchemy.engine import Connection

from provisioner.settings import Value
from provisioner.state import LineState, PhoneState, TenantState
from provisioner.store import _tables as t
from provisioner.store._feed import Reach, announce, current_revision, record
from provisioner.store._read import TenantIds, encode_value

__all__ = ["Changes", "bump_revision", "delete_phones", "write_tenant"]

Changes = Counter[str]  # e.g. {"phone created": 3, "setting changed": 5}


def _write_settings(
    conn: Connection,
    table: Table,
    owner: str,
    owner_id: int,
    old: Mapping[str, Value],
    new: Mapping[str, Value],
    changes: Changes,
    old_locked: set[str] | None = None,
    new_locked: set[str] | None = None,
) -> None:
    owner_col = table.c[f"{owner}_id"]
    lockable = new_locked is not None
    gone = [name for name in old if name not in new]
    if gone:
        conn.execute(delete(table).where(owner_col == owner_id, table.c.name.in_(gone)))
        changes["setting removed"] += len(gone)
    for name, value in new.items():
        row: dict[str, object] = {"value": encode_value(value)}
        locked = lockable and name in (new_locked or set())
        if lockable:
            row["locked"] = locked
        if name not in old:
            conn.execute(insert(table).values({f"{owner}_id": owner_id, "name": name, **row}))
            changes["setting set"] += 1
        elif (
            old[name] != value
            or type(old[name]) is not type(value)
            or (lockable and locked != (name in (old_locked or set())))
        ):
            conn.execute(
                update(table).where(owner_col == owner_id, table.c.name == name).values(row)
            )
            changes["setting changed"] += 1


def _insert(conn: Connection, table: Table, values: Mapping[str, object]) -> int:
    """Insert one row and return its new primary key."""
    key = conn.execute(insert(table).values(dict(values))).inserted_primary_key
    assert key is not None
    return int(key[0])


def _line_row(line: LineState) -> dict[str, object]:
    return {
        "position": line.position,
        "user_name": line.user,
        "auth_user": line.auth_user,
        "password": line.password,
        "display_name": line.display_name,
        "label": line.label,
    }


def _phone_row(phone: PhoneState) -> dict[str, object]:
    return {
        "mac": phone.mac,
        "model": phone.model,
        "description": phone.description,
        "enabled": phone.enabled,
    }


def bump_revision(conn: Connection, tenant_id: int, reach: Reach | None = None) -> int:
    """Record that something under the tenant changed; the new revision.

    ``reach`` says what changed (the change feed); without it servers
    re-render the whole tenant. Other nodes are told at commit (PostgreSQL).
    """
    conn.execute(
        update(t.tenants)
        .where(t.tenants.c.id == tenant_id)
        .values(revision=t.tenants.c.revision + 1, changed_at=int(time.time()))
    )
    revision = current_revision(conn, tenant_id)
    if reach is not None:
        record(conn, tenant_id, revision, reach)
    announce(conn, tenant_id, revision)
    return revision


def delete_phones(conn: Connection, phone_ids: list[int], changes: Changes) -> None:
    """Delete phones (and, by cascade, their lines, memberships and settings)."""
    if phone_ids:
        conn.execute(delete(t.phones).where(t.phones.c.id.in_(phone_ids)))
        changes["phone removed"] += len(phone_ids)


def write_tenant(
    conn: Connection,
    before: tuple[TenantState, TenantIds] | None,
    after: TenantState,
    changes: Changes,
) -> None:
    """Make the stored tenant equal ``after``; ``before`` is what is stored now.

    When anything changed, the tenant's revision is bumped in the same
    transaction, with what the change reached (the change feed, :mod:`provisioner.store._feed`).
    """
    outer, changes = changes, Changes()
    reach = Reach()
    old, ids = _write_tenant_row(conn, before, after, changes)
    _write_settings(
        conn,
        t.tenant_settings,
        "tenant",
        ids.tenant,
        old.settings,
        after.settings,
        changes,
        old.locked,
        after.locked,
    )
    reach.whole = bool(changes)  # the tenant's own row or settings reach every phone
    # Phones go first: removing a phone drops its memberships before groups go.
    gone = [mac for mac in old.phones if mac not in after.phones]
    delete_phones(conn, [ids.phones[mac] for mac in gone], changes)
    reach.macs.update(gone)
    group_ids = _write_groups(conn, ids, old, after, changes, reach)
    for mac, phone in after.phones.items():
        done = changes.total()
        _write_phone(conn, ids.tenant, ids, group_ids, old.phones.get(mac), phone, changes)
        if changes.total() != done:
            reach.macs.add(mac)
    if changes:
        reach.directory = _directory(old) != _directory(after)
        bump_revision(conn, ids.tenant, reach)
    outer.update(changes)


def _directory(state: TenantState) -> list[tuple[str, str]]:
    """The tenant directory a state gives (as the snapshot reads it), to see whether it moved."""
    return sorted(
        (line.display_name or line.user, line.user)
        for phone in state.phones.values()
        if phone.enabled
        for line in phone.lines
    )


def _write_tenant_row(
    conn: Connection,
    before: tuple[TenantState, TenantIds] | None,
    after: TenantState,
    changes: Changes,
) -> tuple[TenantState, TenantIds]:
    """Insert or update the tenant's own row; what was stored before, and its ids."""
    tenant_row = {
        "name": after.name,
        "sip_domain": after.sip_domain,
        "platform": after.platform,
        "description": after.description,
    }
    if before is None:
        changes["tenant created"] += 1
        tenant_id = _insert(conn, t.tenants, tenant_row)
        return TenantState(after.name, after.sip_domain), TenantIds(tenant_id)
    old, ids = before
    if (old.sip_domain, old.platform, old.description) != (
        after.sip_domain,
        after.platform,
        after.description,
    ):
        conn.execute(update(t.tenants).where(t.tenants.c.id == ids.tenant).values(tenant_row))
        changes["tenant changed"] += 1
    return old, ids


def _write_groups(
    conn: Connection,
    ids: TenantIds,
    old: TenantState,
    after: TenantState,
    changes: Changes,
    reach: Reach,
) -> dict[str, int]:
    """Delete, create and update groups with their settings; every group's id by name.

    A changed group's id goes into ``reach`` (its members are re-rendered);
    groups created or removed reach phones only through their memberships,
    which the phones' own writes record.
    """
    gone_groups = [ids.groups[name] for name in old.groups if name not in after.groups]
    if gone_groups:
        conn.execute(delete(t.groups).where(t.groups.c.id.in_(gone_groups)))
        changes["group removed"] += len(gone_groups)
    group_ids = dict(ids.groups)
    for name, group in after.groups.items():
        done = changes.total()
        row = {"name": name, "description": group.description, "weight": group.weight}
        prior = old.groups.get(name)
        if prior is None:
            group_ids[name] = _insert(conn, t.groups, {"tenant_id": ids.tenant, **row})
            changes["group created"] += 1
            old_settings, old_locked = {}, set()
        else:
            if (prior.description, prior.weight) != (group.description, group.weight):
                conn.execute(update(t.groups).where(t.groups.c.id == group_ids[name]).values(row))
                changes["group changed"] += 1
            old_settings, old_locked = prior.settings, prior.locked
        _write_settings(
            conn,
            t.group_settings,
            "group",
            group_ids[name],
            old_settings,
            group.settings,
            changes,
            old_locked,
            group.locked,
        )
        if prior is not None and changes.total() != done:
            reach.groups.add(group_ids[name])
    return group_ids


def _write_phone(
    conn: Connection,
    tenant_id: int,
    ids: TenantIds,
    group_ids: dict[str, int],
    prior: PhoneState | None,
    phone: PhoneState,
    changes: Changes,
) -> None:
    if prior is None:
        phone_id = _insert(conn, t.phones, {"tenant_id": tenant_id, **_phone_row(phone)})
        prior = PhoneState(phone.mac, phone.model)
        changes["phone created"] += 1
    else:
        phone_id = ids.phones[phone.mac]
        if _phone_row(prior) != _phone_row(phone):
            conn.execute(
                update(t.phones).where(t.phones.c.id == phone_id).values(_phone_row(phone))
            )
            changes["phone changed"] += 1
    old_groups, new_groups = set(prior.groups), set(phone.groups)
    if old_groups != new_groups:
        removed = [group_ids[g] for g in old_groups - new_groups if g in group_ids]
        if removed:
            conn.execute(
                delete(t.group_members).where(
                    t.group_members.c.phone_id == phone_id,
                    t.group_members.c.group_id.in_(removed),
                )
            )
        for name in sorted(new_groups - old_groups):
            conn.execute(
                insert(t.group_members).values(phone_id=phone_id, group_id=group_ids[name])
            )
        changes["membership changed"] += 1
    _write_settings(
        conn, t.phone_settings, "phone", phone_id, prior.settings, phone.settings, changes
    )

    old_lines = {line.position: line for line in prior.lines}
    new_lines = {line.position: line for line in phone.lines}
    gone = [ids.lines[(phone.mac, p)] for p in old_lines if p not in new_lines]
    if gone:
        conn.execute(delete(t.lines).where(t.lines.c.id.in_(gone)))
        changes["line removed"] += len(gone)
    for position, line in new_lines.items():
        before = old_lines.get(position)
        if before is None:
            line_id = _insert(conn, t.lines, {"phone_id": phone_id, **_line_row(line)})
            changes["line created"] += 1
            old_settings: Mapping[str, Value] = {}
        else:
            line_id = ids.lines[(phone.mac, position)]
            if _line_row(before) != _line_row(line):
                conn.execute(update(t.lines).where(t.lines.c.id == line_id).values(_line_row(line)))
                changes["line changed"] += 1
            old_settings = before.settings
        _write_settings(
            conn, t.line_settings, "line", line_id, old_settings, line.settings, changes
        )
