"""Firmware in S3 mode across the cluster: uploaded through one node, served by all three.

Three ``serve`` nodes on one PostgreSQL database behind nginx (conftest.py),
their firmware in one bucket of moto's S3-compatible server (tests/moto.py).
A set is uploaded and activated through node 1's admin API; each node
mirrors it from the bucket (docs/firmware.md) and serves its own copy, so
every node, directly and through nginx, must answer with the uploaded bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.cluster.conftest import Cluster, ClusterFactory
from tests.moto import KEYS, objects, polycom_zip, s3_env
from tests.peers import fetch_with_curl
from tests.waiting import eventually

FLEET = {"tenants": [{"name": "acme", "sip_domain": "acme.example.com"}]}
PREFIX = "firmware"
SERVED = "fw/polycom/r1"  # where the set is served (served_path of vendor and label)
MIRROR_POLL = ("--poll-interval", "0.5")  # how often a node looks for sets to mirror


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def api(c: Cluster, key: str, path: str, *args: str) -> tuple[int, bytes]:
    """A request to node 1's admin API with ``key``: status and body."""
    url = f"http://127.0.0.1:{c.nodes[0].api}/api/v1/{path}"
    return fetch_with_curl("-H", f"X-API-Key: {key}", *args, url)


def upstream(headers: Path) -> str:
    """The node nginx passed the request to (``X-Upstream``, conftest.py)."""
    for line in headers.read_text().splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "x-upstream":
            return value.strip()
    raise AssertionError(f"no X-Upstream header in {headers.read_text()!r}")


def test_a_set_uploaded_through_one_node_is_served_by_all(
    cluster: ClusterFactory, s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    c = cluster(FLEET, *MIRROR_POLL, env=s3_env(s3_endpoint, s3_bucket, PREFIX), api=True)
    key = c.cli("apikey", "create", "--name", "fw", "--role", "admin").stdout.split()[-1]
    upload, files = polycom_zip(tmp_path / "ucs.zip")
    status, body = api(
        c, key, "firmware", "-F", "vendor=polycom", "-F", "label=r1", "-F", f"file=@{upload}"
    )
    assert status == 201, body
    assert {f["path"]: f["sha256"] for f in json.loads(body)["files"]} == {
        name: sha256(data) for name, data in files.items()
    }
    # In the bucket, as uploaded: what the other nodes mirror from.
    stored = {
        name.split("/", 2)[2]: digest for name, digest in objects(s3_endpoint, s3_bucket).items()
    }
    assert stored == {name: sha256(data) for name, data in files.items()}
    status, body = api(c, key, "firmware/polycom/r1/activate", "-X", "POST")
    assert status == 200, body

    for n, node in enumerate(c.nodes):

        def mirrored(port: int = node.http) -> bool:
            return c.get(port, f"{SERVED}/sip.ld")[0] == 200

        def failure(n: int = n) -> str:
            return f"node {n + 1} serves the set\n{c.logs()}"

        eventually(mirrored, failure, 30)
        for name, data in files.items():
            got = c.get(node.http, f"{SERVED}/{name}")
            assert (got[0], sha256(got[1])) == (200, sha256(data)), (n, name)

    # Through nginx, round-robin: each node answers in turn, every answer byte-exact.
    answered_by = set()
    headers = tmp_path / "headers"
    for _ in range(2 * len(c.nodes)):
        status, data = c.get(c.nginx, f"{SERVED}/sip.ld", "-D", str(headers))
        assert (status, sha256(data)) == (200, sha256(files["sip.ld"]))
        answered_by.add(upstream(headers))
    assert answered_by == {f"127.0.0.1:{node.http}" for node in c.nodes}
    assert KEYS["AWS_SECRET_ACCESS_KEY"] not in c.logs()
