"""The accept backlog of the HTTP listeners (``--backlog``, issue 12 item 6).

A fleet rebooting together connects in a burst; a full accept queue drops
SYNs and phones wait a retransmit (a second or more). ``ss`` shows the
queue size a listener was given (its Send-Q); the kernel's
``TcpExtListenOverflows`` counter (``nstat``) says whether a burst of 500
connections opened at once overflowed it. The counter belongs to the
network namespace, so another program overflowing its own queue at the
same moment would be counted too; the check with a tiny backlog shows the
counter does see our overflows (there, dropped connections are retried
for a long time, so only the counter is awaited).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

from tests.peers import free_port, need
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

BURST = 500
# The burst comes from one address here, where a fleet's phones each have their own.
PER_ADDRESS = ("--max-connections-per-address", str(2 * BURST))


def _listen_queue(port: int) -> int:
    """The accept queue size of the socket listening on 127.0.0.1:``port`` (``ss``'s Send-Q)."""
    need("ss")
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out, f"nothing listens on port {port}"
    assert out[0] == "LISTEN", out
    return int(out[2])


def _somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


def _overflows() -> int:
    """The kernel's count of connections dropped because an accept queue was full."""
    need("nstat")
    # -a absolute values, -s leave nstat's history file alone, -z print zero counters too.
    out = subprocess.run(
        ["nstat", "-asz", "TcpExtListenOverflows"], capture_output=True, text=True, check=True
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("TcpExtListenOverflows"))
    return int(line.split()[1])


async def _burst(port: int) -> list[bytes]:
    """Open ``BURST`` connections at once, then ask each for ``/healthz``; the status lines."""

    async def one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", port)

    # Every task sends its SYN in the same turn of the loop, before any is accepted.
    pairs = await asyncio.gather(*(one() for _ in range(BURST)))

    async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status = await reader.readline()
        writer.close()
        return status

    return await asyncio.gather(*(ask(r, w) for r, w in pairs))


def test_the_listeners_get_the_configured_backlog(tmp_path: Path) -> None:
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    api = free_port()
    with serving(data, "--api-port", str(api)) as server:
        assert _listen_queue(server.http) == min(1024, _somaxconn())
        assert _listen_queue(api) == min(1024, _somaxconn())
    with serving(data, "--backlog", "300") as server:
        assert _listen_queue(server.http) == min(300, _somaxconn())


def test_a_burst_of_500_connections_overflows_nothing_with_the_default(tmp_path: Path) -> None:
    assert _somaxconn() >= 1024, "net.core.somaxconn caps the backlog below the default"
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    with serving(data, *PER_ADDRESS) as server:
        before = _overflows()
        statuses = asyncio.run(_burst(server.http))
        after = _overflows()
    assert statuses == [b"HTTP/1.1 200 OK\r\n"] * BURST
    assert after - before == 0


def test_a_tiny_backlog_overflows_under_the_same_burst(tmp_path: Path) -> None:
    # The counter sees our listener: with room for 4 connections, 500 at once overflow it.
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    with serving(data, "--backlog", "4", *PER_ADDRESS) as server:
        before = _overflows()
        sockets = [socket.socket() for _ in range(BURST)]
        try:
            for sock in sockets:
                sock.setblocking(False)
                sock.connect_ex(("127.0.0.1", server.http))
            eventually(lambda: _overflows() > before, "a listen overflow counted")
        finally:
            for sock in sockets:
                sock.close()
