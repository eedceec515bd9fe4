"""sipp as the phone: run a UAS scenario of ``scenarios/`` beside a test's event loop.

:class:`Sipp` starts sipp listening on 127.0.0.1, waits until its port is
bound (so no NOTIFY is sent into the void), and on exit waits for sipp to
finish its calls, killing it past ``limit``. What sipp printed, its error
log and (with ``trace``) every message it received are kept in
:attr:`Sipp.output`, :attr:`Sipp.errors` and :attr:`Sipp.messages`.

sipp's own ``-timeout`` does not end calls in progress, so every
``<recv>`` of the scenarios has a timeout too, and ``limit`` bounds the lot.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Literal

from tests.waiting import eventually_async

__all__ = ["SCENARIOS", "Sipp", "wait_bound"]

SCENARIOS = Path(__file__).parent / "scenarios"


class Sipp:
    """One sipp UAS process (an async context manager)."""

    def __init__(
        self,
        program: str,
        scenario: str,
        port: int,
        workdir: Path,
        *,
        transport: Literal["udp", "tcp"] = "udp",
        calls: int = 1,
        args: tuple[str, ...] = (),
        trace: bool = False,
        limit: float = 30.0,
    ) -> None:
        self.port = port
        self.transport = transport
        self.limit = limit
        self.workdir = workdir
        self.returncode: int | None = None
        self.output = self.errors = self.messages = ""
        self._messages = workdir / f"sipp-{port}-messages.log"
        self._errors = workdir / f"sipp-{port}-errors.log"
        self._stdout = workdir / f"sipp-{port}-stdout.log"
        self._args = [
            program,
            "-sf",
            str(SCENARIOS / scenario),
            "-t",
            "u1" if transport == "udp" else "t1",
            "-i",
            "127.0.0.1",
            "-p",
            str(port),
            "-bind_local",
            "-m",
            str(calls),
            "-timeout",
            f"{int(limit)}s",
            "-nostdin",
            "-trace_err",
            "-error_file",
            str(self._errors),
            *(["-trace_msg", "-message_file", str(self._messages)] if trace else []),
            *args,
        ]
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Sipp:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self._stdout.open("wb") as stdout:
            self._process = await asyncio.create_subprocess_exec(
                *self._args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=asyncio.subprocess.STDOUT,
                cwd=self.workdir,
            )
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        try:
            await wait_bound(self.port, kind, self._process, within=10.0)
        except BaseException:
            await self._finish(kill=True)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._finish(kill=exc_info[0] is not None)

    async def _finish(self, *, kill: bool) -> None:
        process = self._process
        if process is None:
            return
        if kill and process.returncode is None:
            process.kill()
        try:
            await asyncio.wait_for(process.wait(), self.limit)
        except TimeoutError:
            process.kill()
            await process.wait()
        self.returncode = process.returncode
        self.output = _read(self._stdout)
        self.errors = _read(self._errors)
        self.messages = _read(self._messages)

    def report(self) -> str:
        """Everything sipp said, for an assertion message."""
        return f"sipp exited {self.returncode}\n{self.errors}\n{self.output[-3000:]}"


async def wait_bound(
    port: int, kind: int, process: asyncio.subprocess.Process, *, within: float
) -> None:
    """Wait until something has bound 127.0.0.1:``port``; fail if ``process`` exits first.

    Binding the port ourselves fails exactly when sipp holds it (sipp does
    not share it: no SO_REUSEPORT), which needs no traffic that sipp would
    count as a call.
    """

    def bound() -> bool:
        if process.returncode is not None:
            raise RuntimeError(f"sipp exited with {process.returncode} before listening")
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return True
        return False

    await eventually_async(bound, f"sipp listening on port {port}", within)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
