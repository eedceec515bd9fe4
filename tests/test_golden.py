"""Every family renders byte-exact against its golden files (docs/golden-files.md)."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from tests.golden_harness import GOLDEN, case_id, cases, read_expected, render_case


@pytest.mark.parametrize("case", cases(), ids=case_id)
def test_golden(case: Path, catalog: Catalog) -> None:
    actual = render_case(case, catalog)
    expected = read_expected(case)
    assert sorted(actual) == sorted(expected), (
        "file set differs; run `make golden` and read the diff"
    )
    for path, data in expected.items():
        if actual[path] != data:
            diff = "\n".join(
                difflib.unified_diff(
                    data.decode("utf-8", "replace").splitlines(),
                    actual[path].decode("utf-8", "replace").splitlines(),
                    f"expected/{path}",
                    f"rendered/{path}",
                    lineterm="",
                )
            )
            pytest.fail(f"{case_id(case)}/{path} drifted:\n{diff}")


def test_every_family_has_goldens(catalog: Catalog) -> None:
    """Each family has a single-line, a multi-line and a hostile case."""
    for key in catalog.families:
        found = {p.name for p in (GOLDEN / key).iterdir()} if (GOLDEN / key).is_dir() else set()
        assert {"single-line", "multi-line", "hostile"} <= found, f"{key} lacks golden cases"


def test_goldens_are_utf8_without_bom() -> None:
    for case in cases():
        for path, data in read_expected(case).items():
            assert not data.startswith(b"\xef\xbb\xbf"), path
            data.decode("utf-8")
