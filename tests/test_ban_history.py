"""Ended bans are kept an hour, so the last hour's bans can be listed (``GET /api/v1/bans``),
on SQLite and PostgreSQL.

A module of its own: no server of another module is polling (and deleting
old bans from) the database meanwhile.
"""

from __future__ import annotations

from provisioner.store import Ban, Store
from provisioner.store._bans import KEPT


def test_ended_bans_are_kept_an_hour_and_a_new_ban_starts_anew(store: Store) -> None:
    bans = store.bans
    bans.record([Ban("10.0.0.1", 1000.0, "lookup_failed", 400.0)])
    assert bans.recent(1500.0, 0.0)[0] == [Ban("10.0.0.1", 1000.0, "lookup_failed", 400.0)]
    assert bans.active(1500.0) == []  # ended: it no longer holds
    assert bans.recent(1500.0, None) == ([], 0)
    # Banned again after the end: a new ban, beginning now.
    bans.record([Ban("10.0.0.1", 2100.0, "ui_login_failed", 1500.0)])
    assert bans.active(1600.0) == [Ban("10.0.0.1", 2100.0, "ui_login_failed", 1500.0)]
    # Extended while it holds (another node's ban): it still began at 1500.
    bans.record([Ban("10.0.0.1", 2200.0, "lookup_failed", 1700.0)])
    assert bans.active(1800.0) == [Ban("10.0.0.1", 2200.0, "lookup_failed", 1500.0)]
    assert bans.recent(2200.0 + KEPT - 1, 0.0)[1] == 1
    bans.active(2200.0 + KEPT)  # an hour after its end, it is gone
    assert bans.recent(2200.0 + KEPT, 0.0) == ([], 0)
