"""Render golden cases: ``tests/golden/<vendor>/<family>/<case>/fleet.toml``.

A case's expected output lives in ``<case>/expected/``: every per-phone file
of the fleet's phones plus the family's shared files, compared byte for byte.
An optional ``<case>/firmware.toml`` records firmware sets (``[[sets]]`` with
vendor, label, kind, version, active and the paths of their files) before
the fleet is applied, as if they had been uploaded. Files in
``<case>/phonebooks/`` (``<tenant>.<name>.csv`` or ``.vcf``) are imported
as phonebooks after the fleet is applied, as ``provisioner phonebook
import`` would.
"""

from __future__ import annotations

import tempfile
import tomllib
from pathlib import Path

from provisioner.actor import Actor
from provisioner.catalog import Catalog, FilePer, expand_path
from provisioner.domain import FirmwareFile, FirmwareSet
from provisioner.fleet import load_fleet, parse_fleet
from provisioner.phonebooks import guess_format, import_phonebook
from provisioner.pipeline import render_snapshot
from provisioner.store import Store
from tests.conftest import _reset

GOLDEN = Path(__file__).resolve().parent / "golden"


def cases() -> list[Path]:
    """Every golden case directory, sorted."""
    return sorted(p.parent for p in GOLDEN.glob("*/*/*/fleet.toml"))


def case_id(case: Path) -> str:
    return str(case.relative_to(GOLDEN))


def render_case(case: Path, catalog: Catalog) -> dict[str, bytes]:
    """Render a case's fleet into ``{path: bytes}``."""
    family = catalog.families[str(case.parent.relative_to(GOLDEN))]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/golden.db", catalog)
        try:
            _reset(store)
            _record_firmware(store, case / "firmware.toml")
            store.tenants.apply(parse_fleet(load_fleet(case / "fleet.toml"), catalog))
            _import_phonebooks(store, case / "phonebooks")
            result = render_snapshot(catalog, store.tenants.snapshot())
        finally:
            store.close()
    if result.errors:
        raise AssertionError("render errors:\n" + "\n".join(map(str, result.errors)))
    shared = {
        expand_path(f.path, m) if f.per is FilePer.MODEL else f.path
        for f in family.files
        if f.per is not FilePer.PHONE
        for m in family.models
    }
    files = {f.path: f.data for f in result.shared if f.path in shared}
    for phone_files in result.phones.values():
        files.update((f.path, f.data) for f in phone_files)
    return files


def _import_phonebooks(store: Store, directory: Path) -> None:
    if not directory.is_dir():
        return
    for path in sorted(directory.iterdir()):
        tenant, name = path.stem.split(".", 1)
        data = path.read_bytes()
        fmt = guess_format(path.name, data)
        import_phonebook(store.phonebooks, Actor.cli(), tenant, name, data, fmt)


def _record_firmware(store: Store, path: Path) -> None:
    if not path.exists():
        return
    for n, entry in enumerate(tomllib.loads(path.read_text())["sets"]):
        files = tuple(FirmwareFile(p, 1, "0" * 64) for p in entry["files"])
        store.firmware.add(
            FirmwareSet(
                id=0,
                vendor=entry["vendor"],
                label=entry["label"],
                kind=entry.get("kind", "firmware"),
                description="",
                version=entry.get("version", ""),
                active=False,
                storage_key=f"golden{n}",
                upload_name="golden.zip",
                upload_sha256="0" * 64,
                total_bytes=len(files),
                created_at=0.0,
                files=files,
            )
        )
        if entry.get("active", True):
            store.firmware.set_active(entry["vendor"], entry["label"], True)


def read_expected(case: Path) -> dict[str, bytes]:
    """The expected files of a case."""
    root = case / "expected"
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
