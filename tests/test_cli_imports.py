"""The command line's start: a write loads the store, not the renderer, SIP or the web stack.

Each of those costs tens of milliseconds of import on every command; the
commands that need them import them when they run (``cli._later``,
docs/performance-notes.md, "The command line's start").
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Loaded by rendering, the preview, SIP, serving, firmware files or passwords; a plain
# write on SQLite needs none.
NOT_FOR_A_WRITE = (
    "jinja2",
    "aiohttp",
    "lxml",
    "argon2",
    "provisioner.sip",
    "provisioner.notify._target",
    "provisioner.firmware._ingest",
    "provisioner.firmware._s3",
    "provisioner.firmware._library",
    "provisioner.render",
    "provisioner.preview",
    "provisioner.explain",
    "provisioner.sipxcom_csv",
    "provisioner.cli._serve",
    "provisioner.cli._inspect",
    "provisioner.cli._notify",
    "sqlalchemy.dialects.postgresql",
)

MAC = "0004f2aabbcc"

_SCRIPT = """
import json, sys
from provisioner.cli import main
for argv in sys.argv[2:]:
    if main(["--data-dir", sys.argv[1], *json.loads(argv)]) != 0:
        raise SystemExit("command failed: " + argv)
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(data_dir: Path, *commands: list[str]) -> set[str]:
    """The modules one fresh interpreter holds after running ``commands`` in turn."""
    argv = [json.dumps(c) for c in commands]
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(data_dir), *argv],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def _tenant(data_dir: Path) -> Path:
    """Tenant ``acme`` with group ``sales`` and phone MAC (init runs Alembic, which loads every
    dialect)."""
    _modules_after(
        data_dir,
        ["init"],
        ["tenant", "add", "acme", "--sip-domain", "pbx.example.com"],
        ["group", "add", "acme/sales"],
        ["phone", "add", MAC, "--tenant", "acme", "--model", "polycom335", "--group", "sales"],
    )
    return data_dir


def test_a_set_loads_none_of_the_renderer_sip_or_the_web_stack(tmp_path: Path) -> None:
    data_dir = _tenant(tmp_path / "data")
    for scope in ("tenant:acme", "group:acme/sales", f"phone:{MAC}"):
        modules = _modules_after(data_dir, ["set", scope, "language", "fr"])
        assert "provisioner.store" in modules  # the check sees what was imported
        assert sorted(m for m in NOT_FOR_A_WRITE if m in modules) == [], scope


def test_a_dry_run_loads_the_renderer_when_it_runs(tmp_path: Path) -> None:
    data_dir = _tenant(tmp_path / "data")
    modules = _modules_after(data_dir, ["set", "tenant:acme", "language", "fr", "--dry-run"])
    assert {"provisioner.preview", "provisioner.render", "jinja2"} <= modules
