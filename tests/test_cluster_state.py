"""State a cluster shares, in the store (SQLite and PostgreSQL): nonce counts, uploads, bans."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.serve._uploads import import_disk_uploads
from provisioner.store import Store


def test_a_nonce_count_is_claimed_once_by_any_node(store: Store) -> None:
    first = store.nonces.claim([("n1", 1, 500.0), ("n1", 2, 500.0), ("n2", 1, 600.0)])
    assert first == {("n1", 1), ("n1", 2), ("n2", 1)}
    # Another node (the same table) presenting a used count and a new one.
    assert store.nonces.claim([("n1", 2, 500.0), ("n1", 3, 500.0)]) == {("n1", 3)}
    assert store.nonces.claim([("n1", 1, 500.0)]) == set()
    assert store.nonces.claim([]) == set()


def test_a_claim_at_once_is_a_claim_that_never_waits_for_another_writer(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        assert store.nonces.claim_at_once([("n1", 1, 500.0)]) is None  # always on a thread
        return
    assert store.nonces.claim_at_once([("n1", 1, 500.0), ("n1", 2, 500.0)]) == {
        ("n1", 1),
        ("n1", 2),
    }
    assert store.nonces.claim([("n1", 2, 500.0), ("n1", 3, 500.0)]) == {("n1", 3)}
    assert store.nonces.claim_at_once([("n1", 3, 500.0), ("n1", 4, 500.0)]) == {("n1", 4)}
    # Another writer holds the database (an apply, say): no waiting, nothing claimed.
    holder = store.engine.raw_connection()
    try:
        holder.execute("BEGIN IMMEDIATE")
        assert store.nonces.claim_at_once([("n1", 5, 500.0)]) is None
        holder.rollback()
    finally:
        holder.close()
    assert store.nonces.claim([("n1", 5, 500.0)]) == {("n1", 5)}


def test_expired_nonce_counts_are_forgotten(store: Store) -> None:
    store.nonces.claim([("old", 1, 100.0), ("new", 1, 300.0)])
    assert store.nonces.expire(200.0) == 1
    assert store.nonces.claim([("old", 1, 400.0), ("new", 1, 400.0)]) == {("old", 1)}


def test_uploads_are_stored_replaced_and_read_back(store: Store) -> None:
    mac = "0004f2000001"
    assert store.uploads.read(mac, f"{mac}-phone.cfg") is None
    store.uploads.write(mac, f"{mac}-phone.cfg", b"<a/>", 1000.5)
    assert store.uploads.read(mac, f"{mac}-phone.cfg") == (b"<a/>", 1000)
    store.uploads.write(mac, f"{mac}-phone.cfg", b"\x00\xff" * 1000, 2000.0)
    assert store.uploads.read(mac, f"{mac}-phone.cfg") == (b"\x00\xff" * 1000, 2000)
    assert store.uploads.read("0004f2000002", f"{mac}-phone.cfg") is None


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "x" * 256])
def test_upload_names_that_are_not_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(ValueError, match="refusing upload name"):
        store.uploads.write("0004f2000001", name, b"x", 1.0)


def test_upload_of_a_non_mac_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="refusing upload name"):
        store.uploads.read("../etc", "passwd")


def test_uploads_left_on_disk_are_imported_once(store: Store, tmp_path: Path) -> None:
    mac = "0004f2000001"
    root = tmp_path / "uploads"
    (root / mac).mkdir(parents=True)
    (root / mac / f"{mac}-phone.cfg").write_bytes(b"<old/>")
    (root / mac / f"{mac}-app.log").write_bytes(b"log")
    (root / mac / ".tmp-partial").write_bytes(b"x")  # an interrupted write: skipped
    store.uploads.write(mac, f"{mac}-app.log", b"newer", 5.0)  # the database's wins
    assert import_disk_uploads(root, store.uploads) == 1
    found = store.uploads.read(mac, f"{mac}-phone.cfg")
    assert found is not None
    assert found[0] == b"<old/>"  # its time is the file's
    assert store.uploads.read(mac, f"{mac}-app.log") == (b"newer", 5)
    assert not root.exists()
    assert (tmp_path / "uploads.imported" / mac / f"{mac}-phone.cfg").exists()  # kept
    assert import_disk_uploads(root, store.uploads) == 0  # nothing left to read
