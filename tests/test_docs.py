"""The options the documentation names are options the command line accepts."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from provisioner.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# Options of other programs the docs show (program: options).
FOREIGN = {
    "mypy": {"--strict"},
    "in.tftpd / tftpd-hpa": {"--secure", "--foreground"},
    "atftp": {"--get"},
    "curl": {"--digest", "--ftp-method"},
    "podman": {"--network"},  # `podman run --name provisioner --network host`
}
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
SNIPPET = re.compile(r"`[^`\n]+`|^.*$", re.MULTILINE)
COMMAND = re.compile(r"(?:^|[\s`/])provisioner (?:--|[a-z])")


def _options(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """Every command's options, by command (sub-commands included)."""
    found: dict[str, set[str]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for key, options in _options(sub).items():
                    found.setdefault(name, set()).update(options)
                    found.setdefault(key, set()).update(options)
        found.setdefault("", set()).update(action.option_strings)
    return found


def test_every_option_in_the_docs_exists() -> None:
    # Options shown after a `provisioner` command, in a code line or inline code.
    options = _options(build_parser())
    known = set().union(*options.values(), *FOREIGN.values())
    unknown = []
    for doc in DOCS:
        for snippet in SNIPPET.findall(doc.read_text()):
            found = COMMAND.search(snippet)
            if found is not None:
                tail = snippet[found.start() :]
                unknown += [f"{doc.name}: {o}" for o in OPTION.findall(tail) if o not in known]
    assert unknown == []


def test_options_shown_with_serve_are_options_of_serve() -> None:
    # docs/serving.md once listed ban options serve did not accept.
    serve = _options(build_parser())["serve"] | _options(build_parser())[""]
    wrong = []
    for doc in DOCS:
        for snippet in SNIPPET.findall(doc.read_text()):
            if re.search(r"(?:^|provisioner |`)serve --", snippet):
                tail = snippet[snippet.index("serve --") :]
                wrong += [f"{doc.name}: {o}" for o in OPTION.findall(tail) if o not in serve]
    assert wrong == []
