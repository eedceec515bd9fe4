"""nginx on 127.0.0.1 for tests (a reverse proxy) and benchmarks (the static-file reference)."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.peers import free_port
from tests.waiting import eventually

__all__ = ["nginx"]


@contextmanager
def nginx(program: str, root: Path, server: str, http: str = "") -> Iterator[int]:
    """Run nginx until the block ends; yields the free port its one server listens on.

    ``server`` is the body of that server block (``listen`` is added),
    ``http`` extra directives for the http block. One worker, no access log,
    every file under ``root``.
    """
    port = free_port()
    (root / "tmp").mkdir(parents=True, exist_ok=True)
    # As root, nginx would drop its worker to "nobody", which cannot read a private temp dir.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {root}/tmp;\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = root / "nginx.conf"
    conf.write_text(
        f"""{user}
worker_processes 1;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}{http}
    server {{
        listen 127.0.0.1:{port};
{server}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [program, "-p", str(root), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_listening(port, process, root / "error.log")
        yield port
    finally:
        process.terminate()
        process.wait(10)


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    def listening() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"nginx did not start: {_errors(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    eventually(listening, lambda: f"nginx listening on port {port}: {_errors(log)}", 10)


def _errors(log: Path) -> str:
    return log.read_text() if log.exists() else "no error log"
