"""The ``user`` command: web UI accounts (docs/ui.md)."""

from __future__ import annotations

import argparse
import getpass
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.errors import InputError
from provisioner.private import write_atomic

if TYPE_CHECKING:
    from provisioner.accounts import Accounts

__all__ = ["add_parsers"]


def _password(args: argparse.Namespace) -> str:
    """The new password: one line of standard input, or typed twice at a prompt."""
    from provisioner.accounts import MAX_PASSWORD

    if args.password_stdin:
        line = sys.stdin.readline(MAX_PASSWORD + 2)
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask the password on: give --password-stdin")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise InputError("the two passwords differ; nothing changed")
    return first


def _create(ctx: Context, accounts: Accounts, args: argparse.Namespace) -> int:
    file: Path | None = args.password_file
    if file is not None:
        # make run: a generated password kept in an owner-only file, like the demo API key.
        if file.is_file():
            kept = file.read_text(encoding="utf-8", errors="replace").strip()
            if accounts.store.accounts.by_name(args.name) is not None:
                if accounts.password_matches(args.name, kept):
                    print(f"account {args.name} kept (its password is in {file})")
                    return 0
                raise InputError(f"account {args.name} exists and {file} is not its password")
        password = secrets.token_urlsafe(12)
    else:
        password = _password(args)
    record = accounts.create(args.name, args.role, password, ctx.edits.actor, tenant=args.tenant)
    scope = f"tenant {record.tenant}" if record.tenant else "all tenants"
    print(f"account {record.name} created: role {record.role}, {scope}")
    if file is not None:
        write_atomic(file.resolve(), (password + "\n").encode("utf-8"))
        print(f"password written to {file} (owner-only)")
    return 0


def cmd_user(ctx: Context, args: argparse.Namespace) -> int:
    """user create|passwd|rm|list."""
    # argon2 (its C bindings): imported by this command, not at every command's start.
    from provisioner.accounts import Accounts

    accounts = Accounts(ctx.store)
    if args.action == "create":
        return _create(ctx, accounts, args)
    if args.action == "passwd":
        accounts.store.accounts.get(args.name)  # a missing account before the prompt
        accounts.set_password(args.name, _password(args), ctx.edits.actor)
        print(f"password of {args.name} changed; its sessions are closed")
        return 0
    if args.action == "rm":
        accounts.remove(args.name, ctx.edits.actor)
        print(f"account {args.name} removed; its sessions are closed")
        return 0
    rows: list[dict[str, Any]] = [
        {
            "name": r.name,
            "role": r.role,
            "tenant": r.tenant,
            "created_at": r.created_at,
            "created_by": r.created_by,
            "throttled": (r.throttled_until or 0.0) > time.time(),
        }
        for r in accounts.store.accounts.all()
    ]
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["NAME", "ROLE", "TENANT", "CREATED (UTC)", "BY", "STATE"],
        [
            [
                r["name"],
                r["role"],
                r["tenant"] or "(all)",
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(r["created_at"])),
                r["created_by"],
                "throttled" if r["throttled"] else "active",
            ]
            for r in rows
        ],
    )
    return 0


def add_parsers(command: Any) -> None:
    """The ``user`` command."""
    p = command("user", cmd_user, "manage web UI accounts (docs/ui.md)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("create", help="create an account (the password is asked for)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    a.add_argument("--tenant", help="limit it to one tenant (operator, viewer)")
    how = a.add_mutually_exclusive_group()
    how.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    how.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="generate a password into this owner-only file; when the account exists and the "
        "file holds its password, change nothing",
    )
    a = actions.add_parser("passwd", help="set an account's password; its sessions end")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    a = actions.add_parser("rm", help="remove an account; its sessions end")
    a.add_argument("name", metavar="NAME")
    a = actions.add_parser("list", help="list accounts (never their passwords)")
    a.add_argument("--json", action="store_true")
