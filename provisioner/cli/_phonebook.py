"""``provisioner phonebook``: import, export, list, show and remove tenant phonebooks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from provisioner import phonebooks
from provisioner.actor import Actor
from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.domain import Phonebook
from provisioner.errors import InputError
from provisioner.phonebook_files import CSV_COLUMNS

__all__ = ["add_parser", "cmd_phonebook"]


def _book_dict(book: Phonebook) -> dict[str, Any]:
    return {
        "name": book.name,
        "description": book.description,
        "entries": [
            {
                "first_name": e.first_name,
                "last_name": e.last_name,
                "organisation": e.organisation,
                "numbers": dict(e.numbers),
            }
            for e in book.entries
        ],
    }


def cmd_phonebook(ctx: Context, args: argparse.Namespace) -> int:
    """phonebook import|export|list|show|rm."""
    repo = ctx.store.phonebooks
    if args.action == "import":
        source = Path(args.file)
        if not source.is_file():
            raise InputError(f"{args.file}: no such file")
        data = source.read_bytes()
        fmt = phonebooks.Format(args.format) if args.format else None
        created, count = phonebooks.import_phonebook(
            repo,
            Actor.cli(),
            args.tenant,
            args.name,
            data,
            fmt or phonebooks.guess_format(source.name, data),
            description=args.description,
            append=args.append,
        )
        print(
            f"phonebook {args.tenant}/{args.name} {'created' if created else 'updated'}: "
            f"{count} entries"
        )
        return 0
    if args.action == "export":
        text = phonebooks.export_phonebook(
            repo, args.tenant, args.name, phonebooks.Format(args.format)
        )
        if args.out is None:
            sys.stdout.write(text)
        else:
            Path(args.out).write_text(text, encoding="utf-8", newline="")
        return 0
    if args.action == "list":
        books = phonebooks.list_phonebooks(repo, args.tenant)
        if args.json:
            print_json(
                [
                    {"name": b.name, "description": b.description, "entries": b.entries}
                    for b in books
                ]
            )
        else:
            print_table(
                ("NAME", "ENTRIES", "DESCRIPTION"),
                [(b.name, b.entries, b.description) for b in books],
            )
        return 0
    if args.action == "show":
        book = phonebooks.show_phonebook(repo, args.tenant, args.name)
        if args.json:
            print_json(_book_dict(book))
        else:
            print_table(
                ("NAME", "ORGANISATION", "NUMBERS"),
                [
                    (e.name, e.organisation, " ".join(f"{k}:{n}" for k, n in e.numbers))
                    for e in book.entries
                ],
            )
        return 0
    phonebooks.remove_phonebook(repo, Actor.cli(), args.tenant, args.name)
    print(f"phonebook {args.tenant}/{args.name} removed")
    return 0


def add_parser(command: Any) -> None:
    """The ``phonebook`` command and its actions."""
    p = command("phonebook", cmd_phonebook, "manage tenant phonebooks (docs/phonebooks.md)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser(
        "import",
        help="create a phonebook from a CSV or vCard 3.0/4.0 file, or replace its entries",
    )
    a.add_argument("name", help="phonebook name, as the phonebooks setting gives it")
    a.add_argument("file", type=Path)
    a.add_argument("--tenant", required=True)
    a.add_argument(
        "--format",
        choices=["csv", "vcard"],
        help=f"default: by extension (.csv; .vcf, .vcard), else by content; CSV columns: "
        f"{','.join(CSV_COLUMNS)}",
    )
    a.add_argument("--description", help="default: kept (empty for a new phonebook)")
    a.add_argument("--append", action="store_true", help="add to the entries, not replace them")
    a = actions.add_parser("export", help="write a phonebook as CSV or vCard")
    a.add_argument("name")
    a.add_argument("--tenant", required=True)
    a.add_argument(
        "--format",
        choices=["csv", "vcard", "vcard3"],
        default="csv",
        help="csv (default), vcard (4.0) or vcard3 (3.0)",
    )
    a.add_argument("--out", type=Path, help="file to write (default: standard output)")
    a = actions.add_parser("list", help="list a tenant's phonebooks")
    a.add_argument("--tenant", required=True)
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("show", help="a phonebook's entries")
    a.add_argument("name")
    a.add_argument("--tenant", required=True)
    a.add_argument("--json", action="store_true")
    a = actions.add_parser(
        "rm", aliases=["remove"], help="delete a phonebook no phonebooks setting names"
    )
    a.add_argument("name")
    a.add_argument("--tenant", required=True)
