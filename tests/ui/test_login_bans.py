"""Wrong UI passwords count towards the address's ban, the one API keys and phones share."""

from __future__ import annotations

import http.client
import os
import re
from pathlib import Path
from urllib.parse import urlencode

from argon2 import PasswordHasher

from provisioner.accounts import Accounts
from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.store import Store
from tests.conftest import _reset
from tests.peers import free_port
from tests.serve_process import serving

LIMIT = 3


def _login(port: int, password: str) -> tuple[int, str]:
    """A fresh browser's login: the form, then its POST; the answer's status and body
    (0: the connection was closed unanswered, as a banned address's is at accept)."""
    try:
        return _try_login(port, password)
    except (ConnectionError, http.client.RemoteDisconnected):
        return 0, ""


def _try_login(port: int, password: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/ui/login")
        form = conn.getresponse()
        page = form.read().decode()
        if form.status != 200:
            return form.status, page
        cookie = (form.headers.get("Set-Cookie") or "").split(";", 1)[0]
        token = re.search(r'name="csrf" value="([^"]+)"', page)
        assert token is not None
        body = urlencode({"csrf": token.group(1), "name": "admin", "password": password})
        headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/ui/login", body, headers)
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_wrong_ui_passwords_ban_the_address_for_the_ui_and_the_api(
    tmp_path: Path, catalog: Catalog
) -> None:
    db = f"sqlite:///{tmp_path / 'provisioner.db'}"
    store = Store.open(db, catalog)
    try:
        _reset(store)
        accounts = Accounts(store, hasher=PasswordHasher(time_cost=1, memory_cost=64))
        accounts.create("admin", "admin", "the right password", Actor.cli())
    finally:
        store.close()
    port = free_port()
    env = {**os.environ, "PROVISIONER_DB_URL": db}
    options = ("--api-port", str(port), "--ban-limit", str(LIMIT))
    with serving(tmp_path, *options, env=env) as served:
        assert _login(port, "the right password")[0] == 303
        for _ in range(LIMIT):
            status, page = _login(port, "a wrong password")
            assert status == 401, page
            assert "wrong name or password" in page
        # Banned: the right password gets nothing, and neither does the API.
        assert _login(port, "the right password")[0] in (0, 429)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("GET", "/api/v1/phones", headers={"X-API-Key": "x"})
            status = conn.getresponse().status
        except (ConnectionError, http.client.RemoteDisconnected):
            status = 0
        finally:
            conn.close()
        assert status in (0, 429)
        log = served.log.read_text()
    assert log.count("event=ui_login_failed client=127.0.0.1") == LIMIT
    assert "event=ban client=127.0.0.1" in log
    assert "the right password" not in log
    assert "a wrong password" not in log
