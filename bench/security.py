"""Security figures: the timing oracle and the ban rate (docs/security.md).

1. **Timing oracle.** One keep-alive HTTP connection asks, in turn, for the
   file of a protected phone, of an unknown MAC, of a disabled phone and of
   a phone outside its allowlist, ``SAMPLES`` times each, interleaved so that
   drift hits every case alike; first without credentials (every case gets
   the same challenge), then with wrong digest credentials (every case gets
   the same not-found). Printed: the median time of each case and its
   difference from the unknown MAC's. An attacker who could tell the cases
   apart would see a difference well above the run-to-run noise. The ban
   limit is raised so that the bench is not banned; failures are still
   counted and logged as usual.
2. **Ban rate.** With the default limits (30 failures within 60 s ban for
   600 s), an attacker walks unknown MACs as fast as one client can over
   HTTP, TFTP and FTP. Printed: the guesses answered before the ban, how
   long they took, and the rate that leaves over a ban period. Before bans
   counted challenged guesses, one client got 2,424 guesses/s over HTTP for
   as long as it liked (measured 2026-12, the security issue).

Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import json
import re
import socket
import statistics
import struct
import tempfile
import time
from pathlib import Path
from random import shuffle

from tests.peers import free_port
from tests.serve_process import run_cli, serving

SAMPLES = 2_500
PASSWORD = "bench-pass-0001"
PROTECTED, DISABLED, OUTSIDE = "805ec0000001", "805ec0000002", "805ec0000003"
UNKNOWN = "805ec0ffffff"
WALK = 200


def _fleet() -> dict[str, object]:
    phone: dict[str, object] = {
        "tenant": "acme",
        "model": "t46s",
        "lines": [{"user": "201", "password": "s-201"}],
    }
    protected: dict[str, object] = {"access.http.password": PASSWORD}
    return {
        "tenants": [
            {
                "name": "acme",
                "sip_domain": "acme.example.com",
                "settings": {
                    "access.tftp.enabled": True,
                    "access.ftp.enabled": True,
                    "access.ftp.user": "bench",
                    "access.ftp.password": "bench-ftp-pass",
                },
            }
        ],
        "phones": [
            {**phone, "mac": PROTECTED, "settings": protected},
            {**phone, "mac": DISABLED, "settings": protected, "enabled": False},
            {**phone, "mac": OUTSIDE, "settings": {**protected, "access.http.allow": "10.0.0.0/8"}},
        ],
    }


class _Client:
    """A minimal HTTP/1.1 keep-alive client: one request, the whole response, timed."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def get(self, path: str, authorization: str = "") -> tuple[int, float, bytes]:
        """Status, seconds from sending to the last byte, and the headers."""
        head = f"GET /{path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: Yealink SIP-T46S 66.85.0.5\r\n"
        if authorization:
            head += f"Authorization: {authorization}\r\n"
        start = time.perf_counter()
        self.sock.sendall((head + "\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.sock.recv(65536)
        headers, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", headers).group(1))  # type: ignore[union-attr]
        while len(self.buffer) < length:
            self.buffer += self.sock.recv(65536)
        self.buffer = self.buffer[length:]
        elapsed = time.perf_counter() - start
        return int(headers.split(b" ", 2)[1]), elapsed, headers

    def close(self) -> None:
        self.sock.close()


def _wrong_digest(headers: bytes, path: str, user: str) -> str:
    nonce = re.search(rb'nonce="([^"]+)"', headers).group(1).decode()  # type: ignore[union-attr]
    realm = re.search(rb'realm="([^"]+)"', headers).group(1).decode()  # type: ignore[union-attr]
    ha1 = hashlib.md5(f"{user}:{realm}:wrong-password".encode()).hexdigest()
    ha2 = hashlib.md5(f"GET:/{path}".encode()).hexdigest()
    response = hashlib.md5(f"{ha1}:{nonce}:00000001:c0ffee:auth:{ha2}".encode()).hexdigest()
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="/{path}", '
        f'algorithm=MD5, qop=auth, nc=00000001, cnonce="c0ffee", response="{response}"'
    )


def timing_oracle(workdir: Path) -> None:
    """Medians per failure case, without and with (wrong) credentials."""
    fleet = workdir / "fleet.json"
    fleet.write_text(json.dumps(_fleet()))
    run_cli(workdir, "init")
    run_cli(workdir, "apply", str(fleet))
    cases = {"protected": PROTECTED, "unknown": UNKNOWN, "disabled": DISABLED, "outside": OUTSIDE}
    options = ("--ban-limit", "1000000000", "--log-level", "info")
    with serving(workdir, *options, start_within=120) as server:
        client = _Client(server.http)
        auth = {}
        for name, mac in cases.items():
            status, _, headers = client.get(f"{mac}.cfg")
            assert status == 401, (name, status)
            auth[name] = _wrong_digest(headers, f"{mac}.cfg", mac)
        for label, with_auth, expected in (
            ("no credentials (every case: 401 challenge)", False, 401),
            ("wrong digest credentials (every case: 404)", True, 404),
        ):
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(200):  # warm-up
                for name, mac in cases.items():
                    client.get(f"{mac}.cfg", auth[name] if with_auth else "")
            order = list(cases.items())
            for _ in range(SAMPLES):
                shuffle(order)  # no case always follows another
                for name, mac in order:
                    status, elapsed, _ = client.get(f"{mac}.cfg", auth[name] if with_auth else "")
                    assert status == expected, (name, status)
                    times[name].append(elapsed)
            medians = {name: statistics.median(values) * 1e6 for name, values in times.items()}
            print(f"  {label}, {SAMPLES} samples each, interleaved:")
            for name, value in medians.items():
                difference = value - medians["unknown"]
                print(
                    f"    {name:10s} median {value:7.1f} µs   "
                    f"difference from unknown {difference:+6.1f} µs"
                )
        client.close()


def _http_walk(port: int, source: str) -> list[float]:
    """Guesses until the first answer that is not the challenge; completion times."""
    client = _Client(port, source)
    start, done = time.perf_counter(), []
    for n in range(WALK):
        status, _, _ = client.get(f"805ec0ee{n:04x}.cfg")
        if status != 401:
            break
        done.append(time.perf_counter() - start)
    client.close()
    return done


def _tftp_walk(port: int, source: str) -> list[float]:
    """RRQs until the server stops answering (a banned address gets no reply)."""
    start, done = time.perf_counter(), []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(0.5)
        for n in range(WALK):
            rrq = struct.pack("!H", 1) + f"805ec0ee{n:04x}.cfg".encode() + b"\0octet\0"
            sock.sendto(rrq, ("127.0.0.1", port))
            try:
                sock.recvfrom(65535)
            except TimeoutError:
                break
            done.append(time.perf_counter() - start)
    return done


def _ftp_walk(port: int, source: str, log: Path) -> list[float]:
    """RETRs in one session; the guesses answered before the server logged the ban."""
    start, done = time.perf_counter(), []
    with ftplib.FTP(source_address=(source, 0)) as client:
        client.connect("127.0.0.1", port, timeout=10)
        client.login("bench", "bench-ftp-pass")
        for n in range(WALK):
            with contextlib.suppress(ftplib.error_perm):  # the uniform failure
                client.retrbinary(f"RETR 805ec0ee{n:04x}.cfg", lambda _: None)
            done.append(time.perf_counter() - start)
            if f"event=ban client={source}" in log.read_text():
                break
    return done


def ban_rate(workdir: Path) -> None:
    """Guesses an attacker gets before the ban, per protocol, with the default limits."""
    fleet = workdir / "fleet.json"
    fleet.write_text(json.dumps(_fleet()))
    run_cli(workdir, "init")
    run_cli(workdir, "apply", str(fleet))
    tftp, ftp = free_port(socket.SOCK_DGRAM), free_port()
    options = ("--tftp-port", str(tftp), "--ftp-port", str(ftp), "--log-level", "info")
    with serving(workdir, *options, start_within=120) as server:
        walks = {
            "HTTP": _http_walk(server.http, "127.90.0.1"),
            "TFTP": _tftp_walk(tftp, "127.90.0.2"),
            "FTP": _ftp_walk(ftp, "127.90.0.3", server.log),
        }
    print("  ban rate, defaults (30 failures within 60 s ban for 600 s), one client each:")
    for name, done in walks.items():
        guesses, seconds = len(done), (done[-1] if done else 0.0)
        burst = guesses / seconds if seconds else 0.0
        print(
            f"    {name:5s} {guesses:4d} guesses answered before the ban, in {seconds:6.3f} s "
            f"({burst:7,.0f}/s while it lasted); then {guesses / (seconds + 600):.3f} "
            f"guesses/s over the ban period"
        )


def main() -> None:
    """Run both security benchmarks."""
    print("Security: timing of failed lookups (HTTP, one keep-alive connection):")
    with tempfile.TemporaryDirectory() as tmp:
        timing_oracle(Path(tmp))
    with tempfile.TemporaryDirectory() as tmp:
        ban_rate(Path(tmp))
