"""A cluster for tests: three ``provisioner serve`` nodes on one PostgreSQL database, behind nginx.

Each test gets a fresh PostgreSQL database (created next to
``PROVISIONER_TEST_PG_URL``, dropped afterwards), a data directory per node
(what a node keeps locally: TLS files, firmware mirror, logs) and one nginx
balancing plain HTTP round-robin over the nodes, passing the client's
address on (the nodes trust 127.0.0.1 as a proxy). A test builds its cluster
with the :func:`cluster` fixture, giving the fleet and extra ``serve``
options, and reaches a node directly (``cluster.nodes[i].http``) or through
nginx (``cluster.nginx``). The CLI runs against the same database
(:meth:`Cluster.cli`), as an admin's would on any machine.

Without ``PROVISIONER_TEST_PG_URL`` the tests skip, or fail where peers are
required (``PROVISIONER_REQUIRE_PEERS=1``): a cluster without PostgreSQL is
not the thing under test.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.nginx import nginx
from tests.peers import fetch_with_curl, free_port, need
from tests.pg import fresh_database
from tests.serve_process import Serving, run_cli, run_cli_in_process, serving

__all__ = ["Cluster", "ClusterFactory", "Node"]

NODES = 3


@dataclass
class Node:
    """One ``serve`` process of the cluster."""

    data_dir: Path
    running: Serving
    api: int = 0  # its admin API's port, when the cluster was built with ``api=True``
    stopped: bool = False

    @property
    def http(self) -> int:
        """Its own HTTP port (nginx is in front of all of them)."""
        return self.running.http

    def sip_port(self) -> int:
        """The port its NOTIFYs are sent from (the system chose it; the log names it)."""
        found = re.search(r"event=listening protocol=sip address=\S+ port=(\d+)", self.log())
        assert found is not None, self.log()
        return int(found.group(1))

    def log(self) -> str:
        """What the node logged so far."""
        return self.running.log.read_text(errors="replace")

    def kill(self) -> None:
        """``kill -9``: no drain, no flush, leases left to run out."""
        self.running.process.send_signal(signal.SIGKILL)
        self.running.process.wait(10)
        self.stopped = True


@dataclass
class Cluster:
    """Three nodes, one database, nginx in front."""

    root: Path
    url: str  # the database, for the CLI and for reading it in tests
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. the firmware store
    nodes: list[Node] = field(default_factory=list)
    nginx: int = 0

    @property
    def env(self) -> dict[str, str]:
        """The environment of every node and CLI command: the cluster's database, and more."""
        return {**os.environ, **self.extra_env, "PROVISIONER_DB_URL": self.url}

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run one ``provisioner`` command against the cluster's database."""
        return run_cli(self.root / "cli", *args, env=self.env, check=check)

    def get(self, port: int, path: str, *args: str, source: str = "127.0.0.1") -> tuple[int, bytes]:
        """curl ``http://127.0.0.1:port/path`` from ``source`` (127.0.0.x): status and body."""
        url = f"http://127.0.0.1:{port}/{path}"
        return fetch_with_curl("--interface", source, *args, url)

    def logs(self) -> str:
        """Every node's log, for a failure message."""
        return "\n".join(f"--- node {n} ---\n{node.log()}" for n, node in enumerate(self.nodes))


ClusterFactory = Callable[..., Cluster]


def _upstream(ports: list[int]) -> tuple[str, str]:
    """nginx's ``http`` and ``server`` blocks: round-robin over the nodes, X-Forwarded pair set.

    Each answer names the node that gave it (``X-Upstream: 127.0.0.1:<port>``).
    """
    # max_fails=0: nginx never takes a node out (one killed by a test is tried,
    # refused and passed over on each request), so every request reaches a live node.
    servers = "".join(f"        server 127.0.0.1:{port} max_fails=0;\n" for port in ports)
    http = f"    upstream provisioner {{\n{servers}    }}\n"
    server = """        location / {
            proxy_pass http://provisioner;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            add_header X-Upstream $upstream_addr always;
        }"""
    return http, server


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterFactory]:
    """Builds the test's cluster: ``cluster(fleet, *serve_options)``; torn down after the test.

    The fleet is applied once through the CLI before the nodes start; every
    node gets ``--trusted-proxies 127.0.0.1/32`` (nginx) and the options given.
    ``env`` is added to the environment of the nodes and of :meth:`Cluster.cli`;
    with ``api``, every node serves the admin API on a port of its own
    (:attr:`Node.api`).
    """
    with ExitStack() as stack:

        def build(
            fleet: dict[str, Any],
            *options: str,
            env: dict[str, str] | None = None,
            api: bool = False,
        ) -> Cluster:
            url = stack.enter_context(fresh_database("cluster"))
            built = Cluster(tmp_path, url, dict(env or {}))
            fleet_file = tmp_path / "fleet.json"
            fleet_file.write_text(json.dumps(fleet))
            # Set-up, in this process (no interpreter start-up each): the tests'
            # own commands go through Cluster.cli, a process with the cluster's environment.
            run_cli_in_process(built.root / "cli", "--db", url, "init")
            run_cli_in_process(built.root / "cli", "--db", url, "apply", str(fleet_file))
            for n in range(NODES):
                data = tmp_path / f"node{n}"
                api_port = free_port() if api else 0
                own = ("--api-port", str(api_port)) if api else ()
                running = stack.enter_context(
                    serving(data, "--trusted-proxies", "127.0.0.1/32", *options, *own,
                            env=built.env)
                )  # fmt: skip
                built.nodes.append(Node(data, running, api_port))
            http, server = _upstream([node.http for node in built.nodes])
            proxy = nginx(need("nginx"), tmp_path / "nginx", server, http)
            built.nginx = stack.enter_context(proxy)
            return built

        yield build
