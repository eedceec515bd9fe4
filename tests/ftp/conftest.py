"""A fake in-memory backend and a running server for the FTP tests."""

from __future__ import annotations

import ftplib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from provisioner.ftp import Client, FtpEvent, FtpServer
from tests.waiting import eventually

USER = "phone"
PASSWORD = "s3cr3t-Pa55word"
# Every byte value, line endings of every kind, and more than one 64 KiB chunk.
BINARY = bytes(range(256)) * 300 + b"\r\n\n\r"


@dataclass(frozen=True)
class Login:
    """What the fake backend hands back as the identity."""

    user: str


@dataclass
class FakeBackend:
    """An FtpBackend over dictionaries, recording every call (thread-safe)."""

    files: dict[str, bytes] = field(default_factory=lambda: {"config.cfg": BINARY})
    limits: dict[str, int] = field(default_factory=lambda: {"app.log": 1000})
    accept_writes: bool = True
    fail: set[str] = field(default_factory=set)  # method names that raise
    gates: dict[str, threading.Event] = field(default_factory=dict)  # reads wait for these
    reads: list[str] = field(default_factory=list)
    writes: list[tuple[str, bytes]] = field(default_factory=list)
    events: list[FtpEvent] = field(default_factory=list)
    logins: list[tuple[str, Client]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _maybe_fail(self, method: str, detail: str = "") -> None:
        if method in self.fail:
            raise ValueError(f"{method} failed {detail}")

    def authenticate(self, username: str, password: str, client: Client) -> Login | None:
        with self._lock:
            self.logins.append((username, client))
        self._maybe_fail("authenticate", f"for {username}:{password}")
        return Login(username) if (username, password) == (USER, PASSWORD) else None

    def read(self, identity: Login, path: str, client: Client) -> bytes | None:
        with self._lock:
            self.reads.append(path)
        gate = self.gates.get(path)
        if gate is not None:
            gate.wait(30)
        self._maybe_fail("read")
        return self.files.get(path)

    def upload_limit(self, identity: Login, path: str, client: Client) -> int:
        self._maybe_fail("upload_limit")
        return self.limits.get(path, 0)

    def write(self, identity: Login, path: str, client: Client, data: bytes) -> bool:
        with self._lock:
            self.writes.append((path, data))
        self._maybe_fail("write")
        return self.accept_writes

    def on_event(self, event: FtpEvent) -> None:
        with self._lock:
            self.events.append(event)
        self._maybe_fail("on_event")

    def wait_event(self, match: Callable[[FtpEvent], bool], timeout: float = 5.0) -> FtpEvent:
        """The first event matching ``match``; events arrive from server threads."""

        def found() -> FtpEvent | None:
            with self._lock:
                return next((event for event in self.events if match(event)), None)

        return eventually(found, lambda: f"a matching FTP event among {self.events!r}", timeout)


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def server(backend: FakeBackend) -> Iterator[FtpServer[Login]]:
    with FtpServer(backend, host="127.0.0.1", port=0, login_failure_delay=0.05) as running:
        yield running


def connect(server: FtpServer[Login]) -> ftplib.FTP:
    """An ftplib client connected (not logged in) to ``server``."""
    client = ftplib.FTP(timeout=10)
    host, port = server.address
    client.connect(host, port)
    return client


@pytest.fixture
def ftp(server: FtpServer[Login]) -> Iterator[ftplib.FTP]:
    client = connect(server)
    client.login(USER, PASSWORD)
    try:
        yield client
    finally:
        client.close()
