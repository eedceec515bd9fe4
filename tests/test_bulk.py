"""Bulk writes (provisioner.store._bulk) on SQLite and PostgreSQL: the rows given, no others."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from provisioner.store import Store
from provisioner.store import _tables as t
from provisioner.store._bulk import delete_rows, insert_returning, insert_rows, update_rows

# Text an array literal would have to quote or escape, and a string that reads like NULL.
AWKWARD = ['a,b "c" {d} \\e', "NULL", "", "ü 電話 ☎", "'; DROP TABLE phones; --"]


def _tenant(conn: Connection) -> int:
    ids = insert_returning(
        conn, t.tenants, [{"name": "t", "sip_domain": "example.com", "platform": "none"}], ["name"]
    )
    return ids[("t",)]


def _phones(conn: Connection, tenant: int, count: int) -> dict[str, int]:
    rows = [
        {"tenant_id": tenant, "mac": f"0004f2{n:06x}", "model": "m", "description": AWKWARD[n % 5]}
        for n in range(count)
    ]
    ids = insert_returning(conn, t.phones, rows, ["mac"])
    return {str(mac): phone_id for (mac,), phone_id in ids.items()}


def test_insert_returning_gives_each_rows_id_and_defaults_what_rows_leave_out(
    store: Store,
) -> None:
    with store.engine.begin() as conn:
        phones = _phones(conn, _tenant(conn), 5)
        stored = {
            row.mac: (row.id, row.description, row.enabled)
            for row in conn.execute(select(t.phones))
        }
    assert len(set(phones.values())) == 5
    assert stored == {
        mac: (phones[mac], AWKWARD[n % 5], True)
        for n, mac in enumerate(f"0004f2{n:06x}" for n in range(5))
    }


def test_rows_naming_different_columns_are_all_inserted(store: Store) -> None:
    with store.engine.begin() as conn:
        tenant = _tenant(conn)
        group_ids = insert_returning(
            conn,
            t.groups,
            [{"tenant_id": tenant, "name": "g1"}, {"tenant_id": tenant, "name": "g2", "weight": 5}],
            ["name"],
        )
        g1, g2 = group_ids[("g1",)], group_ids[("g2",)]
        insert_rows(
            conn,
            t.group_settings,
            [
                {"group_id": g1, "name": "a", "value": '"x"'},
                {"group_id": g1, "name": "b", "value": '"y"', "locked": True},
                {"group_id": g2, "name": "a", "value": '"z"', "locked": False},
            ],
        )
        settings = {tuple(row) for row in conn.execute(select(t.group_settings))}
        weights = {row.name: row.weight for row in conn.execute(select(t.groups))}
    assert settings == {(g1, "a", '"x"', False), (g1, "b", '"y"', True), (g2, "a", '"z"', False)}
    assert weights == {"g1": 0, "g2": 5}


def test_updates_and_deletes_reach_the_rows_whose_keys_match_only(store: Store) -> None:
    with store.engine.begin() as conn:
        phones = _phones(conn, _tenant(conn), 4)
        first, second, third, fourth = phones.values()
        insert_rows(
            conn,
            t.phone_settings,
            [
                {"phone_id": phone_id, "name": name, "value": '"old"'}
                for phone_id in phones.values()
                for name in ("language", "timezone")
            ],
        )
        update_rows(
            conn,
            t.phone_settings,
            ["phone_id", "name"],
            [
                {"phone_id": first, "name": "language", "value": AWKWARD[0]},
                {"phone_id": second, "name": "timezone", "value": AWKWARD[1]},
            ],
        )
        update_rows(
            conn,
            t.phones,
            ["id"],
            [
                {"id": first, "model": "n"},
                {"id": third, "model": "n", "description": AWKWARD[3], "enabled": False},
            ],
        )
        delete_rows(
            conn,
            t.phone_settings,
            [{"phone_id": third, "name": "language"}, {"phone_id": fourth, "name": "timezone"}],
        )
        delete_rows(conn, t.phones, [{"id": second}])
        settings = {tuple(row) for row in conn.execute(select(t.phone_settings))}
        rows = {
            row.id: (row.model, row.description, row.enabled)
            for row in conn.execute(select(t.phones))
        }
    assert settings == {
        (first, "language", AWKWARD[0]),
        (first, "timezone", '"old"'),
        (third, "timezone", '"old"'),
        (fourth, "language", '"old"'),
    }
    assert rows == {
        first: ("n", AWKWARD[0], True),
        third: ("n", AWKWARD[3], False),
        fourth: ("m", AWKWARD[3], True),
    }


def test_no_rows_write_nothing(store: Store) -> None:
    with store.engine.begin() as conn:
        insert_rows(conn, t.phones, [])
        update_rows(conn, t.phones, ["id"], [])
        delete_rows(conn, t.phones, [])
        assert insert_returning(conn, t.phones, [], ["mac"]) == {}
        assert conn.execute(select(t.phones)).first() is None


def test_a_value_longer_than_its_column_is_refused_not_cut(store: Store) -> None:
    # SQLite does not enforce VARCHAR lengths; PostgreSQL must refuse, as a plain INSERT does.
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite keeps any length")
    with store.engine.begin() as conn:
        tenant = _tenant(conn)
        (phone,) = _phones(conn, tenant, 1).values()
    long_model = [{"id": phone, "model": "m" * 65}]
    long_mac = [{"tenant_id": tenant, "mac": "0004f20000011", "model": "m"}]
    with store.engine.connect() as conn, pytest.raises(DBAPIError):
        update_rows(conn, t.phones, ["id"], long_model)
    with store.engine.connect() as conn, pytest.raises(DBAPIError):
        insert_returning(conn, t.phones, long_mac, ["mac"])
    with store.engine.connect() as conn:
        assert [row.model for row in conn.execute(select(t.phones))] == ["m"]
