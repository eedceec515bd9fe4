"""The client behind a reverse proxy: ``X-Forwarded-For`` and ``X-Forwarded-Proto``.

Behind nginx, HAProxy or a load balancer every request comes from the
proxy's address; allowlists, failure bans, "seen" records and direct SIP
NOTIFYs all need the phone's. The headers are believed only from peers in
``--trusted-proxies`` (none by default): anyone else could write them.

Each proxy appends the address it received the request from, so the list
is read from the right: the client is the first address that is not a
trusted proxy. An entry that is not an IP address stops the walk at the
last address that could be checked, so garbage never becomes the client.
Only the last :data:`MAX_HOPS` entries are looked at.

``X-Forwarded-Proto`` from a trusted proxy says whether the phone used
TLS: ``https`` makes the request count as HTTPS (basic authentication, the
HTTPS allowlist). The RFC 7239 ``Forwarded`` header is not read; nginx and
HAProxy send the ``X-`` pair with their usual configuration (docs/serving.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from provisioner.serve._model import Network, allowed, ip_address

__all__ = ["MAX_HOPS", "forwarded_client", "forwarded_secure"]

MAX_HOPS = 16


def _address(entry: str) -> str | None:
    """An entry of ``X-Forwarded-For`` as a normalised IP address, or ``None``.

    Bare addresses are the norm; ``1.2.3.4:port`` and ``[v6]:port`` (sent by
    some proxies) are accepted too.
    """
    text = entry.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    address = ip_address(text)
    return None if address is None else str(address)


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    return bool(trusted) and allowed(address, trusted)


def forwarded_client(peer: str, values: Sequence[str], trusted: tuple[Network, ...]) -> str:
    """The client's address for a request from ``peer`` with these ``X-Forwarded-For`` values.

    ``peer`` itself unless it is a trusted proxy; then the rightmost
    address in the header that is not a trusted proxy (or the leftmost
    one, if all are).
    """
    if not values or not _trusted(peer, trusted):
        return peer
    hops = [hop for value in values for hop in value.split(",")][-MAX_HOPS:]
    client = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break  # nothing left of this can be checked
        client = address
        if not _trusted(address, trusted):
            break
    return client


def forwarded_secure(peer: str, values: Sequence[str], trusted: tuple[Network, ...]) -> bool:
    """Whether a trusted proxy says the client used TLS (its last ``X-Forwarded-Proto``)."""
    if not values or not _trusted(peer, trusted):
        return False
    return values[-1].split(",")[-1].strip().lower() == "https"
