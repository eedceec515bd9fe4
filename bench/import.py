"""CSV import benchmark: sipXcom's CSV file of N rows into an empty tenant.

The file has sipXcom 20.04's header, with the columns a migrated site fills
(names, PINs, SIP password, alias, e-mail, groups, phone, IM id, cell and
DID numbers, job title, department, company, location, voicemail e-mail
settings, auth account name): N rows, one user each, on 0.6 N phones (a
fifth of them with one line, the rest with two), in a handful of phone and
user groups, half the models given by sipXconfig model id. ``--full`` fills
every column with a value of its own (the worst case for memory: each
value is kept with its user). It is imported (read, checked, applied
in one transaction) through the service ``provisioner import-csv`` calls,
on SQLite and, when ``PROVISIONER_TEST_PG_URL`` names a server, on a fresh
PostgreSQL database made for the run (and dropped after).

Each import runs in a process of its own, so its peak resident set (VmHWM)
is the import's (with the interpreter and the catalog), not the file
generator's. Targets (issue 15): 100,000 rows in under 60 s and 500 MB.

Usage: ``python -m bench.import [N ...]`` (default 100000). Figures are
printed; nothing is asserted.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench._proc import peak_rss_mb
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.sipxcom_csv import HEADER, KEPT, import_csv
from provisioner.store import Store
from tests.pg import new_database

PG_ENV = "PROVISIONER_TEST_PG_URL"
MODELS = ("polycomVVX410", "vvx450", "yealinkPhoneSIPT46S", "t46s", "ciscoplus7961G")


def write_file(path: Path, rows: int, *, full: bool = False) -> int:
    """Write a CSV file of ``rows`` rows to ``path``; returns how many phones it names."""
    single = rows // 5  # phones with one line; the rest have two
    phones = single + (rows - single + 1) // 2
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(HEADER)
        for i in range(rows):
            phone = i if i < single else single + (i - single) // 2
            if full:
                row = {c: f"{c.split()[0].lower()}-{i}" for c in KEPT}
            else:
                row = {
                    "Im Id": f"user{i}",
                    "Cell phone number": f"+1555{i:07d}",
                    "Did number": f"+1444{i:07d}",
                    "Job Title": ("Engineer", "Sales", "Support")[i % 3],
                    "Job department": f"dept{i % 13}",
                    "Company name": "Example Inc",
                    "Location": ("Boston", "Berlin", "Tokyo")[i % 3],
                    "Email voicemail notification": "true",
                    "Email format": "FULL",
                    "Email attach audio": "false",
                }
            row.update(
                {
                    "User name": f"{100000 + i}",
                    "PIN": str(1000 + i % 9000),
                    "Voicemail PIN": str(2000 + i % 8000),
                    "SIP password": f"Pw-{i:06d}-x",
                    "First name": f"First{i}",
                    "Last name": f"Last{i % 977}",
                    "User alias": f"alias{i}",
                    "EMail address": f"user{i}@example.com",
                    "User group": f"users{i % 7}",
                    "Phone serial number": f"0004f2{phone:06x}",
                    "Phone model": MODELS[phone % len(MODELS)],
                    "Phone group": f"floor{phone % 11}",
                    "Phone description": f"desk {phone}",
                    "Auth Account Name": f"auth{i}",
                }
            )
            writer.writerow([row.get(c, "") for c in HEADER])
    return phones


def run_one(url: str, path: Path) -> dict[str, float]:
    """Import ``path`` into tenant ``bench`` of a fresh store at ``url`` (this process)."""
    store = Store.open(url, Catalog.load())
    try:
        edits = Edits.of(store)
        edits.tenants.add("bench", "bench.example.com")
        data = path.read_bytes()
        start, cpu = time.perf_counter(), time.process_time()
        report = import_csv(store, edits, "bench", data)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        store.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak_rss_mb(),
        "phones": report.changes.get("phone created", 0),
        "users": report.changes.get("sip user created", 0),
    }


def _child(url: str, path: Path) -> dict[str, float]:
    """:func:`run_one` in a process of its own (its own peak RSS)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.import", "--one", url, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(sizes: list[int] | None = None, *, full: bool = False) -> None:
    """Print seconds and peak RSS of importing each size on each database."""
    filled = "every column" if full else "the columns a site fills"
    print(f"CSV import (sipXcom 20.04 header, {filled}, one transaction):")
    for rows in sizes or [100_000]:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "sipxcom.csv"
            phones = write_file(path, rows, full=full)
            size = path.stat().st_size / 1e6
            print(f"  {rows} rows, {phones} phones, {size:.1f} MB file")
            result = _child(f"sqlite:///{tmp}/bench.db", path)
            _print("SQLite", result)
            base = os.environ.get(PG_ENV)
            if base:
                with new_database(base, "provisioner_bench") as url:
                    _print("PostgreSQL", _child(url, path))
            else:
                print(f"    PostgreSQL: skipped ({PG_ENV} not set)")


def _print(name: str, result: dict[str, float]) -> None:
    print(
        f"    {name}: {result['seconds']:.1f} s ({result['cpu']:.1f} s CPU), "
        f"peak RSS {result['peak_mb']:.0f} MB "
        f"({int(result['phones'])} phones, {int(result['users'])} users created)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(run_one(sys.argv[2], Path(sys.argv[3]))))
    else:
        full = "--full" in sys.argv
        main([int(n) for n in sys.argv[1:] if n != "--full"] or None, full=full)
