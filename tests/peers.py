"""Real protocol peers (curl, tftp-hpa, atftp, lftp, nginx, in.tftpd, …) for tests.

A test that needs a peer calls :func:`need`. On a developer machine without
the program the test is skipped with the reason printed; in CI
(``PROVISIONER_REQUIRE_PEERS=1``, set by ``.ci/run`` after installing the
packages) a missing peer fails the test instead, so it is never skipped
silently there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess

import pytest

__all__ = ["fetch_with_curl", "free_port", "need"]

REQUIRE_ENV = "PROVISIONER_REQUIRE_PEERS"


def need(program: str) -> str:
    """The absolute path of ``program``, or skip/fail as described above."""
    path = shutil.which(program) or shutil.which(program, path="/usr/sbin:/sbin")
    if path is not None:
        return path
    message = f"{program} is not installed (see .ci/run for the packages)"
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(message)
    pytest.skip(message)


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port free right now on ``host`` (TCP by default, or UDP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def fetch_with_curl(*args: str, limit: float = 10.0) -> tuple[int, bytes]:
    """Run ``curl -s ARGS`` (URL and options); its HTTP status and body.

    The status is 0 when no HTTP answer came (connection or TLS refused).
    """
    result = subprocess.run(
        [need("curl"), "-s", "--max-time", str(limit), "-o", "-", "-w", "\n%{http_code}", *args],
        capture_output=True,
        timeout=limit + 10,
        check=False,
    )
    body, _, code = result.stdout.rpartition(b"\n")
    return int(code), body
