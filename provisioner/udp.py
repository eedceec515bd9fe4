"""UDP sockets as the TFTP server and the SIP notifier use them.

Non-blocking, dual-stack where the address is IPv6, and closed again when
any step of opening fails; a send that cannot go out is dropped like the
network could drop it (the protocols' own timers resend, RFC 1350 §2 for
TFTP, RFC 3261 §17.1.2.2 Timer E for SIP).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Mapping
from typing import Any

__all__ = ["bind_udp", "local_address_towards", "open_udp", "send_datagram"]

Address = tuple[Any, ...]


def open_udp(
    family: int, sockaddr: Address, buffers: Mapping[int, int] | None = None
) -> socket.socket:
    """A non-blocking UDP socket bound to ``sockaddr``.

    ``buffers`` maps ``SO_RCVBUF`` / ``SO_SNDBUF`` to sizes asked for; the
    kernel may cap them (``net.core.rmem_max``) or refuse, which is not an
    error. An IPv6 socket also serves IPv4 (as v4-mapped addresses), whatever
    the distribution's ``net.ipv6.bindv6only`` default is.
    """
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        for option, size in (buffers or {}).items():
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, option, size)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
    except BaseException:
        sock.close()
        raise
    return sock


async def bind_udp(
    host: str, port: int, buffers: Mapping[int, int] | None = None
) -> tuple[socket.socket, Address]:
    """Resolve ``host`` for listening and open a socket there (:func:`open_udp`).

    Returns the socket and the resolved address it was bound to.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
    family, _, _, _, sockaddr = infos[0]
    return open_udp(family, sockaddr, buffers), sockaddr


def send_datagram(sock: socket.socket, data: bytes, peer: Address, log: logging.Logger) -> None:
    """Send one datagram; a full buffer drops it, other failures are logged at debug."""
    try:
        sock.sendto(data, peer)
    except (BlockingIOError, InterruptedError):
        pass  # dropped like the network could drop it; the protocol's timers resend
    except OSError as exc:
        log.debug("send to %s failed: %s", peer[:2], exc)


def local_address_towards(ip: str, port: int = 9) -> str:
    """This host's address on the route to ``ip``: the kernel's choice, no packet sent.

    A UDP ``connect`` only picks the route and the source address. Raises
    ``OSError`` when there is no route.
    """
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((ip, port))
        return str(probe.getsockname()[0])
