"""Commands of the admin plane: API keys and the audit log."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from provisioner.apikeys import ApiKeys
from provisioner.audit import parse_since
from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.mac import parse_mac
from provisioner.private import write_atomic
from provisioner.store import AuditQuery

__all__ = ["add_parsers"]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def cmd_apikey(ctx: Context, args: argparse.Namespace) -> int:
    """apikey create|list|revoke."""
    keys = ApiKeys(ctx.store)
    if args.action == "create":
        return _create(ctx, keys, args)
    if args.action == "revoke":
        if keys.revoke(args.id, ctx.edits.actor):
            print(f"API key {args.id} revoked")
        else:
            print(f"API key {args.id} was already revoked")
        return 0
    records = ctx.store.apikeys.all()
    rows: list[dict[str, Any]] = [
        {
            "id": r.id,
            "name": r.name,
            "role": r.role,
            "tenant": r.tenant,
            "created_at": r.created_at,
            "created_by": r.created_by,
            "expires_at": r.expires_at,
            "revoked_at": r.revoked_at,
            "last_used_at": r.last_used_at,
        }
        for r in records
    ]
    if args.json:
        print_json(rows)
        return 0
    print_table(
        ["ID", "NAME", "ROLE", "TENANT", "CREATED", "EXPIRES", "LAST USED", "STATE"],
        [
            [
                r["id"],
                r["name"],
                r["role"],
                r["tenant"] or "(all)",
                _when(r["created_at"]),
                _when(r["expires_at"]),
                _when(r["last_used_at"]),
                "revoked" if r["revoked_at"] else "active",
            ]
            for r in rows
        ],
    )
    return 0


def _create(ctx: Context, keys: ApiKeys, args: argparse.Namespace) -> int:
    """Create a key; the key itself alone on the last line (and in --key-file, if given)."""
    key_file: Path | None = args.key_file
    if key_file is not None and key_file.is_file():
        kept = key_file.read_text(encoding="ascii", errors="replace").strip()
        found = keys.verify(kept)
        if found is not None and found.name == args.name:
            print(f"API key {found.id} ({found.name}, {found.role}) kept from {key_file}")
            print(kept)
            return 0
    created = keys.create(
        args.name,
        args.role,
        ctx.edits.actor,
        tenant=args.tenant,
        expires_days=args.expires,
    )
    record = created.record
    scope = f"tenant {record.tenant}" if record.tenant else "all tenants"
    print(f"API key {record.id} created: {record.name}, role {record.role}, {scope}")
    print(f"expires: {_when(record.expires_at) if record.expires_at else 'never'}")
    if key_file is not None:
        write_atomic(key_file.resolve(), (created.key + "\n").encode("ascii"))
        print(f"written to {key_file} (owner-only)")
    print("the key is shown once; store it now:")
    print(created.key)
    return 0


def cmd_audit(ctx: Context, args: argparse.Namespace) -> int:
    """Show the audit log, newest first."""
    now = time.time()
    query = AuditQuery(
        since=parse_since(args.since, now) if args.since else None,
        tenant=args.tenant,
        mac=parse_mac(args.phone) if args.phone else None,
        actor=args.actor,
        limit=args.limit,
    )
    entries, total = ctx.store.audit.query(query)
    rows: list[dict[str, Any]] = [
        {
            "id": e.id,
            "at": e.at,
            "actor": f"{e.actor_kind.value}:{e.actor}",
            "key_id": e.key_id,
            "request_id": e.request_id,
            "action": e.action,
            "scope": e.scope,
            "entity": e.entity,
            "dry_run": e.dry_run,
            "before": e.before,
            "after": e.after,
        }
        for e in entries
    ]
    if args.json:
        print_json({"items": rows, "total": total})
        return 0
    print_table(
        ["WHEN (UTC)", "WHO", "ACTION", "ENTITY", "CHANGE"],
        [
            [
                _when(r["at"]),
                r["actor"],
                r["action"] + (" (dry run)" if r["dry_run"] else ""),
                r["entity"],
                _change(r["before"], r["after"]),
            ]
            for r in rows
        ],
    )
    if total > len(rows):
        print(f"({len(rows)} of {total}; --limit shows more)")
    return 0


def _change(before: dict[str, Any], after: dict[str, Any]) -> str:
    parts = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path, "-"), after.get(path, "-")
        parts.append(f"{path}: {old} -> {new}")
    text = "; ".join(parts)
    return text if len(text) <= 120 else text[:117] + "..."


def add_parsers(command: Any) -> None:
    """The ``apikey`` and ``audit`` commands."""
    p = command("apikey", cmd_apikey, "manage admin API keys (docs/api.md)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("create", help="create a key; it is printed once, on the last line")
    a.add_argument("--name", required=True, help="who or what uses it, e.g. billing-sync")
    a.add_argument("--role", required=True, choices=["admin", "operator", "viewer"])
    a.add_argument("--tenant", help="limit it to one tenant (operator, viewer)")
    a.add_argument("--expires", type=float, metavar="DAYS", help="expire after DAYS days")
    a.add_argument(
        "--key-file",
        type=Path,
        help="also write the key to this owner-only file; when the file already holds a valid "
        "key of this name, keep that one and create nothing",
    )
    a = actions.add_parser("list", help="list keys (never the keys themselves)")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("revoke", help="revoke a key at once, on every node")
    a.add_argument("id", type=int, metavar="ID")

    p = command(
        "audit", cmd_audit, "show who changed what (API, command line, server), newest first"
    )
    p.add_argument("--since", metavar="WHEN", help="30m, 12h, 7d, or a UTC date/time")
    p.add_argument("--phone", metavar="MAC", help="only entries about this phone")
    p.add_argument("--tenant", help="only entries about this tenant")
    p.add_argument("--actor", help="only entries by this key name or OS user")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")
