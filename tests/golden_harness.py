"""Render golden cases: ``tests/golden/<vendor>/<family>/<case>/fleet.toml``.

A case's expected output lives in ``<case>/expected/``: every per-phone file
of the fleet's phones plus the family's shared files, compared byte for byte.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from provisioner.catalog import Catalog, FilePer, expand_path
from provisioner.fleet import load_fleet, parse_fleet
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
            store.apply(parse_fleet(load_fleet(case / "fleet.toml"), catalog))
            result = render_snapshot(catalog, store.snapshot())
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


def read_expected(case: Path) -> dict[str, bytes]:
    """The expected files of a case."""
    root = case / "expected"
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
