"""sipp (SIPp 3.6) as the phone: the notifier against a real SIP implementation.

Each test runs one UAS scenario of ``scenarios/`` (see the comment at the
top of each) and one NOTIFY, with T1 = 100 ms so that Timer F is 6.4 s (the
last retransmission lands T1 before F: 100 ms of margin on a busy CI). The
scenarios check what we send (Event, Via with branch and rport, CSeq,
digest credentials with sipp's ``verifyauth``); a failed check fails
sipp's call and so its exit status.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import pytest

from provisioner.sip import Notifier, NotifierStats, NotifyOutcome, NotifyRequest
from tests.peers import free_port, need
from tests.sip._sipp import Sipp

T1 = 0.1
USER, PASSWORD = "201", "secret-201"
QOP_AUTH = 'Digest realm="sipp.test", nonce="7f3a9c01", qop="auth", opaque="0p4que", algorithm=MD5'


def notify(port: int, transport: Literal["udp", "tcp"], **changes: Any) -> NotifyRequest:
    request = NotifyRequest(
        host="127.0.0.1",
        port=port,
        transport=transport,
        request_uri=f"sip:{USER}@127.0.0.1:{port}",
        to_uri=f"sip:{USER}@pbx.example.com",
        from_uri="sip:provisioner@pbx.example.com",
        event="check-sync;reboot=false",  # what ok.xml checks for
        username=USER,
        password=PASSWORD,
    )
    return replace(request, **changes)


def against_sipp(
    tmp_path: Path,
    scenario: str,
    *,
    transport: Literal["udp", "tcp"] = "udp",
    args: tuple[str, ...] = (),
    trace: bool = False,
    **changes: Any,
) -> tuple[NotifyOutcome, Sipp, NotifierStats]:
    """One NOTIFY to sipp running ``scenario``; the outcome, sipp's run and our counters."""
    program = need("sipp")
    port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)

    async def body() -> tuple[NotifyOutcome, Sipp, NotifierStats]:
        phone = Sipp(program, scenario, port, tmp_path, transport=transport, args=args, trace=trace)
        async with phone, Notifier(bind_host="127.0.0.1", t1=T1) as notifier:
            outcome = await notifier.send(notify(port, transport, **changes))
        return outcome, phone, notifier.stats

    return asyncio.run(asyncio.wait_for(body(), 60))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_answered_with_200(tmp_path: Path, transport: Literal["udp", "tcp"]) -> None:
    outcome, sipp, stats = against_sipp(tmp_path, "ok.xml", transport=transport)
    assert sipp.returncode == 0, sipp.report()  # its checks of our NOTIFY passed
    assert outcome == NotifyOutcome(True, 200, "OK", 1, outcome.elapsed)
    assert stats.connections == (1 if transport == "tcp" else 0)


@pytest.mark.parametrize(
    ("transport", "challenge"),
    [
        ("udp", QOP_AUTH),
        ("udp", 'Digest realm="sipp.test", nonce="7f3a9c01"'),  # RFC 2069: no qop, no algorithm
        ("udp", 'Digest realm="sipp.test", nonce="n", qop="auth,auth-int", algorithm=md5'),
        ("tcp", QOP_AUTH),
    ],
)
def test_digest_challenge_answered(
    tmp_path: Path, transport: Literal["udp", "tcp"], challenge: str
) -> None:
    outcome, sipp, stats = against_sipp(
        tmp_path,
        "auth.xml",
        transport=transport,
        args=("-key", "challenge", challenge, "-key", "user", USER, "-key", "password", PASSWORD),
    )
    assert sipp.returncode == 0, sipp.report()
    # sipp's verifyauth accepted the credentials (else it answers 403).
    assert outcome == NotifyOutcome(True, 200, "OK", 2, outcome.elapsed)
    assert stats.sent == 2


def test_wrong_password_is_refused(tmp_path: Path) -> None:
    outcome, sipp, _ = against_sipp(
        tmp_path,
        "auth.xml",
        args=("-key", "challenge", QOP_AUTH, "-key", "user", USER, "-key", "password", "other"),
    )
    assert sipp.returncode == 0, sipp.report()
    assert outcome == NotifyOutcome(False, 403, "Forbidden", 2, outcome.elapsed)


def test_481(tmp_path: Path) -> None:
    outcome, sipp, _ = against_sipp(tmp_path, "refuse.xml")
    assert sipp.returncode == 0, sipp.report()
    assert outcome == NotifyOutcome(
        False, 481, "Call/Transaction Does Not Exist", 1, outcome.elapsed
    )


def test_never_answered_times_out_after_timer_f(tmp_path: Path) -> None:
    outcome, sipp, stats = against_sipp(tmp_path, "silent.xml", trace=True)
    assert sipp.returncode == 0, sipp.report()
    assert (outcome.ok, outcome.status, outcome.reason) == (False, None, "timeout")
    assert outcome.elapsed == pytest.approx(64 * T1, abs=0.3)
    # Timer E from T1 doubling (T2 = 4 s is never reached): retransmissions at
    # 0.1, 0.3, 0.7, 1.5, 3.1 and 6.3 s, just before F at 6.4 s.
    notifies = sipp.messages.count("\nNOTIFY sip:")
    assert notifies == 7, sipp.messages[-2000:]
    assert stats.retransmissions == 6


def test_lost_datagrams_are_retransmitted(tmp_path: Path) -> None:
    outcome, sipp, stats = against_sipp(tmp_path, "drop.xml", args=("-nr",))
    assert sipp.returncode == 0, sipp.report()
    assert outcome == NotifyOutcome(True, 200, "OK", 1, outcome.elapsed)
    assert stats.retransmissions == 3  # sipp dropped three copies and answered the fourth
    assert outcome.elapsed == pytest.approx(0.7, abs=0.2)  # 0.1 + 0.2 + 0.4


def test_scenario_checks_bite(tmp_path: Path) -> None:
    """ok.xml really checks the Event value: another one fails sipp's call."""
    outcome, sipp, _ = against_sipp(tmp_path, "ok.xml", event="check-sync;reboot=true")
    assert outcome.ok  # sipp still answers; its verdict is its exit status
    assert sipp.returncode == 1
    assert "Failed regexp match" in sipp.errors
