"""``provisioner rollout``: start, list, status, halt and roll back staged firmware rollouts."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import asdict
from typing import Any

from provisioner.actor import Actor
from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.cli._selectors import selected_phones
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import Plan
from provisioner.mac import parse_mac
from provisioner.rollouts import halt_rollout, resume_rollout, rollback, start_rollout
from provisioner.store import RolloutRecord

__all__ = ["add_parser", "cmd_rollout"]


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at)) if at else "-"


def _summary(record: RolloutRecord) -> dict[str, Any]:
    counts = Counter(p.state for p in record.phones)
    return {
        "id": record.id,
        "vendor": record.vendor,
        "label": record.label,
        "selector": record.selector,
        "state": record.state,
        "reason": record.reason,
        "wave": record.wave + 1,  # 1-based for people; 0 = not started
        "plan": asdict(record.plan),
        "created_at": record.created_at,
        "finished_at": record.finished_at,
        "counts": dict(sorted(counts.items())),
    }


def cmd_rollout(ctx: Context, args: argparse.Namespace) -> int:
    """rollout start|list|status|halt|resume|rollback."""
    if args.action == "start":
        return _start(ctx, args)
    if args.action == "list":
        return _list(ctx, args)
    store = ctx.store
    found = store.rollouts.records(args.id)
    if not found:
        raise NotFoundError(f"no rollout {args.id}")
    record = found[0]
    if args.action == "status":
        return _status(record, args.json)
    if args.action == "halt":
        halt_rollout(store, record.id, Actor.cli())
        print(f"rollout {record.id} halted; pinned phones keep {record.label}")
        return 0
    if args.action == "resume":
        again = resume_rollout(store, record.id, Actor.cli())
        print(f"rollout {record.id} running again; {again} failed phone(s) of its wave waited for")
        return 0
    reboot = rollback(store, ctx.catalog, record.id, actor=Actor.cli())
    print(
        f"rollout {record.id} rolled back: {len(reboot)} phone(s) back on their previous "
        "label, rebooting (sent by `provisioner serve`)"
    )
    return 0


def _start(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    phones, selector = selected_phones(ctx, args)
    try:
        plan = Plan(args.canary, args.growth, args.threshold / 100, args.wave_minutes * 60)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    first = [parse_mac(m) for m in args.first.split(",")] if args.first else []
    rollout_id = start_rollout(
        store,
        ctx.catalog,
        vendor=args.vendor,
        label=args.label,
        selector=selector,
        phones=phones,
        plan=plan,
        first=first,
        actor=Actor.cli(),
    )
    (record,) = store.rollouts.records(rollout_id)
    counts = _summary(record)["counts"]
    print(
        f"rollout {rollout_id}: {args.vendor} {args.label} to {selector}: "
        f"{counts.get('pending', 0)} phone(s) in waves of {plan.canary}, "
        f"x{plan.growth:g}, {plan.threshold:.0%} must come back within "
        f"{args.wave_minutes:g} min; skipped {counts.get('skipped', 0)}"
    )
    print("`provisioner serve` runs it; follow with `provisioner rollout status`.")
    return 0


def _list(ctx: Context, args: argparse.Namespace) -> int:
    store = ctx.store
    records = store.rollouts.records()
    if args.json:
        print_json([_summary(r) for r in records])
        return 0
    print_table(
        ["ID", "VENDOR", "LABEL", "SELECTOR", "STATE", "WAVE", "PHONES", "CREATED"],
        [
            [
                r.id,
                r.vendor,
                r.label,
                r.selector,
                r.state,
                r.wave + 1,
                ", ".join(f"{k} {v}" for k, v in _summary(r)["counts"].items()),
                _when(r.created_at),
            ]
            for r in records
        ],
    )
    return 0


def _status(record: RolloutRecord, as_json: bool) -> int:
    if as_json:
        print_json({**_summary(record), "phones": [asdict(p) for p in record.phones]})
        return 0
    s = _summary(record)
    print(
        f"rollout {record.id}: {record.vendor} {record.label} to {record.selector}, "
        f"{record.state}, wave {s['wave']}" + (f" — {record.reason}" if record.reason else "")
    )
    print(", ".join(f"{k} {v}" for k, v in s["counts"].items()))
    print_table(
        ["MAC", "WAVE", "STATE", "REPORTED", "REASON"],
        [
            [
                p.mac,
                "-" if p.wave is None else p.wave + 1,
                p.state,
                p.reported or "-",
                p.reason,
            ]
            for p in record.phones
        ],
    )
    return 0


def add_parser(command: Any) -> None:
    """The ``rollout`` command and its actions."""
    p = command("rollout", cmd_rollout, "staged firmware rollouts (canary, waves, halt, rollback)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("start", help="roll an active firmware set out in waves")
    a.add_argument("--vendor", required=True)
    a.add_argument("--label", required=True)
    which = a.add_mutually_exclusive_group(required=True)
    which.add_argument("--tenant")
    which.add_argument("--group", metavar="TENANT/NAME")
    which.add_argument("--model")
    a.add_argument("--canary", type=int, default=1, help="phones in the first wave (default 1)")
    a.add_argument(
        "--growth", type=float, default=2.0, help="each wave this many times the last (default 2)"
    )
    a.add_argument(
        "--threshold",
        type=float,
        default=90.0,
        help="percent of a wave that must come back upgraded, else halt (default 90)",
    )
    a.add_argument(
        "--wave-minutes", type=float, default=15.0, help="deadline of each wave (default 15)"
    )
    a.add_argument("--first", metavar="MAC[,MAC...]", help="phones to take first (the canaries)")
    a = actions.add_parser("list", help="list rollouts")
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("status", help="one rollout with every phone's progress")
    a.add_argument("id", type=int)
    a.add_argument("--json", action="store_true")
    a = actions.add_parser("halt", help="stop a running rollout (pins stay)")
    a.add_argument("id", type=int)
    a = actions.add_parser(
        "resume", help="run a halted rollout again (its wave's failed phones get a new deadline)"
    )
    a.add_argument("id", type=int)
    a = actions.add_parser(
        "rollback", help="put the rollout's phones back on their previous label and reboot them"
    )
    a.add_argument("id", type=int)
