"""A running ``provisioner serve`` with the web UI, its accounts, and Debian's Chromium.

The browser tests drive ``/usr/bin/chromium`` (``apt-get install chromium``)
through Playwright, headless; Playwright's own browser download is never
used. Without that binary the tests fail, never skip: a UI nobody drove in
a browser is not tested.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from provisioner.accounts import Accounts
from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.fleet import load_fleet, parse_fleet
from provisioner.fleet_apply import apply_fleet
from provisioner.state import LineState
from provisioner.store import Store
from tests.api.conftest import EXAMPLES, OTHER
from tests.conftest import _reset
from tests.peers import free_port
from tests.serve_process import serving
from tests.sqlite_template import migrated_sqlite

CHROMIUM = Path("/usr/bin/chromium")
# Where the browser tests save their screenshots: docs/ui/ (shown in docs/ui.md)
# with `make screenshots`, which sets this; otherwise a temporary directory, so a
# test run never changes the work tree. The pictures are taken either way.
SCREENSHOTS_ENV = "PROVISIONER_UI_SCREENSHOTS"
VIEWPORT = {"width": 1366, "height": 768}
PASSWORD = "ui-test-password"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>&amp;'
HOSTILE_MAC = "0004f2badbad"
# Account name → (role, tenant).
ACCOUNTS = {
    "admin": ("admin", None),
    "operator": ("operator", None),
    "viewer": ("viewer", None),
    "demo-op": ("operator", "demo"),
}


@dataclass(frozen=True)
class Ui:
    """The server: its UI base URL, phone port, data directory and database URL."""

    base: str
    http: int
    data_dir: Path
    db: str

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> Iterator[Ui]:
    """The demo fleet, a second tenant, a phone with a hostile display name, and accounts."""
    data_dir = tmp_path_factory.mktemp("ui")
    db = migrated_sqlite(data_dir / "provisioner.db")
    store = Store.open(db, catalog)
    try:
        _reset(store)
        (data_dir / "other.toml").write_text(OTHER)
        edits = Edits.of(store, Actor.cli())
        for fleet in (EXAMPLES / "demo-fleet.toml", data_dir / "other.toml"):
            apply_fleet(store, edits, parse_fleet(load_fleet(fleet), catalog))
        edits.phones.add("demo", HOSTILE_MAC, "vvx410", description=HOSTILE)
        edits.lines.add(HOSTILE_MAC, LineState(0, "299", display_name=HOSTILE))
        # A cheap argon2id hash to create them quickly; the server verifies any parameters.
        accounts = Accounts(store, hasher=PasswordHasher(time_cost=1, memory_cost=64))
        for name, (role, tenant) in ACCOUNTS.items():
            accounts.create(name, role, PASSWORD, Actor.cli(), tenant=tenant)
    finally:
        store.close()
    port = free_port()
    env = {**os.environ, "PROVISIONER_DB_URL": db}
    # A short shutdown grace: a test may leave a job's NOTIFYs in flight (to phones
    # that never answer), and the default grace (10 s) would wait for them at the
    # module's end; shutting down is not what these tests are about.
    options = ("--api-port", str(port), "--poll-interval", "1", "--shutdown-grace", "0.5")
    with serving(data_dir, *options, env=env) as served:
        yield Ui(f"http://127.0.0.1:{port}", served.http, data_dir, db)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; a missing binary fails the tests."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (the UI tests need it)")
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) at 1366×768; a page error fails the test."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.on("dialog", lambda dialog: errors.append(f"dialog: {dialog.message}"))
    try:
        yield opened
    finally:
        context.close()
    assert errors == []


def log_in(page: Page, ui: Ui, name: str, password: str = PASSWORD) -> None:
    """Log in through the login form; ends on the dashboard."""
    page.goto(ui.url("/ui/login"))
    page.get_by_label("Account").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(ui.url("/ui/"))


def screenshot(page: Page, name: str) -> None:
    """Save the page at 1366×768 as NAME.png (docs/ui/ with ``make screenshots``)."""
    target = Path(os.environ.get(SCREENSHOTS_ENV) or _scratch())
    target.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target / f"{name}.png"))


def _scratch() -> str:
    """A directory of this test run's own for screenshots nobody asked to keep."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = tempfile.mkdtemp(prefix="provisioner-ui-shots-")
    return _SCRATCH


_SCRATCH: str | None = None
