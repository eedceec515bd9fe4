"""provisioner.udp: the UDP helpers the TFTP server and the SIP notifier share."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from provisioner.udp import bind_udp, local_address_towards, open_udp, send_datagram


def test_open_udp_is_non_blocking_and_bound() -> None:
    with open_udp(socket.AF_INET, ("127.0.0.1", 0)) as sock:
        assert not sock.getblocking()
        assert sock.getsockname()[0] == "127.0.0.1"
        assert sock.getsockname()[1] > 0


def test_an_ipv6_socket_serves_ipv4_too() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    with open_udp(socket.AF_INET6, ("::", 0, 0, 0)) as sock:
        assert sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"ping", ("127.0.0.1", sock.getsockname()[1]))
            sock.setblocking(True)
            sock.settimeout(5)
            data, peer = sock.recvfrom(16)
    assert (data, peer[0]) == (b"ping", "::ffff:127.0.0.1")


def test_a_failed_bind_leaves_no_socket_open() -> None:
    taken = open_udp(socket.AF_INET, ("127.0.0.1", 0))
    with taken, pytest.raises(OSError, match="in use"):
        open_udp(socket.AF_INET, taken.getsockname())


def test_buffers_are_asked_for() -> None:
    small = open_udp(socket.AF_INET, ("127.0.0.1", 0), {socket.SO_RCVBUF: 4096})
    big = open_udp(socket.AF_INET, ("127.0.0.1", 0), {socket.SO_RCVBUF: 1 << 20})
    with small, big:
        sizes = [s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) for s in (small, big)]
    assert sizes[0] < sizes[1]


def test_bind_udp_resolves_and_returns_the_address() -> None:
    async def run() -> tuple[str, int]:
        sock, sockaddr = await bind_udp("localhost", 0)
        with sock:
            assert sock.family == socket.AF_INET or sock.family == socket.AF_INET6
            return sockaddr[0], sock.getsockname()[1]

    host, port = asyncio.run(run())
    assert host in ("127.0.0.1", "::1")
    assert port > 0


def test_send_datagram_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("tests.udp")
    with open_udp(socket.AF_INET, ("127.0.0.1", 0)) as sock:
        with caplog.at_level(logging.DEBUG, logger="tests.udp"):
            # Broadcast without SO_BROADCAST: the kernel refuses the send (EACCES).
            send_datagram(sock, b"x", ("255.255.255.255", 9), log)
        assert "send to ('255.255.255.255', 9) failed" in caplog.text
        with open_udp(socket.AF_INET, ("127.0.0.1", 0)) as peer:
            send_datagram(sock, b"hello", peer.getsockname(), log)
            peer.setblocking(True)
            peer.settimeout(5)
            assert peer.recv(16) == b"hello"


def test_local_address_towards_is_the_route_s_source() -> None:
    assert local_address_towards("127.0.0.1") == "127.0.0.1"
    if socket.has_ipv6:
        assert local_address_towards("::1") == "::1"
