"""A change is swapped in whole: phones fetching meanwhile get all-old or all-new files.

``provisioner serve`` runs over a tenant of a few thousand phones; one
connection fetches two phones of a large group in turn and another an
unchanged phone, without pause, while the CLI changes a setting of that
group. Every answer must be a complete file, the unchanged phone's always the
same bytes, and the group's phones old until the tenant's new state is
installed and new from then on: once either of them has been served its new
file, the other is never served its old one again (no half-installed state).
No timing is asserted.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable
from pathlib import Path

from tests.serve_process import run_cli_in_process, serving
from tests.waiting import eventually

PHONES = 3000
TENANT = "swap"


def _fleet(path: Path) -> tuple[str, str, str]:
    """A fleet file: most phones in group ``big``; two of them and one outside, by MAC."""
    phones = []
    for i in range(PHONES):
        phones.append(
            {
                "tenant": TENANT,
                "mac": f"805ec0{i:06x}",
                "model": "t46s",
                "groups": ["big"] if i % 10 else [],
                "lines": [{"user": f"{1000 + i}", "password": f"pw-{i}-secret"}],
            }
        )
    fleet = {
        "version": 1,
        "tenants": [{"name": TENANT, "sip_domain": "pbx.swap.example", "platform": "generic"}],
        "groups": [{"tenant": TENANT, "name": "big", "settings": {"language": "de"}}],
        "phones": phones,
    }
    path.write_text(json.dumps(fleet))
    return "805ec0000001", "805ec0000002", "805ec0000000"


class Fetching(threading.Thread):
    """Fetches ``paths`` in turn on one keep-alive connection until stopped; every answer kept."""

    def __init__(self, port: int, paths: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.paths = port, paths
        self.answers: list[tuple[str, int, bytes]] = []
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            while not self.stop.is_set():
                for path in self.paths:
                    conn.request("GET", path)
                    response = conn.getresponse()
                    self.answers.append((path, response.status, response.read()))
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc
        finally:
            conn.close()


def _get(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status)
        return body
    finally:
        conn.close()


def _changed(port: int, path: str, old: bytes) -> Callable[[], bytes | None]:
    """A check for :func:`eventually`: the file at ``path`` once it is no longer ``old``."""

    def check() -> bytes | None:
        body = _get(port, path)
        return body if body != old else None

    return check


def test_a_group_change_is_served_all_old_or_all_new(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first, second, unchanged = _fleet(tmp_path / "fleet.json")
    run_cli_in_process(data, "init")
    run_cli_in_process(data, "apply", str(tmp_path / "fleet.json"))
    paths = {mac: f"/{mac}.cfg" for mac in (first, second, unchanged)}
    with serving(data, "--log-level", "warning") as server:
        old = {mac: _get(server.http, path) for mac, path in paths.items()}
        group = Fetching(server.http, [paths[first], paths[second]])
        steady = Fetching(server.http, [paths[unchanged]])
        group.start()
        steady.start()
        eventually(lambda: len(group.answers) > 10 and steady.answers, "fetches before the change")
        run_cli_in_process(data, "set", f"group:{TENANT}/big", "language", "fr")
        new = {
            mac: eventually(_changed(server.http, paths[mac], old[mac]), f"{mac}'s new file")
            for mac in (first, second)
        }
        seen = len(group.answers)
        eventually(lambda: len(group.answers) > seen + 10, "fetches after the change")
        group.stop.set()
        steady.stop.set()
        group.join(60)
        steady.join(60)
    assert group.error is None, group.error
    assert steady.error is None, steady.error
    assert all(b"lang.gui = French" in body for body in new.values())
    assert all(status == 200 and body == old[unchanged] for _, status, body in steady.answers), (
        "the unchanged phone was answered something else"
    )
    by_path = {path: mac for mac, path in paths.items()}
    states = []
    for path, status, body in group.answers:
        mac = by_path[path]
        assert status == 200, (path, status)
        assert body in (old[mac], new[mac]), f"{path}: neither its old nor its new file"
        states.append(body == new[mac])
    assert not states[0], "the first fetches came before the change"
    assert states[-1], "the last fetches came after it"
    turned = states.index(True)
    assert all(states[turned:]), "an old file was served after a new one: a half-installed state"
