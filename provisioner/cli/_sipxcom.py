"""``provisioner import-csv`` and ``export-csv``: sipXcom's CSV file of phones and users.

The service is :mod:`provisioner.sipxcom_csv`; this reads the file, shows
progress on a terminal (standard error, nowhere else) and prints the report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from provisioner.cli._context import Context
from provisioner.cli._output import write_private
from provisioner.cli._preview import print_outcome
from provisioner.errors import InputError

if TYPE_CHECKING:
    from provisioner.sipxcom_csv import ImportReport, Progress

__all__ = ["add_parsers", "cmd_export_csv", "cmd_import_csv"]

SHOWN_PHONES = 20  # a dry run prints the diffs of this many phones, then counts the rest


def _progress(stream: TextIO) -> Progress | None:
    """A progress line on ``stream`` if it is a terminal (never in a pipe or a log)."""
    if not stream.isatty():
        return None

    def show(phase: str, done: int, total: int) -> None:
        stream.write(f"\r{phase}: {done}/{total} rows ")
        stream.flush()

    return show


def cmd_import_csv(ctx: Context, args: argparse.Namespace) -> int:
    """Import a sipXcom CSV file into a tenant (all or nothing), or preview it."""
    # The import previews through the renderer, whose import (Jinja2, lxml) only
    # these two commands should pay, not every command's start.
    from provisioner.sipxcom_csv import import_csv

    source = Path(args.file)
    if not source.is_file():
        raise InputError(f"{args.file}: no such file")
    progress = _progress(sys.stderr)
    try:
        report = import_csv(
            ctx.store,
            ctx.edits,
            args.tenant,
            source.read_bytes(),
            dry_run=args.dry_run,
            reveal_secrets=False,
            progress=progress,
        )
    finally:
        if progress is not None:
            sys.stderr.write("\r\033[K")
    _print_report(report)
    return 1 if report.problems else 0


def _print_report(report: ImportReport) -> None:
    from provisioner.preview import Outcome  # loaded already by the import (above)

    if report.dry_run:
        shown = Outcome(phones=report.phones[:SHOWN_PHONES], problems=report.problems)
        print_outcome(shown)
        if len(report.phones) > SHOWN_PHONES:
            print(f"... and {len(report.phones) - SHOWN_PHONES} more phone(s) would change")
    verb = "would be" if report.dry_run else "were"
    print(f"{report.rows} rows read")
    for what, count in report.changes.items():
        print(f"{what}: {count}")
    if not report.changes and not report.problems:
        print("no changes")
    if report.groups_created:
        print(f"groups that {verb} created: {', '.join(report.groups_created)}")
    if report.kept:
        print(f"columns kept with the users, not used by provisioner: {', '.join(report.kept)}")


def cmd_export_csv(ctx: Context, args: argparse.Namespace) -> int:
    """Write a tenant's phones and users as sipXcom's CSV file (secrets included)."""
    from provisioner.sipxcom_csv import export_csv  # as in cmd_import_csv

    text = export_csv(ctx.store, args.tenant, reveal_secrets=True)
    write_private(args.out, text)  # it holds SIP passwords
    return 0


def add_parsers(command: Any) -> None:
    """The ``import-csv`` and ``export-csv`` commands."""
    p = command(
        "import-csv",
        cmd_import_csv,
        "import phones and users from sipXcom's CSV file (docs/sipxcom.md), all or nothing",
    )
    p.add_argument("file", type=Path, help="CSV file with sipXcom 20.04's header line")
    p.add_argument("--tenant", required=True, help="the tenant the phones and users go to")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="store nothing; print what would change, with the diffs of the phones' files",
    )
    p = command(
        "export-csv",
        cmd_export_csv,
        "write a tenant's phones and users as sipXcom's CSV file (docs/sipxcom.md)",
    )
    p.add_argument("--tenant", required=True)
    p.add_argument("--out", type=Path, help="file to write, owner-only (default: standard output)")
