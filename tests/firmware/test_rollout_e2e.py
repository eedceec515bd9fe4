"""A staged rollout end to end: ``provisioner serve`` and simulated Yealink phones.

Each simulated phone fetches its ``<mac>.cfg`` over HTTP with a Yealink
User-Agent naming its firmware, and listens for SIP on its own port (its
``notify.phone_port``). On a check-sync NOTIFY it answers 200 and
"reboots": fetches its file again, and if the file names a firmware URL it
downloads the image (checking its SHA-256), "flashes" it, and fetches its
file once more with the new version in its User-Agent. A dead phone
answers the NOTIFY and never comes back.

Tenant ``good`` has four healthy phones: the rollout runs in waves of 1, 2
and 1 and ends done. Tenant ``bad`` has a healthy canary and a dead phone
in wave 2: the rollout halts on its own at that wave's deadline without
touching wave 3, and a rollback puts the pinned phones back on their
previous label and reboots them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from tests.peers import free_port
from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually, eventually_async

OLD, NEW = "66.85.0.5", "66.86.0.20"
ROM = f"T46S(T48S,T42S,T41S)-{NEW}.rom"
GOOD = [f"805ec00001{i:02x}" for i in range(4)]
BAD = [f"805ec00002{i:02x}" for i in range(4)]  # BAD[2] is dead; BAD[3] is never reached
DEAD = BAD[2]
WAVE_MINUTES = 0.1  # 6 s per wave: long enough for a healthy phone on a slow CI


@dataclass
class Phone:
    """A Yealink T46S as far as provisioning goes."""

    mac: str
    sip_port: int
    http: str
    dead: bool = False
    version: str = OLD
    notifies: list[str] = field(default_factory=list)  # Event headers received
    flashed: list[str] = field(default_factory=list)  # SHA-256 of images downloaded
    transport: asyncio.DatagramTransport | None = None

    @property
    def user_agent(self) -> str:
        colon = ":".join(self.mac[i : i + 2] for i in range(0, 12, 2))
        return f"Yealink SIP-T46S {self.version} {colon}"

    async def fetch(self, session: aiohttp.ClientSession, path: str) -> bytes:
        async with session.get(
            f"{self.http}/{path}", headers={"User-Agent": self.user_agent}
        ) as response:
            assert response.status == 200, (self.mac, path, response.status)
            return await response.read()

    async def boot(self, session: aiohttp.ClientSession) -> None:
        """Fetch the file; flash and fetch again when it names other firmware."""
        config = (await self.fetch(session, f"{self.mac}.cfg")).decode()
        match = re.search(r"^static\.firmware\.url = (\S+)$", config, re.M)
        if match is None:
            return
        url = match.group(1)
        version = re.search(r"-(\d+(?:\.\d+)+)\.rom$", url)
        assert version is not None, url
        if version.group(1) == self.version:
            return
        async with session.get(url, headers={"User-Agent": self.user_agent}) as response:
            assert response.status == 200, url
            self.flashed.append(hashlib.sha256(await response.read()).hexdigest())
        self.version = version.group(1)
        await self.fetch(session, f"{self.mac}.cfg")


class SipSide(asyncio.DatagramProtocol):
    """Answers NOTIFY with 200 and reboots the phone (unless it is dead)."""

    def __init__(self, phone: Phone, session: aiohttp.ClientSession) -> None:
        self.phone = phone
        self.session = session
        self.tasks: set[asyncio.Task[None]] = set()
        self.calls: set[str] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # CPython's datagram transport does not subclass DatagramTransport.
        self.phone.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        head = data.decode("utf-8", "replace").split("\r\n\r\n", 1)[0].split("\r\n")
        if not head[0].startswith("NOTIFY "):
            return
        keep = ("via:", "from:", "to:", "call-id:", "cseq:")
        lines = [h for h in head[1:] if h.lower().startswith(keep)]
        lines = [f"{h};tag=sim" if h.lower().startswith("to:") else h for h in lines]
        answer = "\r\n".join(["SIP/2.0 200 OK", *lines, "Content-Length: 0", "", ""])
        assert self.phone.transport is not None
        self.phone.transport.sendto(answer.encode(), addr)
        values = {
            h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip() for h in head[1:] if ":" in h
        }
        if values.get("call-id") in self.calls:
            return  # a retransmission
        self.calls.add(values.get("call-id", ""))
        self.phone.notifies.append(values.get("event", ""))
        if not self.phone.dead:
            task = asyncio.get_running_loop().create_task(self._reboot())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _reboot(self) -> None:
        # Not a wait: the simulated phone takes a moment to reboot, as a real one does.
        await asyncio.sleep(0.2)
        await self.phone.boot(self.session)


def fleet(http: int, ports: dict[str, int]) -> dict[str, Any]:
    def tenant(name: str) -> dict[str, Any]:
        return {
            "name": name,
            "sip_domain": f"{name}.example.com",
            "settings": {
                "provisioning.server_url": f"http://127.0.0.1:{http}/",
                "notify.target": "direct",
                "notify.rate": 50,
                "notify.jitter_ms": 0,
                "notify.delay_seconds": 0,
                "notify.retries": 0,
            },
        }

    phones = [
        {
            "tenant": "good" if mac in GOOD else "bad",
            "mac": mac,
            "model": "t46s",
            "settings": {"notify.phone_port": ports[mac]},
        }
        for mac in GOOD + BAD
    ]
    return {"tenants": [tenant("good"), tenant("bad")], "phones": phones}


@dataclass
class Server:
    data_dir: Path
    http: int

    def run(self, *args: str) -> str:
        return run_cli_in_process(self.data_dir, *args).stdout

    def status(self, rollout: int) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("rollout", "status", str(rollout), "--json"))
        return data


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, dict[str, int], str]]:
    image = tmp_path / ROM
    image.write_bytes(bytes.fromhex("ad24ec0b") + os.urandom(299_996))  # a Yealink ROM header
    ports = {mac: free_port(socket.SOCK_DGRAM) for mac in GOOD + BAD}
    http = free_port()
    (tmp_path / "fleet.json").write_text(json.dumps(fleet(http, ports)))
    run_cli_in_process(tmp_path, "init")
    run_cli_in_process(tmp_path, "apply", str(tmp_path / "fleet.json"))
    run_cli_in_process(tmp_path, "firmware", "upload", str(image), "--vendor", "yealink",
                       "--label", "r2", "--activate")  # fmt: skip
    options = ["--poll-interval", "0.5", "--log-level", "info"]
    with serving(tmp_path, *options, http=http):
        yield Server(tmp_path, http), ports, hashlib.sha256(image.read_bytes()).hexdigest()


async def run_scenario(
    srv: Server, rom_sha: str, session: aiohttp.ClientSession, phones: dict[str, Phone]
) -> None:
    """Boot the phones, run both rollouts, check waves, the halt and the rollback."""
    loop = asyncio.get_running_loop()
    for phone in phones.values():
        await loop.create_datagram_endpoint(
            functools.partial(SipSide, phone, session), local_addr=("127.0.0.1", phone.sip_port)
        )
        await phone.boot(session)  # first contact: the server learns its address
    assert all(not p.notifies and p.version == OLD for p in phones.values())

    good = int(
        srv.run("rollout", "start", "--vendor", "yealink", "--label", "r2",
                "--tenant", "good", "--canary", "1", "--growth", "2",
                "--threshold", "100", "--wave-minutes", "5").split()[1].rstrip(":")
    )  # fmt: skip
    bad = int(
        srv.run("rollout", "start", "--vendor", "yealink", "--label", "r2",
                "--tenant", "bad", "--canary", "1", "--growth", "2",
                "--threshold", "100", "--wave-minutes", str(WAVE_MINUTES),
                "--first", ",".join(BAD)).split()[1].rstrip(":")
    )  # fmt: skip

    def done() -> bool:
        state: str = srv.status(good)["state"]
        return state == "done"

    # The CLI blocks: it is polled from a thread while the phones answer on this loop.
    await asyncio.to_thread(eventually, done, "rollout done", 60)
    status = srv.status(good)
    assert [(p["mac"], p["wave"], p["state"], p["reported"]) for p in status["phones"]] == [
        (GOOD[0], 0, "upgraded", NEW),
        (GOOD[1], 1, "upgraded", NEW),
        (GOOD[2], 1, "upgraded", NEW),
        (GOOD[3], 2, "upgraded", NEW),
    ]
    for mac in GOOD:
        assert phones[mac].notifies == ["check-sync;reboot=true"]
        assert phones[mac].flashed == [rom_sha]
        assert phones[mac].version == NEW

    def halted() -> bool:
        state: str = srv.status(bad)["state"]
        return state == "halted"

    await asyncio.to_thread(eventually, halted, "rollout halt", 60)
    status = srv.status(bad)
    assert status["reason"] == (
        f"wave 2: 1 of 2 phones came back with {NEW} (50%), below the threshold of 100%"
    )
    states = {p["mac"]: (p["wave"], p["state"]) for p in status["phones"]}
    assert states == {
        BAD[0]: (0, "upgraded"),
        BAD[1]: (1, "upgraded"),
        DEAD: (1, "failed"),
        BAD[3]: (None, "pending"),
    }
    assert phones[BAD[3]].notifies == []  # the halt came before its wave
    assert phones[BAD[3]].version == OLD

    srv.run("rollout", "rollback", str(bad))
    for mac in (BAD[0], BAD[1]):

        def rebooted(mac: str = mac) -> bool:
            return len(phones[mac].notifies) == 2

        await eventually_async(rebooted, f"rollback reboot of {mac}", 30)
    for mac in BAD[:3]:
        config = (await phones[mac].fetch(session, f"{mac}.cfg")).decode()
        assert "static.firmware.url" not in config, mac
    for mac in GOOD:
        config = (await phones[mac].fetch(session, f"{mac}.cfg")).decode()
        assert f"static.firmware.url = http://127.0.0.1:{srv.http}/fw/yealink/r2/" in config
    assert srv.status(bad)["state"] == "rolled_back"

    # Every step is in the audit log: the admin's, and the server's own.
    log = json.loads(srv.run("audit", "--actor", "rollouts", "--limit", "100", "--json"))
    steps = [(e["scope"], e["action"], e["after"]) for e in reversed(log["items"])]
    mine = [(action, after) for scope, action, after in steps if scope == f"rollout:{good}"]
    assert [a for a in mine if a[0] == "rollout.wave"] == [
        ("rollout.wave", {"wave": 1, "label": "r2", "pinned": [GOOD[0]]}),
        ("rollout.wave", {"wave": 2, "label": "r2", "pinned": GOOD[1:3]}),
        ("rollout.wave", {"wave": 3, "label": "r2", "pinned": [GOOD[3]]}),
    ]
    judged = {mac: state for a in mine if a[0] == "rollout.phones" for mac, state in a[1].items()}
    assert judged == dict.fromkeys(GOOD, "upgraded")
    assert mine[-1] == ("rollout.done", {"state": "done"})
    theirs = [(action, after) for scope, action, after in steps if scope == f"rollout:{bad}"]
    assert ("rollout.halt", {"state": "halted", "reason": status["reason"]}) in theirs
    assert {mac: s for a in theirs if a[0] == "rollout.phones" for mac, s in a[1].items()}[
        DEAD
    ] == "failed"
    by_hand = json.loads(srv.run("audit", "--limit", "100", "--json"))["items"]
    actions = {(e["scope"], e["action"]) for e in by_hand if e["actor"].startswith("cli:")}
    assert {(f"rollout:{good}", "rollout.start"), (f"rollout:{bad}", "rollout.rollback")} <= actions


def test_rollout_in_waves_halt_and_rollback(
    server: tuple[Server, dict[str, int], str],
) -> None:
    srv, ports, rom_sha = server

    async def scenario() -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            phones = {
                mac: Phone(mac, ports[mac], f"http://127.0.0.1:{srv.http}", dead=mac == DEAD)
                for mac in GOOD + BAD
            }
            try:
                await run_scenario(srv, rom_sha, session, phones)
            finally:
                for phone in phones.values():
                    if phone.transport is not None:
                        phone.transport.close()

    asyncio.run(asyncio.wait_for(scenario(), 150))
