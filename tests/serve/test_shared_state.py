"""Two gateways on one store, as two nodes of a cluster: what one accepts, the other knows.

The cluster tests (tests/cluster/) do the same with three ``serve`` processes
on PostgreSQL behind nginx; these run without sockets, on SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve import Fetch, Gateway, Protocol, ServeConfig, Status
from provisioner.serve._build import build_gateway
from provisioner.serve._nonce_claims import NonceClaims
from tests.serve.harness import PASSWORD, POLYCOM, YEALINK, Harness, harness
from tests.serve.test_digest import answer


@pytest.fixture
def nodes(tmp_path: Path, catalog: Catalog) -> Iterator[tuple[Harness, Gateway]]:
    """The harness's gateway (node 1) and a second one over the same store (node 2)."""
    with harness(tmp_path, catalog) as h:
        config = ServeConfig(data_dir=tmp_path / "node2", default_tenant="acme")
        other = build_gateway(config, h.store, h.cache, h.metrics, h.db, clock=lambda: h.clock[0])
        yield h, other


def _get(h: Harness, gateway: Gateway, path: str, authorization: str) -> Status:
    req = Fetch(Protocol.HTTP, path, "192.0.2.7", uri="/" + path, authorization=authorization)
    return h.run(gateway.fetch(req)).status  # type: ignore[no-any-return]


def test_a_digest_answer_used_on_one_node_is_refused_on_another(
    nodes: tuple[Harness, Gateway],
) -> None:
    h, node2 = nodes
    path = f"{YEALINK}.cfg"
    nonce = h.gateway.digest.nonce("provisioner", h.clock[0])
    first = answer(nonce, password=PASSWORD, uri="/" + path, user=YEALINK)
    assert _get(h, h.gateway, path, first) is Status.OK
    assert _get(h, node2, path, first) is Status.NOT_FOUND  # the uniform failure
    assert h.metrics.digest_replays == 1
    # The same nonce with the next count is a new answer, on either node.
    second = answer(nonce, password=PASSWORD, uri="/" + path, user=YEALINK, nc="00000002")
    assert _get(h, node2, path, second) is Status.OK
    assert _get(h, h.gateway, path, second) is Status.NOT_FOUND
    assert h.metrics.digest_replays == 2


def test_an_upload_taken_by_one_node_is_served_by_another(
    nodes: tuple[Harness, Gateway],
) -> None:
    h, node2 = nodes
    Edits.of(h.store).settings.set(parse_scope(f"phone:{POLYCOM}"), "uploads.unauthenticated", True)
    h.run(h.cache.refresh())
    name = f"{POLYCOM}-phone.cfg"
    req = Fetch(Protocol.HTTP, name, "127.0.0.1", method="PUT", uri="/" + name)
    reply, ticket = h.run(h.gateway.authorize_upload(req))
    assert ticket is not None, reply
    assert h.run(h.gateway.store_upload(req, ticket, b"<overrides/>")).status is Status.OK
    back = h.run(node2.fetch(Fetch(Protocol.HTTP, name, "127.0.0.1", uri="/" + name)))
    assert back.status is Status.OK
    assert back.file.data == b"<overrides/>"


class _Unreachable:
    """A claim store whose database is down."""

    at_once = False  # as on PostgreSQL: every claim goes to a thread

    def claim_at_once(self, counts: Sequence[tuple[str, int, float]]) -> None:
        return None

    def claim(self, counts: Sequence[tuple[str, int, float]]) -> set[tuple[str, int]]:
        raise OSError("connection refused")


def test_without_the_database_a_node_refuses_replays_from_its_own_memory(
    nodes: tuple[Harness, Gateway],
) -> None:
    h, _ = nodes
    h.gateway.nonces = NonceClaims(_Unreachable())
    path = f"{YEALINK}.cfg"
    nonce = h.gateway.digest.nonce("provisioner", h.clock[0])
    first = answer(nonce, password=PASSWORD, uri="/" + path, user=YEALINK)
    assert _get(h, h.gateway, path, first) is Status.OK  # phones keep working
    assert _get(h, h.gateway, path, first) is Status.NOT_FOUND
    assert h.metrics.digest_replays == 0  # refused by memory, never claimed
