"""Writing a tenant's state as the difference from what is stored.

Only rows that change are touched, so applying the same state twice writes
nothing (the fleet file's idempotence) and row ids stay stable for later
references (seen records, jobs). A partial state (:attr:`TenantState.loaded`,
what a single edit reads) is written the same way: only its loaded phones
are compared, so a stored phone it did not read is never changed or removed.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Mapping

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from provisioner.settings import Value
from provisioner.state import LineState, PhoneState, TenantState
from provisioner.store import _tables as t
from provisioner.store._bulk import delete_rows, insert_returning, insert_rows, update_rows
from provisioner.store._feed import Reach, announce, current_revision, record
from provisioner.store._read import TenantIds, encode_value, phones_setting

__all__ = ["Changes", "bump_revision", "delete_phones", "write_tenant"]

Changes = Counter[str]  # e.g. {"phone created": 3, "setting changed": 5}


class _Rows:
    """Statements a tenant write collects, sent set-based: one per table and kind of change.

    Phones, lines and their settings are written as a few bulk statements
    (:mod:`provisioner.store._bulk`) instead of one round trip per row: on
    PostgreSQL a round trip costs more than the row.
    """

    def __init__(self) -> None:
        self.inserts: dict[Table, list[dict[str, object]]] = defaultdict(list)
        self.updates: dict[tuple[Table, tuple[str, ...]], list[dict[str, object]]] = defaultdict(
            list
        )
        self.deletes: dict[Table, list[dict[str, object]]] = defaultdict(list)

    def insert(self, table: Table, row: dict[str, object]) -> None:
        self.inserts[table].append(row)

    def update(self, table: Table, keys: dict[str, object], values: dict[str, object]) -> None:
        """UPDATE ``table`` SET ``values`` WHERE every column of ``keys`` equals its value."""
        self.updates[(table, tuple(keys))].append({**values, **keys})

    def delete(self, table: Table, keys: dict[str, object]) -> None:
        """DELETE FROM ``table`` WHERE every column of ``keys`` equals its value."""
        self.deletes[table].append(keys)

    def flush(self, conn: Connection) -> None:
        """Send what was collected: deletes, then updates, then inserts, table by table."""
        for table, rows in self.deletes.items():
            delete_rows(conn, table, rows)
        for (table, keys), rows in self.updates.items():
            update_rows(conn, table, keys, rows)
        for table, rows in self.inserts.items():
            insert_rows(conn, table, rows)
        self.inserts.clear()
        self.updates.clear()
        self.deletes.clear()


def _write_settings(
    rows: _Rows,
    table: Table,
    owner: str,
    owner_id: int,
    old: Mapping[str, Value],
    new: Mapping[str, Value],
    changes: Changes,
    old_locked: set[str] | None = None,
    new_locked: set[str] | None = None,
) -> None:
    owner_key = f"{owner}_id"
    lockable = new_locked is not None
    for name in old:
        if name not in new:
            rows.delete(table, {owner_key: owner_id, "name": name})
            changes["setting removed"] += 1
    for name, value in new.items():
        row: dict[str, object] = {"value": encode_value(value)}
        locked = lockable and name in (new_locked or set())
        if lockable:
            row["locked"] = locked
        if name not in old:
            rows.insert(table, {owner_key: owner_id, "name": name, **row})
            changes["setting set"] += 1
        elif (
            old[name] != value
            or type(old[name]) is not type(value)
            or (lockable and locked != (name in (old_locked or set())))
        ):
            rows.update(table, {owner_key: owner_id, "name": name}, row)
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
        delete_rows(conn, t.phones, [{"id": phone_id} for phone_id in phone_ids])
        changes["phone removed"] += len(phone_ids)


def write_tenant(
    conn: Connection,
    before: tuple[TenantState, TenantIds] | None,
    after: TenantState,
    changes: Changes,
) -> Reach:
    """Make the stored tenant equal ``after``; ``before`` is what is stored now. What it reached.

    ``before`` and ``after`` are both whole or both partial with the same
    phones loaded (an edit reads one and changes a copy); a partial state
    writes its loaded phones only. When anything changed, the tenant's
    revision is bumped in the same transaction, with what the change reached
    (the change feed, :mod:`provisioner.store._feed`).
    """
    if (None if before is None else before[0].loaded) != after.loaded:
        raise ValueError(
            f"tenant {after.name}: a state is written over the state it was read as "
            "(whole or with the same phones loaded), and a new tenant is written whole"
        )
    outer, changes = changes, Changes()
    rows = _Rows()
    reach = Reach()
    old, ids = _write_tenant_row(conn, before, after, changes)
    _write_settings(
        rows,
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
    group_ids = _write_groups(conn, rows, ids, old, after, changes, reach)
    rows.flush(conn)  # group ids (new groups) exist before memberships name them
    _write_phones(conn, rows, ids, group_ids, old, after, changes, reach)
    if changes:
        # Over the loaded phones only, when partial: the others' entries did not move.
        reach.directory = _directory(old) != _directory(after) or (
            _groups(old) != _groups(after) and _scoped(conn, ids, after)
        )
        bump_revision(conn, ids.tenant, reach)
    outer.update(changes)
    return reach if changes else Reach()


def _directory(state: TenantState) -> list[tuple[str, str]]:
    """The tenant directory a state gives (as the snapshot reads it), to see whether it moved."""
    return sorted(
        (line.display_name or line.user, line.user)
        for phone in state.phones.values()
        if phone.enabled
        for line in phone.lines
    )


def _groups(state: TenantState) -> dict[str, tuple[str, ...]]:
    """The groups of the phones whose lines the directory lists (what a scoped policy reads)."""
    return {
        mac: tuple(sorted(phone.groups))
        for mac, phone in state.phones.items()
        if phone.enabled and phone.lines
    }


def _scoped(conn: Connection, ids: TenantIds, state: TenantState) -> bool:
    """Whether a key layout policy of the tenant may be scoped to a group (``keys.policy.scope``).

    Only then does a phone joining or leaving a group change other phones'
    keys; the phones not loaded are asked with one query.
    """
    scopes = [state.settings, *(g.settings for g in state.groups.values())]
    scopes += [p.settings for p in state.phones.values()]
    return any(s.get("keys.policy.scope") for s in scopes) or bool(
        phones_setting(conn, ids, "keys.policy.scope")
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
    rows: _Rows,
    ids: TenantIds,
    old: TenantState,
    after: TenantState,
    changes: Changes,
    reach: Reach,
) -> dict[str, int]:
    """Delete, create and update groups with their settings; every group's id by name.

    A changed group's id goes into ``reach`` (its members are re-rendered);
    a removed group reaches its members (read before it goes, as they need
    not be loaded); a created group reaches phones only through their
    memberships, which the phones' own writes record.
    """
    gone_groups = [ids.groups[name] for name in old.groups if name not in after.groups]
    if gone_groups:
        # Members leave a removed group with it (ON DELETE CASCADE), loaded or not.
        members = (
            select(t.phones.c.mac)
            .join(t.group_members, t.group_members.c.phone_id == t.phones.c.id)
            .where(t.group_members.c.group_id.in_(gone_groups))
        )
        reach.macs.update(conn.execute(members).scalars())
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
            rows,
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


def _write_phones(
    conn: Connection,
    rows: _Rows,
    ids: TenantIds,
    group_ids: dict[str, int],
    old: TenantState,
    after: TenantState,
    changes: Changes,
    reach: Reach,
) -> None:
    """Create and update the tenant's phones with their memberships, settings and lines.

    New phones are inserted first (one statement) for their ids, then new
    lines (one statement), then everything else at once (:class:`_Rows`).
    Every phone created or changed goes into ``reach``.
    """
    new_phones = [phone for mac, phone in after.phones.items() if mac not in old.phones]
    created = insert_returning(
        conn,
        t.phones,
        [{"tenant_id": ids.tenant, **_phone_row(phone)} for phone in new_phones],
        ["mac"],
    )
    if new_phones:
        changes["phone created"] += len(new_phones)
    phone_ids = {mac: created[(mac,)] for mac in (p.mac for p in new_phones)}
    new_lines: list[tuple[int, LineState]] = []
    for mac, phone in after.phones.items():
        done = changes.total()
        prior = old.phones.get(mac)
        if prior is None:
            prior = PhoneState(phone.mac, phone.model)
            reach.macs.add(mac)
        else:
            phone_ids[mac] = ids.phones[mac]
            if _phone_row(prior) != _phone_row(phone):
                rows.update(t.phones, {"id": phone_ids[mac]}, _phone_row(phone))
                changes["phone changed"] += 1
        new_lines += _write_phone(rows, ids, group_ids, phone_ids[mac], prior, phone, changes)
        if changes.total() != done:
            reach.macs.add(mac)
    line_ids = insert_returning(
        conn,
        t.lines,
        [{"phone_id": phone_id, **_line_row(line)} for phone_id, line in new_lines],
        ["phone_id", "position"],
    )
    for phone_id, line in new_lines:
        line_id = line_ids[(phone_id, line.position)]
        _write_settings(rows, t.line_settings, "line", line_id, {}, line.settings, changes)
    rows.flush(conn)


def _write_phone(
    rows: _Rows,
    ids: TenantIds,
    group_ids: dict[str, int],
    phone_id: int,
    prior: PhoneState,
    phone: PhoneState,
    changes: Changes,
) -> list[tuple[int, LineState]]:
    """Collect one stored phone's changes; the lines to create, with the phone's id."""
    old_groups, new_groups = set(prior.groups), set(phone.groups)
    if old_groups != new_groups:
        for name in old_groups - new_groups:
            if name in group_ids:
                rows.delete(t.group_members, {"phone_id": phone_id, "group_id": group_ids[name]})
        for name in sorted(new_groups - old_groups):
            rows.insert(t.group_members, {"phone_id": phone_id, "group_id": group_ids[name]})
        changes["membership changed"] += 1
    _write_settings(
        rows, t.phone_settings, "phone", phone_id, prior.settings, phone.settings, changes
    )

    old_lines = {line.position: line for line in prior.lines}
    new_lines = {line.position: line for line in phone.lines}
    for position in old_lines:
        if position not in new_lines:
            rows.delete(t.lines, {"id": ids.lines[(phone.mac, position)]})
            changes["line removed"] += 1
    created = []
    for position, line in new_lines.items():
        before = old_lines.get(position)
        if before is None:
            created.append((phone_id, line))
            changes["line created"] += 1
            continue
        line_id = ids.lines[(phone.mac, position)]
        if _line_row(before) != _line_row(line):
            rows.update(t.lines, {"id": line_id}, _line_row(line))
            changes["line changed"] += 1
        _write_settings(
            rows, t.line_settings, "line", line_id, before.settings, line.settings, changes
        )
    return created
