"""Firmware sets as admins manage them: upload, activate, deactivate, remove, sweep.

Every refused upload must leave nothing behind: no row in the database and
nothing (not even a staging directory) in the firmware storage.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import FirmwareLibrary, IngestError, Limits, LocalStorage
from provisioner.resolve import Resolver
from provisioner.state import PhoneState, TenantState
from provisioner.store import Store


@pytest.fixture
def library(sqlite_store: Store, catalog: Catalog, tmp_path: Path) -> FirmwareLibrary:
    return FirmwareLibrary(sqlite_store.firmware, LocalStorage(tmp_path / "firmware"), catalog)


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def root_of(library: FirmwareLibrary) -> Path:
    assert isinstance(library.storage, LocalStorage)
    return library.storage.root


def stored(library: FirmwareLibrary) -> list[str]:
    root = root_of(library)
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


POLYCOM = {"sip.ver": b"6.4.6.2222\n", "3111-46161-001.sip.ld": os.urandom(50_000)}


def test_upload_records_files_and_version(library: FirmwareLibrary, tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    created = library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6", description="d")
    assert (created.vendor, created.label, created.version) == ("polycom", "6.4.6", "6.4.6.2222")
    assert created.active is False
    assert created.upload_sha256 == hashlib.sha256(upload.read_bytes()).hexdigest()
    assert {f.path: f.sha256 for f in created.files} == {
        name: hashlib.sha256(data).hexdigest() for name, data in POLYCOM.items()
    }
    (listed,) = library.records.sets()
    assert listed == created
    for f in created.files:
        on_disk = library.storage.local_path(created.storage_key, f.path)
        assert on_disk is not None
        assert on_disk.read_bytes() == POLYCOM[f.path]


def test_version_given_at_upload_wins(library: FirmwareLibrary, tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    created = library.upload(upload, "ucs.zip", vendor="polycom", label="a", version="6.4.6")
    assert created.version == "6.4.6"


def test_a_version_keeps_its_letter(library: FirmwareLibrary, tmp_path: Path) -> None:
    """Cisco SPA reports 7.4.9c; the set must say 7.4.9c, not 7.4.9 (docs/firmware.md)."""
    upload = tmp_path / "spa50x-30x-7-4-9c.bin"
    upload.write_bytes(b"image")
    created = library.upload(upload, upload.name, vendor="cisco", label="c", version="7.4.9c")
    assert created.version == "7.4.9c"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vendor": "snom"}, "unknown vendor 'snom'"),
        ({"label": "../up"}, "invalid label '../up'"),
        ({"label": ""}, "invalid label ''"),
        ({"kind": "other"}, "invalid kind 'other'"),
        ({"version": "v1"}, "invalid version 'v1'"),
        ({"description": "x" * 256}, "description is longer"),
        ({"description": "a\x00b"}, r"description: control character U\+0000"),
        ({"description": "a\uffff"}, r"description: U\+FFFF at position 1"),
    ],
)
def test_bad_arguments_refused_before_reading(
    library: FirmwareLibrary, tmp_path: Path, kwargs: dict[str, str], message: str
) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    args = {"vendor": "polycom", "label": "6.4.6", **kwargs}
    with pytest.raises(InputError, match=message):
        library.upload(upload, "ucs.zip", **args)  # type: ignore[arg-type]
    assert library.records.sets() == []
    assert stored(library) == []


def _tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in entries:
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    return info


def _unsafe(tmp_path: Path, case: str) -> tuple[Path, str]:
    if case == "traversal":
        return make_zip(tmp_path / "u.zip", {"../../etc/cron.d/x": b"x"}), "u.zip"
    if case == "absolute":
        return make_zip(tmp_path / "u.zip", {"/etc/passwd": b"x"}), "u.zip"
    if case == "drive":
        return make_zip(tmp_path / "u.zip", {"C:/boot.ini": b"x"}), "u.zip"
    if case == "symlink":
        entries = [(_info("sip.ld", tarfile.SYMTYPE, link="/etc/shadow"), b"")]
        return _tar(tmp_path / "u.tar.gz", entries), "u.tar.gz"
    if case == "hardlink":
        entries = [(_info("a", size=1), b"a"), (_info("b", tarfile.LNKTYPE, link="a"), b"")]
        return _tar(tmp_path / "u.tar.gz", entries), "u.tar.gz"
    if case == "device":
        return _tar(tmp_path / "u.tar.gz", [(_info("dev", tarfile.CHRTYPE), b"")]), "u.tar.gz"
    if case == "bomb":
        return make_zip(tmp_path / "u.zip", {"sip.ld": bytes(20 << 20)}), "u.zip"
    if case == "truncated":
        whole = make_zip(tmp_path / "w.zip", POLYCOM).read_bytes()
        (tmp_path / "u.zip").write_bytes(whole[: len(whole) // 2])
        return tmp_path / "u.zip", "u.zip"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["traversal", "absolute", "drive", "symlink", "hardlink", "device", "bomb", "truncated"],
)
def test_unsafe_uploads_leave_nothing_behind(
    library: FirmwareLibrary, tmp_path: Path, case: str
) -> None:
    upload, name = _unsafe(tmp_path, case)
    with pytest.raises(IngestError) as refused:
        library.upload(upload, name, vendor="polycom", label="bad")
    assert str(refused.value)  # a message an admin can act on (test_ingest checks wording)
    assert library.records.sets() == []
    assert stored(library) == []


def test_a_failed_record_removes_the_files(
    library: FirmwareLibrary, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The label is taken between the early check and the insert (another process)."""
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    before = stored(library)
    monkeypatch.setattr(library.records, "sets", lambda **_: [])
    with pytest.raises(InputError, match="already exists"):
        library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    assert stored(library) == before


def test_duplicate_label_refused(library: FirmwareLibrary, tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    with pytest.raises(InputError, match="already exists"):
        library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    # The same label for another vendor is another set.
    library.upload(upload, "ucs.zip", vendor="yealink", label="6.4.6", kind="unmanaged")
    assert len(stored(library)) == 2


def test_limits_apply(library: FirmwareLibrary, tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    with pytest.raises(IngestError, match="more than 1 entries"):
        library.upload(upload, "ucs.zip", vendor="polycom", label="x", limits=Limits(max_files=1))
    assert stored(library) == []


def test_activation_lifecycle(
    library: FirmwareLibrary, sqlite_store: Store, tmp_path: Path
) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    created = library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    store = sqlite_store
    Edits.of(store).tenants.add("acme", "acme.example.com")
    revision = store.tenants.revisions()
    assert library.activate("polycom", "6.4.6") is True
    assert library.activate("polycom", "6.4.6") is False
    moved = store.tenants.revisions()
    assert all(moved[t] > revision[t] for t in revision), "servers must re-render"
    with pytest.raises(InputError, match="is active"):
        library.remove("polycom", "6.4.6")
    assert library.deactivate("polycom", "6.4.6") is True
    assert library.remove("polycom", "6.4.6") == []
    assert store.firmware.sets() == []
    assert library.storage.local_path(created.storage_key, "sip.ver") is None
    with pytest.raises(NotFoundError, match="no polycom firmware set labelled '6.4.6'"):
        library.activate("polycom", "6.4.6")


def test_remove_reports_scopes_still_naming_the_label(
    library: FirmwareLibrary, sqlite_store: Store, tmp_path: Path
) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    tenant = TenantState("acme", "acme.example.com", settings={"firmware.label": "6.4.6"})
    tenant.phones["0004f2000001"] = PhoneState(
        "0004f2000001", "vvx410", settings={"firmware.label": "6.4.6"}
    )
    sqlite_store.tenants.apply([tenant])
    assert library.remove("polycom", "6.4.6") == ["phone 0004f2000001", "tenant acme"]


def test_cisco_root_files_may_not_clash(library: FirmwareLibrary, tmp_path: Path) -> None:
    """Cisco loads are also served at the root: two active sets, one name, two files."""
    one = make_zip(tmp_path / "a.zip", {"P0S3-8-12-00.loads": b"a", "common.sbn": b"same"})
    two = make_zip(tmp_path / "b.zip", {"P0S3-9-2-1.loads": b"b", "common.sbn": b"same"})
    three = make_zip(tmp_path / "c.zip", {"P0S3-9-3-1.loads": b"c", "COMMON.sbn": b"other"})
    for label, upload in (("a", one), ("b", two), ("c", three)):
        library.upload(upload, upload.name, vendor="cisco", label=label)
    assert library.activate("cisco", "a")
    assert library.activate("cisco", "b")  # the shared file is the same file
    with pytest.raises(InputError, match="common.sbn differs in active cisco set .a."):
        library.activate("cisco", "c")
    (c,) = library.records.sets(vendor="cisco", label="c")
    assert c.active is False


def test_sweep_removes_only_old_leftovers(library: FirmwareLibrary, tmp_path: Path) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    kept = library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    root = root_of(library)
    staging = root / ".ingest-abc123"
    orphan = root / ("f" * 32)
    young = root / ("e" * 32)
    other = root / "README"
    for d in (staging, orphan, young):
        d.mkdir()
    other.write_text("not ours")
    old = time.time() - 7200
    for d in (staging, orphan):
        os.utime(d, (old, old))
    os.utime(root / kept.storage_key, (old, old))
    assert library.sweep() == [".ingest-abc123", "f" * 32]
    assert sorted(p.name for p in root.iterdir()) == sorted([kept.storage_key, "e" * 32, "README"])


def test_label_selects_the_set_in_resolution(
    library: FirmwareLibrary, sqlite_store: Store, tmp_path: Path
) -> None:
    upload = make_zip(tmp_path / "ucs.zip", POLYCOM)
    library.upload(upload, "ucs.zip", vendor="polycom", label="6.4.6")
    tenant = TenantState("acme", "acme.example.com", settings={"firmware.label": "6.4.6"})
    tenant.phones["0004f2000001"] = PhoneState("0004f2000001", "vvx410")
    sqlite_store.tenants.apply([tenant])

    def chosen() -> str | None:
        snapshot = sqlite_store.tenants.snapshot()
        view = Resolver(library.catalog, snapshot).phone(next(iter(snapshot.phones.values())))
        return view.firmware.path if view.firmware else None

    assert chosen() is None  # inactive sets are never pointed at
    library.activate("polycom", "6.4.6")
    assert chosen() == "fw/polycom/6.4.6/[PHONE_PART_NUMBER].sip.ld"
