"""Security: one hostile TFTP datagram, repeated, against the real ``provisioner serve``.

The datagram of the report (an option name that is not ASCII, a value
without its NUL) once raised out of the server for every copy: a traceback
each in the log, no reply, no ban. Now each copy gets ERROR 4, the log a
line or two, the gateway a failure; after ``ban_limit`` (30 by default) the
address is banned and gets no reply at all, while other clients are served
as before. Clients use 127.0.0.x source addresses (all of 127/8 is local on
Linux); tftp-hpa cannot choose its source address, so the banned address is
played by a raw UDP socket and tftp-hpa shows service from 127.0.0.1.
"""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioner.tftp import Ack, Data, Error, ReadRequest, decode, encode
from tests.peers import free_port, need
from tests.serve_process import run_cli_in_process, serving
from tests.tftp._hostile import FLOOD_DATAGRAM
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo-fleet.toml"
SHARED = "SIPDefault.cnf"  # a shared file of the demo fleet, served over TFTP
ATTACKER = "127.0.0.77"
COPIES = 2000  # far more than the default ban limit of 30


@dataclass
class Served:
    tftp: int
    log: Path


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    data = tmp_path / "data"
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(DEMO))
    tftp = free_port(socket.SOCK_DGRAM)
    with serving(data, "--tftp-port", str(tftp), "--log-level", "info") as server:
        yield Served(tftp, server.log)


def tftp_hpa_get(port: int, name: str, out: Path) -> str:
    """tftp-hpa from 127.0.0.1 fetching ``name``; what it printed (nothing when it worked)."""
    args = [need("tftp"), "-m", "binary", "127.0.0.1", str(port), "-c", "get", name, str(out)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    return result.stdout + result.stderr


def raw_get(source: str, port: int, name: str, within: float = 1.5) -> bytes | None:
    """A lockstep read of ``name`` from ``source``; ``None`` if no packet at all came back."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(within)
        sock.sendto(encode(ReadRequest(name)), ("127.0.0.1", port))
        content = bytearray()
        while True:
            try:
                datagram, tid = sock.recvfrom(65536)
            except TimeoutError:
                if content:
                    raise
                return None
            packet = decode(datagram)
            assert isinstance(packet, Data), packet
            content += packet.payload
            sock.sendto(encode(Ack(packet.block)), tid)
            if len(packet.payload) < 512:
                return bytes(content)


def test_flood_of_the_hostile_datagram_is_refused_then_banned(
    served: Served, tmp_path: Path
) -> None:
    expected = raw_get(ATTACKER, served.tftp, SHARED)
    assert expected, "the shared file must be served to the address before the flood"
    assert tftp_hpa_get(served.tftp, SHARED, tmp_path / "before") == ""

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as attacker:
        attacker.bind((ATTACKER, 0))
        attacker.settimeout(2.0)
        attacker.sendto(FLOOD_DATAGRAM, ("127.0.0.1", served.tftp))
        # Refused, and told why in netascii.
        reply, _ = attacker.recvfrom(65536)
        assert decode(reply) == Error(4, "value of option '\\xff\\xfe' is not NUL-terminated")
        for _ in range(COPIES - 1):
            attacker.sendto(FLOOD_DATAGRAM, ("127.0.0.1", served.tftp))
    ban = f"event=ban client={ATTACKER}"
    eventually(lambda: ban in served.log.read_text(errors="replace"), f"{ban!r} is logged")

    # Requests are handled in order: once this one is served, the flood has been.
    assert tftp_hpa_get(served.tftp, SHARED, tmp_path / "after") == ""
    assert (tmp_path / "after").read_bytes() == (tmp_path / "before").read_bytes() == expected
    # Banned: not even the shared file, not even a refusal.
    assert raw_get(ATTACKER, served.tftp, SHARED) is None

    log = served.log.read_text(errors="replace")
    assert "Traceback" not in log
    refusals = [line for line in log.splitlines() if f"malformed datagram from {ATTACKER}" in line]
    assert 1 <= len(refusals) <= 2, refusals
    # The gateway's failure lines stop at the ban (the fail2ban feed), the rest is silence.
    about_attacker = [line for line in log.splitlines() if ATTACKER in line]
    assert len(about_attacker) <= 30 + 1 + 2, len(about_attacker)
    assert f"event=malformed_request client={ATTACKER} protocol=tftp" in log
