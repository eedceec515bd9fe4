"""What one node of a cluster learns, every node knows: bans, digest answers, uploads.

Three ``serve`` nodes on one PostgreSQL database behind nginx (conftest.py).
The poll interval is set far beyond the waits here, so a ban can only reach
the other nodes in time through PostgreSQL ``LISTEN/NOTIFY``; digest answers
and uploads are read from the database on each request.
"""

from __future__ import annotations

import re

from tests.cluster.conftest import ClusterFactory
from tests.serve.test_digest import answer
from tests.waiting import eventually

YEALINK = "805ec0000201"
POLYCOM = "0004f2000202"
PASSWORD = "cluster-pass-1234"
SHARED = "y000000000066.cfg"  # the Yealink T46S's shared file: anyone gets it
FLEET = {
    "tenants": [{"name": "acme", "sip_domain": "acme.example.com"}],
    "phones": [
        {
            "tenant": "acme",
            "mac": YEALINK,
            "model": "t46s",
            "settings": {"access.http.password": PASSWORD},
        },
        {
            "tenant": "acme",
            "mac": POLYCOM,
            "model": "vvx410",
            "settings": {"uploads.unauthenticated": True},
        },
    ],
}
SLOW_POLL = ("--poll-interval", "60")
# A banned address's new connections are closed unanswered (curl: no status);
# behind nginx the node sees nginx's address at accept, and the banned
# client's request gets the uniform not-found.
CLOSED, NOT_FOUND = 0, 404


def test_a_ban_made_on_one_node_holds_on_the_others(cluster: ClusterFactory) -> None:
    c = cluster(FLEET, *SLOW_POLL, "--ban-limit", "3")
    first, *others = c.nodes
    attacker = "127.0.0.2"
    for node in c.nodes:
        assert c.get(node.http, SHARED, source=attacker)[0] == 200
    for n in range(3):  # three unknown MACs on node 1: banned there
        # Challenged as a protected phone would be (the tenant uses digest): counted.
        assert c.get(first.http, f"0004f29999{n:02x}.cfg", source=attacker)[0] == 401
    assert c.get(first.http, SHARED, source=attacker)[0] == CLOSED

    def refused_everywhere() -> bool:
        return all(c.get(node.http, SHARED, source=attacker)[0] == CLOSED for node in others)

    # Well before the 60 s poll: pushed by NOTIFY.
    eventually(refused_everywhere, lambda: f"the ban holds on nodes 2 and 3\n{c.logs()}", 10)
    for _ in range(2 * len(c.nodes)):  # through nginx, round-robin over all three
        assert c.get(c.nginx, SHARED, source=attacker)[0] == NOT_FOUND
    assert c.get(c.nginx, SHARED, source="127.0.0.3")[0] == 200  # nobody else is banned
    # Lifted with the CLI (on no node at all): served again everywhere.
    c.cli("ban", "rm", attacker)

    def served_everywhere() -> bool:
        return all(c.get(node.http, SHARED, source=attacker)[0] == 200 for node in c.nodes)

    eventually(served_everywhere, lambda: f"the ban is lifted everywhere\n{c.logs()}", 10)


def _nonce(headers: bytes) -> str:
    """The nonce of the first challenge in a response's headers."""
    found = re.search(r'nonce="([^"]+)"', headers.decode())
    assert found is not None, headers
    return found.group(1)


def test_a_digest_answer_used_on_one_node_is_refused_on_another(cluster: ClusterFactory) -> None:
    c = cluster(FLEET, *SLOW_POLL)
    first, second, third = c.nodes
    path = f"{YEALINK}.cfg"
    status, headers = c.get(first.http, path, "-D", "-")  # headers, then the body
    assert status == 401
    nonce = _nonce(headers)
    header = answer(nonce, password=PASSWORD, uri="/" + path, user=YEALINK)
    auth = ("-H", f"Authorization: {header}")
    assert c.get(first.http, path, *auth)[0] == 200
    # Replayed on the other nodes, directly and through nginx: refused.
    assert c.get(second.http, path, *auth)[0] == 404
    assert c.get(third.http, path, *auth)[0] == 404
    for _ in range(len(c.nodes)):
        assert c.get(c.nginx, path, *auth)[0] == 404
    # The same nonce with the next count is a new answer: accepted once, on any node.
    header = answer(nonce, password=PASSWORD, uri="/" + path, user=YEALINK, nc="00000002")
    auth = ("-H", f"Authorization: {header}")
    assert c.get(c.nginx, path, *auth)[0] == 200
    for node in c.nodes:
        assert c.get(node.http, path, *auth)[0] == 404


def test_an_upload_taken_by_one_node_is_served_by_the_others(cluster: ClusterFactory) -> None:
    c = cluster(FLEET, *SLOW_POLL)
    first, *others = c.nodes
    name = f"{POLYCOM}-phone.cfg"
    overrides = c.root / "phone.cfg"
    body = b'<PHONE_CONFIG><X up.backlight.idleIntensity="1"/></PHONE_CONFIG>\n'
    overrides.write_bytes(body)
    for node in c.nodes:
        assert c.get(node.http, name)[0] == 404  # nothing uploaded yet
    assert c.get(first.http, name, "-T", str(overrides))[0] == 201
    for node in others:
        assert c.get(node.http, name) == (200, body)
    for _ in range(len(c.nodes)):
        assert c.get(c.nginx, name) == (200, body)
    # The catalog's limit holds on every node: one byte over -phone.cfg's 256 KiB.
    too_big = c.root / "big.cfg"
    too_big.write_bytes(b"x" * 262_145)
    for node in c.nodes:
        assert c.get(node.http, name, "-T", str(too_big))[0] == 413
    assert c.get(c.nginx, name) == (200, body)
