"""Check-sync commands: notify, send-profiles, jobs."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import asdict
from typing import Any

from provisioner.actor import Actor
from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.cli._selectors import selected_phones
from provisioner.errors import InputError, NotFoundError
from provisioner.mac import parse_mac
from provisioner.notify import (
    Event,
    JobState,
    NotifyTargetError,
    TargetState,
    notify_info,
    request_for,
)
from provisioner.resolve import Resolver
from provisioner.send_profiles import cancel_job, send_profiles
from provisioner.sip import Notifier, NotifyOutcome, Timers
from provisioner.store import JobSummary

__all__ = ["cmd_jobs", "cmd_notify", "cmd_send_profiles"]

_WAIT_HINT = 20.0  # seconds without progress before saying what the job waits for
_GIVE_UP = 64 * Timers().t1  # RFC 3261 Timer F: how long an unanswered NOTIFY is retried


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"invalid --to {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def cmd_notify(ctx: Context, args: argparse.Namespace) -> int:
    """Send one check-sync NOTIFY to a phone now and print the outcome."""
    mac = parse_mac(args.mac)
    snapshot = ctx.store.tenants.snapshot([mac])
    phone = next(iter(snapshot.phones.values()), None)
    if phone is None:
        raise NotFoundError(f"no phone with MAC {mac}")
    info = notify_info(Resolver(ctx.catalog, snapshot).phone(phone))
    to = _host_port(args.to) if args.to else None
    address = ctx.store.addresses.last([mac]).get(mac)
    try:
        request = request_for(info, args.event, address, to)
    except NotifyTargetError as exc:
        raise InputError(f"cannot notify {mac}: {exc} (give --to HOST:PORT)") from None

    sys.stderr.write(
        f"sending NOTIFY (Event: {request.event}) to {request.transport}:{request.host}:"
        f"{request.port}; a phone that does not answer is given up after {_GIVE_UP:g} s\n"
    )
    sys.stderr.flush()

    async def send() -> NotifyOutcome:
        notifier = Notifier()
        await notifier.start()
        try:
            return await notifier.send(request)
        finally:
            await notifier.close()

    outcome = asyncio.run(send())
    result = {
        "mac": mac,
        "event": request.event,
        "to": f"{request.transport}:{request.host}:{request.port}",
        "request_uri": request.request_uri,
        **asdict(outcome),
    }
    if args.json:
        print_json(result)
    else:
        verdict = "ok" if outcome.ok else "failed"
        status = outcome.status if outcome.status is not None else "no answer"
        print(
            f"{mac}: {verdict} ({status} {outcome.reason}) — Event: {request.event} to "
            f"{result['to']}, {request.request_uri}, {outcome.transactions} transaction(s), "
            f"{outcome.elapsed:.2f} s"
        )
    return 0 if outcome.ok else 1


def cmd_send_profiles(ctx: Context, args: argparse.Namespace) -> int:
    """Queue NOTIFYs for a phone, group, tenant or model (sent by `provisioner serve`)."""
    phones, selector = selected_phones(ctx, args)
    if not phones:
        raise NotFoundError(f"no enabled phones in {selector}")
    event: Event = "reboot" if args.restart else "resync"
    job = send_profiles(
        ctx.store,
        ctx.catalog,
        phones,
        selector=selector,
        event=event,
        now=time.time(),
        actor=Actor.cli(),
    )
    print(
        f"job {job.id}: {event} for {len(phones)} phone(s) in {selector}, starting in {job.delay} s"
    )
    if args.wait:
        return _wait(ctx, job.id)
    return 0


def _bar(summary: JobSummary, width: int = 30) -> str:
    done = summary.total - summary.pending
    filled = width * done // summary.total if summary.total else width
    counts = ", ".join(f"{state} {count}" for state, count in sorted(summary.counts.items()))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{summary.total}  {counts}"


def _wait(ctx: Context, job: int) -> int:
    """Show a job's progress until it is done; the exit status says whether any phone failed.

    On a terminal the bar is redrawn in place; otherwise (a log, a pipe) a
    line is written only when the progress changes, so the output stays
    readable line by line.
    """
    terminal = sys.stderr.isatty()
    last_change, last = time.monotonic(), ""
    hinted = False
    while True:
        (summary,) = ctx.store.jobs.summaries(job)
        line = _bar(summary)
        if line != last:
            sys.stderr.write(("\r" if terminal else "") + line + ("" if terminal else "\n"))
            sys.stderr.flush()
            last, last_change = line, time.monotonic()
        if summary.state is not JobState.RUNNING:
            if terminal:
                sys.stderr.write("\n")
            failed = summary.counts.get(TargetState.FAILED, 0)
            print(f"job {job} {summary.state}: {failed} failed")
            return 1 if failed else 0
        if not hinted and time.monotonic() - last_change > _WAIT_HINT:
            sys.stderr.write(("\n" if terminal else "") + _stalled(summary) + "\n")
            hinted = True
        time.sleep(0.5)


def _stalled(summary: JobSummary) -> str:
    """Why a running job has not moved for a while, as far as its counts tell."""
    if summary.counts.get(TargetState.QUEUED, 0) == summary.total:
        return "(nothing sent yet: jobs are sent by `provisioner serve`; is it running?)"
    sending = summary.counts.get(TargetState.SENDING, 0)
    if sending:
        return (
            f"(waiting for {sending} phone(s) to answer; one that does not is given up "
            f"after {_GIVE_UP:g} s)"
        )
    return "(waiting for phones to fetch their files, or for the tenant's pacing)"


def cmd_jobs(ctx: Context, args: argparse.Namespace) -> int:
    """List send-profiles jobs, show one with per-phone status, or cancel one."""
    store = ctx.store
    if args.cancel is not None:
        cancel_job(store, args.cancel, time.time(), Actor.cli())
        print(f"job {args.cancel} cancelled")
        return 0
    if args.show is not None:
        summaries = store.jobs.summaries(args.show)
        if not summaries:
            raise NotFoundError(f"no job {args.show}")
        targets = store.jobs.targets(args.show)
        if args.json:
            print_json({**_job_dict(summaries[0]), "targets": [asdict(t) for t in targets]})
            return 0
        print(
            f"job {args.show}: {summaries[0].selector}, {summaries[0].event}, {summaries[0].state}"
        )
        print_table(
            ["MAC", "EVENT", "STATE", "ATTEMPTS", "STATUS", "REASON"],
            [[t.mac, t.event, t.state, t.attempts, t.status or "-", t.reason] for t in targets],
        )
        return 0
    summaries = store.jobs.summaries()
    if args.json:
        print_json([_job_dict(s) for s in summaries])
        return 0
    print_table(
        ["JOB", "SELECTOR", "EVENT", "STATE", "CREATED", "PROGRESS"],
        [
            [
                s.id,
                s.selector,
                s.event,
                s.state,
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s.created_at)),
                _bar(s, 10),
            ]
            for s in summaries
        ],
    )
    return 0


def _job_dict(summary: JobSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "selector": summary.selector,
        "event": summary.event,
        "state": summary.state,
        "created_at": summary.created_at,
        "finished_at": summary.finished_at,
        "counts": summary.counts,
        "total": summary.total,
    }
