"""Rewrite every golden case's expected files (``make golden``).

Run it after a deliberate template change, then read the diff it shows
before committing: a golden file is never updated without reading its diff.
"""

from __future__ import annotations

import shutil

from provisioner.catalog import Catalog
from tests.golden_harness import case_id, cases, render_case


def main() -> None:
    catalog = Catalog.load()
    for case in cases():
        expected = case / "expected"
        shutil.rmtree(expected, ignore_errors=True)
        for path, data in render_case(case, catalog).items():
            target = expected / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        print(f"rendered {case_id(case)}")


if __name__ == "__main__":
    main()
