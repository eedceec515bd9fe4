"""Who the client is behind a reverse proxy (``X-Forwarded-For``, ``X-Forwarded-Proto``)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.serve._forwarded import MAX_HOPS, _address, forwarded_client, forwarded_secure
from provisioner.settings import parse_networks

PROXIES = tuple(parse_networks("10.0.0.0/8,2001:db8::/32"))

CLIENT_CASES = [
    # peer, X-Forwarded-For values, expected client
    ("192.0.2.7", ["203.0.113.9"], "192.0.2.7"),  # not a proxy: its header is ignored
    ("10.0.0.1", [], "10.0.0.1"),  # a proxy without the header is the client
    ("10.0.0.1", ["203.0.113.9"], "203.0.113.9"),
    ("10.0.0.1", ["203.0.113.9, 10.0.0.2"], "203.0.113.9"),  # two proxies in a row
    ("10.0.0.1", ["203.0.113.9", "10.0.0.2"], "203.0.113.9"),  # the header given twice
    ("10.0.0.1", ["198.51.100.1, 203.0.113.9"], "203.0.113.9"),  # the left part is the client's
    ("10.0.0.1", ["10.0.0.3, 10.0.0.2"], "10.0.0.3"),  # all proxies: the leftmost
    ("10.0.0.1", ["garbage"], "10.0.0.1"),
    ("10.0.0.1", ["203.0.113.9, garbage, 10.0.0.2"], "10.0.0.2"),  # garbage stops the walk
    ("10.0.0.1", [""], "10.0.0.1"),
    ("10.0.0.1", ["203.0.113.9:5060"], "203.0.113.9"),  # with a port
    ("10.0.0.1", ["[2001:db9::5]:8080"], "2001:db9::5"),
    ("10.0.0.1", ["2001:DB9::5"], "2001:db9::5"),  # normalised
    ("10.0.0.1", ["::ffff:203.0.113.9"], "203.0.113.9"),  # v4-mapped, as IPv4
    ("2001:db8::1", ["203.0.113.9"], "203.0.113.9"),  # an IPv6 proxy
    ("::ffff:10.0.0.1", ["203.0.113.9"], "203.0.113.9"),  # a proxy seen on a dual-stack socket
    ("10.0.0.1", ["203.0.113.9, 2001:db8::7"], "203.0.113.9"),
    ("10.0.0.1", ["203.0.113.9%eth0"], "10.0.0.1"),  # not an address
]


@pytest.mark.parametrize(("peer", "values", "expected"), CLIENT_CASES)
def test_forwarded_client(peer: str, values: list[str], expected: str) -> None:
    assert forwarded_client(peer, values, PROXIES) == expected


def test_nobody_is_trusted_by_default() -> None:
    assert forwarded_client("10.0.0.1", ["203.0.113.9"], ()) == "10.0.0.1"
    assert forwarded_secure("10.0.0.1", ["https"], ()) is False


def test_only_the_last_hops_are_read() -> None:
    chain = ["198.51.100.1"] + ["10.0.0.9"] * MAX_HOPS
    assert forwarded_client("10.0.0.1", [", ".join(chain)], PROXIES) == "10.0.0.9"


@pytest.mark.parametrize(
    ("peer", "values", "expected"),
    [
        ("10.0.0.1", ["https"], True),
        ("10.0.0.1", ["HTTPS "], True),
        ("10.0.0.1", ["http"], False),
        ("10.0.0.1", ["http", "https"], True),  # the nearest proxy's word counts
        ("10.0.0.1", ["https, http"], False),
        ("10.0.0.1", [], False),
        ("192.0.2.7", ["https"], False),  # not a proxy
    ],
)
def test_forwarded_secure(peer: str, values: list[str], expected: bool) -> None:
    assert forwarded_secure(peer, values, PROXIES) is expected


ipv4 = st.ip_addresses(v=4).map(str)


@given(peer=ipv4, hops=st.lists(ipv4 | st.text(max_size=12), max_size=20))
def test_the_client_is_the_peer_or_a_hop(peer: str, hops: list[str]) -> None:
    client = forwarded_client(peer, [", ".join(hops)], PROXIES)
    ipaddress.ip_address(client)  # always an address, never garbage
    assert client == peer or client in {_address(hop) for hop in hops}


@given(
    spoofed=st.lists(ipv4, max_size=5),
    client=ipv4.filter(lambda a: not a.startswith("10.")),
    proxies=st.lists(st.ip_addresses(network="10.0.0.0/8").map(str), max_size=4),
)
def test_what_the_client_writes_is_never_believed(
    spoofed: list[str], client: str, proxies: list[str]
) -> None:
    # The client sends its own X-Forwarded-For; every trusted proxy appends its peer.
    chain = [*spoofed, client, *proxies[:-1]]
    peer = proxies[-1] if proxies else client
    assert forwarded_client(peer, [", ".join(chain)], PROXIES) == client
