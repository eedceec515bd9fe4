"""A direct check-sync NOTIFY goes only where an *admitted* fetch came from.

Measured before the fix: a request that merely got a 401 challenge for a
protected phone's file became that phone's NOTIFY destination; a fake phone
there answered the NOTIFY with 401 and received an MD5 digest of the line's
SIP password. Here a real ``provisioner serve`` queues real send-profiles
jobs; the "phones" are UDP sockets on two local addresses.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from tests.peers import free_port
from tests.security.gateway_fleet import (
    HTTP_PASSWORD,
    PROTECTED,
    apply_fleet,
    curl_from,
    fleet,
)
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

ATTACKER, PHONE = "127.66.0.1", "127.66.0.2"


def _job(data: Path, job: int) -> dict[str, Any]:
    out = run_cli_in_process(data, "jobs", "--show", str(job), "--json").stdout
    found: dict[str, Any] = json.loads(out)
    return found


def _send_profiles(data: Path) -> int:
    run_cli_in_process(data, "send-profiles", "--phone", PROTECTED)
    jobs = json.loads(run_cli_in_process(data, "jobs", "--json").stdout)
    return max(int(j["id"]) for j in jobs)


def _finished(data: Path, job: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found = _job(data, job)
        return found if found["state"] != "running" else None

    return eventually(done, f"job {job} finished")


def _answer_200(sock: socket.socket) -> bytes:
    """Receive one NOTIFY and answer it 200 OK, as a phone would (RFC 3261 §8.2.6)."""
    sock.settimeout(20)
    data, peer = sock.recvfrom(65535)
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    copied = [
        line
        for line in head[1:]
        if line.split(b":", 1)[0].strip().lower()
        in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq")
    ]
    to = next(line for line in head[1:] if line.split(b":", 1)[0].strip().lower() in (b"to", b"t"))
    response = b"\r\n".join(
        [b"SIP/2.0 200 OK", *copied, to + b";tag=phone1", b"Content-Length: 0", b"", b""]
    )
    sock.sendto(response, peer)
    return data


def _nothing_arrived(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        sock.recvfrom(65535)
    except BlockingIOError:
        return True
    return False


def test_a_challenged_or_refused_request_never_becomes_the_notify_address(
    tmp_path: Path,
) -> None:
    port = free_port(socket.SOCK_DGRAM, ATTACKER)
    attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    attacker.bind((ATTACKER, port))
    phone.bind((PHONE, port))
    document = fleet(tenant_settings={"notify.phone_port": port})
    apply_fleet(tmp_path, document)
    with serving(tmp_path, "--poll-interval", "0.2") as server, attacker, phone:
        url = f"http://127.0.0.1:{server.http}/{PROTECTED}.cfg"
        # No credentials (a challenge), then wrong ones (refused).
        assert curl_from(ATTACKER, url)[0] == 401
        wrong = ("--digest", "-u", f"{PROTECTED}:wrong-password")
        assert curl_from(ATTACKER, url, *wrong)[0] == 404

        job = _finished(tmp_path, _send_profiles(tmp_path))
        assert job["counts"] != {"ok": 1}, job  # no address is known: nothing to send to
        (target,) = job["targets"]
        assert "address is unknown" in target["reason"], target
        assert _nothing_arrived(attacker)

        # The phone fetches with its credentials: now it is the destination.
        right = ("--digest", "-u", f"{PROTECTED}:{HTTP_PASSWORD}")
        assert curl_from(PHONE, url, *right)[0] == 200
        # The attacker tries again after that; nothing moves.
        assert curl_from(ATTACKER, url)[0] == 401
        assert curl_from(ATTACKER, url, *wrong)[0] == 404
        job_id = _send_profiles(tmp_path)
        notify = _answer_200(phone)
        assert notify.startswith(b"NOTIFY sip:202@127.66.0.2:")
        assert _finished(tmp_path, job_id)["counts"] == {"ok": 1}
        assert _nothing_arrived(attacker)
