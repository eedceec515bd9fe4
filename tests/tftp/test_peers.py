"""Real TFTP clients (tftp-hpa's ``tftp``, ``atftp``) against our server.

Each client runs as a subprocess while the server runs on the test's event
loop; every subprocess is bounded by a timeout. The large-file cases are
over 32 MiB, so at blksize 512 the 16-bit block number wraps (to 0, as
tftp-hpa expects).
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from provisioner.tftp import TftpEvent, TftpServer
from tests.peers import free_port, need

SMALL = b"<phone>\n  <line>201</line>\n</phone>\n" * 40
TEXT = b"unix line\nanother\rbare cr\n"
LARGE = bytes(range(256)) * (33 * 1024 * 1024 // 256)  # 33 MiB: 67,584 blocks of 512
MEDIUM = bytes(range(251)) * 2000  # 502,000 bytes: 490 blocks of 1024, enough for the lane
FILES = {
    "0004f2123456.xml": SMALL,
    "notes.txt": TEXT,
    "firmware.bin": LARGE,
    "medium.bin": MEDIUM,
}


async def serve(name: str, client: tuple[str, int]) -> bytes | None:
    return FILES.get(name)


async def run_client(args: list[str], limit: float) -> tuple[int, str]:
    """Run a client to completion without blocking the server; kill it on timeout."""
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


UPLOADS: dict[str, bytes] = {}


async def keep(name: str, client: tuple[str, int], content: bytes) -> bool:
    UPLOADS[name] = content
    return True


def with_server(
    args_for: list[str], *, host: str = "127.0.0.1", limit: float = 30.0
) -> tuple[int, str, list[TftpEvent]]:
    """Start a server, run the client (``{port}`` in its arguments is filled in)."""
    events: list[TftpEvent] = []

    async def body() -> tuple[int, str]:
        port = free_port(socket.SOCK_DGRAM, host)
        server = TftpServer(serve, host=host, port=port, on_event=events.append, write=keep)
        await server.start()
        try:
            return await run_client([a.replace("{port}", str(port)) for a in args_for], limit)
        finally:
            await server.close(grace=2.0)

    code, output = asyncio.run(body())
    return code, output, events


# tftp-hpa


@pytest.mark.parametrize("verbose", [[], ["-v"]])
def test_tftp_hpa_binary(tmp_path: Path, verbose: list[str]) -> None:
    tftp = need("tftp")
    out = tmp_path / "out"
    args = [tftp, *verbose, "-m", "binary", "127.0.0.1", "{port}"]
    code, output, events = with_server([*args, "-c", "get", "0004f2123456.xml", str(out)])
    assert code == 0, output
    assert out.read_bytes() == SMALL
    assert [e.status for e in events] == ["ok"]
    if verbose:
        assert f"Received {len(SMALL)} bytes" in output


def test_tftp_hpa_netascii_round_trips_line_ends(tmp_path: Path) -> None:
    tftp = need("tftp")
    out = tmp_path / "out"
    args = [tftp, "-m", "ascii", "127.0.0.1", "{port}", "-c", "get", "notes.txt", str(out)]
    code, output, _ = with_server(args)
    assert code == 0, output
    assert out.read_bytes() == TEXT  # the client undoes our CR LF / CR NUL


def test_tftp_hpa_not_found(tmp_path: Path) -> None:
    tftp = need("tftp")
    args = [tftp, "-m", "binary", "127.0.0.1", "{port}", "-c", "get", "nope", str(tmp_path / "o")]
    _, output, events = with_server(args)
    assert "File not found" in output
    assert [e.status for e in events] == ["not_found"]


def test_tftp_hpa_ipv6(tmp_path: Path) -> None:
    tftp = need("tftp")
    out = tmp_path / "out"
    args = [tftp, "-6", "-m", "binary", "::1", "{port}", "-c", "get", "0004f2123456.xml", str(out)]
    code, output, _ = with_server(args, host="::1")
    assert code == 0, output
    assert out.read_bytes() == SMALL


def test_tftp_hpa_large_file_wraps_block_numbers(tmp_path: Path) -> None:
    tftp = need("tftp")
    out = tmp_path / "out"
    args = [tftp, "-m", "binary", "127.0.0.1", "{port}", "-c", "get", "firmware.bin", str(out)]
    code, output, events = with_server(args, limit=120)
    assert code == 0, output
    assert out.stat().st_size == len(LARGE)
    assert out.read_bytes() == LARGE
    assert events[0].transferred == len(LARGE)


# atftp


def atftp_get(name: str, out: Path, *options: str, host: str = "127.0.0.1") -> list[str]:
    atftp = need("atftp")
    args = [atftp, "--get", "-r", name, "-l", str(out)]
    for option in options:
        args += ["--option", option]
    return [*args, host, "{port}"]


def test_atftp_options(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = atftp_get("0004f2123456.xml", out, "blksize 1428", "windowsize 8", "tsize")
    code, output, events = with_server(args)
    assert code == 0, output
    assert out.read_bytes() == SMALL
    assert dict(events[0].options) == {
        "blksize": "1428",
        "windowsize": "8",
        "tsize": str(len(SMALL)),
    }


def test_atftp_plain_and_not_found(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, output, _ = with_server(atftp_get("0004f2123456.xml", out))
    assert code == 0, output
    assert out.read_bytes() == SMALL
    code, output, events = with_server(atftp_get("missing.xml", tmp_path / "o2"))
    assert code != 0
    assert "File not found" in output
    assert [e.status for e in events] == ["not_found"]


@pytest.mark.parametrize("name", ["0004f2123456.xml", "medium.bin"])
def test_atftp_ipv6(tmp_path: Path, name: str) -> None:
    # medium.bin is large enough to be sent from the lane thread.
    out = tmp_path / "out"
    args = atftp_get(name, out, "blksize 1024", host="::1")
    code, output, events = with_server(args, host="::1")
    assert code == 0, output
    assert out.read_bytes() == FILES[name]
    assert [(e.status, e.transferred) for e in events] == [("ok", len(FILES[name]))]


def test_atftp_large_file_with_windows_wraps_block_numbers(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = atftp_get("firmware.bin", out, "blksize 512", "windowsize 16", "tsize")
    code, output, events = with_server(args, limit=120)
    assert code == 0, output
    assert out.read_bytes() == LARGE
    assert events[0].status == "ok"


# Uploads (off by default; these servers have a write callback).


def test_tftp_hpa_put(tmp_path: Path) -> None:
    tftp = need("tftp")
    source = tmp_path / "phone.log"
    source.write_bytes(LARGE[:100_000])
    args = [tftp, "-m", "binary", "127.0.0.1", "{port}", "-c", "put", str(source), "hpa.log"]
    code, output, events = with_server(args)
    assert code == 0, output
    assert UPLOADS["hpa.log"] == LARGE[:100_000]
    assert [(e.operation, e.status) for e in events] == [("write", "ok")]


def test_atftp_put_with_options(tmp_path: Path) -> None:
    atftp = need("atftp")
    source = tmp_path / "phone.log"
    source.write_bytes(SMALL * 10)
    args = [atftp, "--put", "-l", str(source), "-r", "atftp.log", "--option", "blksize 1024"]
    code, output, _ = with_server([*args, "--option", "tsize", "127.0.0.1", "{port}"])
    assert code == 0, output
    assert UPLOADS["atftp.log"] == SMALL * 10
