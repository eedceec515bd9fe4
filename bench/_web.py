"""What the HTTP benchmarks share: our server, nginx as the reference, wrk, figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.nginx import nginx as run_nginx
from tests.serve_process import serving

__all__ = ["group", "median", "nginx", "serve", "wrk"]


@contextmanager
def serve(
    data_dir: Path, url: str | None = None, *options: str
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``provisioner serve`` over ``data_dir`` (HTTP only), its port and process.

    ``url`` is a database URL; without it the data directory's own SQLite file.
    ``options`` are more ``serve`` options.
    """
    env = dict(os.environ)
    if url is not None:
        env["PROVISIONER_DB_URL"] = url
    with serving(data_dir, "--log-level", "error", *options, env=env, start_within=120) as running:
        yield running.http, running.process


@contextmanager
def nginx(root: Path) -> Iterator[int]:
    """nginx serving ``root/www`` as static files on a free port (one worker, no access log).

    ``sendfile`` and ``tcp_nopush`` are on, as in Debian's stock nginx.conf:
    the reference is nginx as an admin would run it.
    """
    program = shutil.which("nginx") or "/usr/sbin/nginx"
    http = """    sendfile on;
    tcp_nopush on;
    types { text/plain cfg; }
    default_type application/octet-stream;"""
    with run_nginx(program, root, f"        root {root}/www;", http) as port:
        yield port


_LATENCY = re.compile(r"^\s+(50|90|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_SIZE = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def wrk(url: str, connections: int, seconds: int, script: Path | None = None) -> dict[str, float]:
    """One wrk run (two threads): req/s, transfer MB/s, non-2xx count and latency percentiles."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        command[1:1] = ["-s", str(script)]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    result = {
        "rps": float(group(r"Requests/sec:\s+([\d.]+)", out)),
        "requests": float(group(r"(\d+) requests in", out)),
    }
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    if transfer is not None:
        result["mb_s"] = float(transfer.group(1)) * _SIZE[transfer.group(2)] / (1 << 20)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = float(errors.group(1)) if errors else 0.0
    failed = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result["socket_errors"] = float(sum(map(int, failed.groups()))) if failed else 0.0
    for percent, value, unit in _LATENCY.findall(out):
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        result[f"p{percent}_ms"] = float(value) * scale
    return result


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median request rate."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def group(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text``; a missing match is a bench bug."""
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"{pattern!r} not found in {text[:500]!r}")
    return found.group(1)
