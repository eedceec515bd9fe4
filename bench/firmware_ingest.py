"""Firmware ingestion benchmark: ~200 MB uploads, each ingested in its own process.

Three uploads of incompressible random data, generated in 1 MiB chunks so no
process ever holds one whole:

* ``zip``: four 50 MB files, deflated (the usual vendor packaging);
* ``tar.gz``: the same four files;
* ``image``: one 200 MB ``.bin``.

Each run is a fresh child process (``python -m bench.firmware_ingest child
…``) so its peak RSS is its own. Figures: wall time of :func:`ingest` alone
(it hashes the upload, extracts, hashes every file, fsyncs, renames), MB/s
of set bytes, and the child's peak RSS next to its RSS after the imports.
The issue's target is a peak under 100 MB. The upload was just written, so
it is read from the page cache. Nothing here is a pass/fail threshold.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench._proc import peak_rss_mb

FILES = 4
FILE_BYTES = 50 * 1024 * 1024
CHUNK = 1 << 20
REPEAT = 3
ROOT = Path(__file__).resolve().parent.parent


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as out:
        for _ in range(size // CHUNK):
            out.write(os.urandom(CHUNK))


def build(tmp: Path) -> dict[str, Path]:
    """The three uploads; returns them by the name each is uploaded under."""
    raw = tmp / "raw"
    raw.mkdir()
    names = [f"part{i}.sip.ld" for i in range(FILES)]
    for name in names:
        _random_file(raw / name, FILE_BYTES)
    uploads = {"fw.zip": tmp / "upload-zip", "fw.tar.gz": tmp / "upload-tgz"}
    with zipfile.ZipFile(uploads["fw.zip"], "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name in names:
            archive.write(raw / name, f"firmware/{name}")
    with tarfile.open(uploads["fw.tar.gz"], "w:gz", compresslevel=1) as tarball:
        for name in names:
            tarball.add(raw / name, f"firmware/{name}")
    shutil.rmtree(raw)
    uploads["fw.bin"] = tmp / "upload-bin"
    _random_file(uploads["fw.bin"], FILES * FILE_BYTES)
    return uploads


def _rss_mb() -> float:
    return peak_rss_mb()


def child(source: Path, name: str, destination: Path) -> dict[str, Any]:
    """In the child process: one ingest, measured."""
    from provisioner.firmware import ingest

    base = _rss_mb()
    start = time.perf_counter()
    result = ingest(source, name, destination)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "bytes": result.total_bytes,
        "files": len(result.files),
        "peak_rss_mb": _rss_mb(),
        "base_rss_mb": base,
    }


def _run(source: Path, name: str, destination: Path) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.firmware_ingest",
            "child",
            str(source),
            name,
            str(destination),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    shutil.rmtree(destination)
    result: dict[str, Any] = json.loads(out)
    return result


def main() -> None:
    """Build the uploads in a temporary directory and print the figures."""
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        uploads = build(tmp)
        setup = time.perf_counter() - started
        sets = tmp / "sets"
        sets.mkdir()
        total = FILES * FILE_BYTES / 1e6
        print(f"firmware ingest benchmark: {total:.0f} MB of random data, best of {REPEAT}")
        print(f"  setup: building the uploads took {setup:.1f} s (not part of the figures)")
        for name, source in uploads.items():
            runs = [_run(source, name, sets / f"{name}-{i}") for i in range(REPEAT)]
            best = min(runs, key=lambda r: r["seconds"])
            median = statistics.median(r["seconds"] for r in runs)
            print(
                f"  {name:<10} upload {source.stat().st_size / 1e6:.0f} MB → {best['files']} "
                f"file(s), {best['bytes'] / 1e6:.0f} MB: {best['seconds']:.2f} s "
                f"(median {median:.2f} s), {best['bytes'] / 1e6 / best['seconds']:.0f} MB/s, "
                f"peak RSS {max(r['peak_rss_mb'] for r in runs):.0f} MB "
                f"(after imports {best['base_rss_mb']:.0f} MB)"
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["child"]:
        figures = child(Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))
        sys.stdout.write(json.dumps(figures) + "\n")
    else:
        main()
