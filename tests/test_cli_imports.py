"""The command line's start: a write loads the store, not the renderer, SIP or the web stack.

Each of those costs tens of milliseconds of import on every command; the
commands that need them import them when they run (``cli._later``,
docs/performance-notes.md, "The command line's start").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from provisioner.cli import _command_word, build_parser

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
    "provisioner.serve",
    "provisioner.cli._serve",
    "provisioner.cli._serve_options",
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


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's sub-command parsers by name (none for a parser without sub-commands)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def _helps(parser: argparse.ArgumentParser, path: str = "") -> dict[str, str]:
    """The help text of ``parser`` and of every sub-command below it, by command path."""
    helps = {path: parser.format_help()}
    for name, sub in _subparsers(parser).items():
        helps.update(_helps(sub, f"{path} {name}".strip()))
    return helps


def test_one_commands_parser_is_the_full_parsers() -> None:
    full = _helps(build_parser())
    names = _subparsers(build_parser())
    assert "set" in names
    for name in names:
        alone = {path: text for path, text in _helps(build_parser(only=name)).items() if path}
        mine = {path: text for path, text in full.items() if path.split(" ")[0] == name}
        # A module that defines two commands (import-csv, export-csv) adds both.
        assert mine.items() <= alone.items(), name
        assert all(full.get(path) == text for path, text in alone.items()), name
        assert len(_subparsers(build_parser(only=name))) <= 2, name


def test_a_name_that_is_no_command_gets_the_full_parser() -> None:
    assert _helps(build_parser(only="nonesuch")) == _helps(build_parser())


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["set", "tenant:a", "language", "fr"], "set"),
        (["--data-dir", "set", "set", "tenant:a", "language", "fr"], "set"),
        (["--db=sqlite:///x.db", "phone", "list"], "phone"),
        (["--data", "d", "group", "list"], "group"),  # an abbreviation argparse accepts
        (["--d", "x", "set"], None),  # ambiguous: the full parser says so
        (["-h"], None),
        (["--version"], None),
        (["--bogus", "set"], None),
        (["--", "set"], None),
        ([], None),
    ],
)
def test_the_command_word_is_read_as_the_full_parser_reads_it(
    argv: list[str], word: str | None
) -> None:
    assert _command_word(argv) == word
