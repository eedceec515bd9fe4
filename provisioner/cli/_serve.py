"""Commands around serving: serve, identify, seen, claim/reject/forget, dhcp-snippet, tokens."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.cli._serve_config import (
    Effective,
    check_usable,
    format_config,
    resolve,
)
from provisioner.devices import claim_device, forget_device, reject_device
from provisioner.dhcp import DhcpTarget, snippets
from provisioner.errors import InputError, NotFoundError, ProvisionerError, UsageError
from provisioner.firmware import version_matches
from provisioner.identify import Identifier
from provisioner.logsetup import configure
from provisioner.mac import parse_mac
from provisioner.resolve import FIRMWARE_SETTING, Resolver
from provisioner.scope import parse_scope
from provisioner.serve import ServeConfig
from provisioner.store import PendingDevice
from provisioner.udp import local_address_towards

if TYPE_CHECKING:
    from provisioner.serve import Server

__all__ = [
    "cmd_ban",
    "cmd_claim",
    "cmd_dhcp",
    "cmd_forget",
    "cmd_identify",
    "cmd_reject",
    "cmd_seen",
    "cmd_serve",
    "cmd_token",
]

log = logging.getLogger("provisioner.serve")


def primary_address() -> str:
    """The IPv4 address this host uses to reach other networks (no packet is sent)."""
    try:
        return local_address_towards("192.0.2.1")  # TEST-NET-1 (RFC 5737): the default route
    except OSError:
        return "127.0.0.1"


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    """Serve phones over HTTP, HTTPS, TFTP and FTP until SIGTERM; SIGHUP reloads.

    Everything that can be checked before a socket opens is (option values,
    the configuration file, TLS files, the admin API's exposure, the log
    file): a usage error exits with status 2. A data directory that cannot
    be used or a listener that cannot be bound stops the start with one line
    (status 1); the banner is printed only once every listener is bound.
    """
    effective = resolve(args, os.environ)
    if args.print_config:
        print(format_config(effective), end="")
        return 0
    check_usable(effective)
    _check_api(effective)
    config = effective.config
    configure(config.log_level, config.log_format, config.log_file)
    own = effective.context  # the command line's ctx, with the file's data directory and database
    from provisioner.serve import Server  # the web stack, only for the command that runs it

    try:
        own.prepare_data_dir()  # one line, as for every command, when it cannot be used
        reload = _Reloader(args, effective)
        server = Server(config, own.store, own.catalog, own.firmware_storage, reload=reload)
        asyncio.run(server.run_until_signalled(ready=lambda: _banner(server, effective)))
    finally:
        own.close()
    return 0


def _check_api(effective: Effective) -> None:
    """Refuse an admin API configuration that would expose keys, in one line."""
    config = effective.config
    if not config.api_port:
        return
    from provisioner.api._listener import exposure_refusal  # aiohttp and pydantic: serve only

    refusal = exposure_refusal(
        config.api_bind, config.api_tls_cert is not None, config.api_insecure
    )
    if refusal is not None:
        raise UsageError(refusal)


class _Reloader:
    """SIGHUP as the command line sees it: the file re-read, the same flags, the log reopened.

    Options that are not part of ServeConfig (the database, the firmware
    store) take a restart; a change is logged and not applied. The log file
    is reopened even when the new configuration is refused (logrotate's
    SIGHUP must not depend on the file being right).
    """

    def __init__(self, args: argparse.Namespace, started: Effective) -> None:
        self.args = args
        self.current = started

    def __call__(self) -> ServeConfig:
        """The configuration to run with now; :raises ProvisionerError: when it is broken."""
        running = self.current.config
        try:
            fresh = resolve(self.args, os.environ)
            check_usable(fresh)
        except ProvisionerError:
            configure(running.log_level, running.log_format, running.log_file)
            raise
        for name in ("db", "firmware_store"):
            if fresh.values[name][0] != self.current.values[name][0]:
                log.warning("event=config_restart_needed keys=%s", name)
        config = fresh.config
        configure(config.log_level, config.log_format, config.log_file)
        self.current = fresh
        return config


def _banner(server: Server, effective: Effective) -> None:
    """What is served where (printed once every listener is bound), and the DHCP lines."""
    config = effective.config
    address = config.bind if config.bind not in ("0.0.0.0", "::") else primary_address()
    print(f"provisioner serving {len(server.cache.tenants)} tenant(s)")
    for name, port in (("http", config.http_port), ("https", config.https_port)):
        if port:
            print(f"  {name}://{address}:{port}/")
    if config.tftp_port:
        print(f"  tftp://{address}:{config.tftp_port}/")
    if config.ftp_port:
        print(f"  ftp://{address}:{config.ftp_port}/")
    if effective.print_dhcp:
        target = DhcpTarget(_ipv4(address), config.http_port, config.https_port, config.tftp_port)
        print("\nDHCP options for phones:\n" + snippets(target, server.cache.catalog.dhcp_options))
    sys.stdout.flush()


def _ipv4(address: str) -> str:
    return address if ":" not in address else primary_address()


def cmd_dhcp(ctx: Context, args: argparse.Namespace) -> int:
    """Print DHCP option 66/160/150 lines for ISC dhcpd, Kea and dnsmasq."""
    address = args.address or (
        args.bind if args.bind not in ("0.0.0.0", "::") else primary_address()
    )
    target = DhcpTarget(
        _ipv4(address), args.http_port, args.https_port, args.tftp_port, args.token or ""
    )
    try:
        print(snippets(target, ctx.catalog.dhcp_options), end="")
    except ValueError:
        raise InputError(f"invalid IPv4 address {address!r} for DHCP options") from None
    return 0


def cmd_identify(ctx: Context, args: argparse.Namespace) -> int:
    """Tell vendor, model, firmware and MAC from a User-Agent (and a path)."""
    identity = Identifier(ctx.catalog).identify(args.user_agent, args.path)
    data = {k: v for k, v in identity.as_dict().items() if k != "family"}
    if args.json:
        print_json(data)
    else:
        for key, value in data.items():
            print(f"{key}: {value if value is not None else '-'}")
    return 0


def cmd_seen(ctx: Context, args: argparse.Namespace) -> int:
    """List what phones asked for; flag firmware other than the one assigned."""
    rows = ctx.store.seen.latest(unknown=args.unknown, limit=args.limit)
    assigned = _assigned_firmware(ctx, {r.mac for r in rows if r.mac})
    entries: list[dict[str, Any]] = []
    for row in rows:
        expected = assigned.get(row.mac or "", "")
        flagged = bool(expected and row.firmware and not version_matches(expected, row.firmware))
        entries.append(
            {
                "mac": row.mac,
                "address": row.address,
                "protocol": row.protocol,
                "path": row.path,
                "user_agent": row.user_agent,
                "vendor": row.vendor or None,
                "model": row.model or None,
                "firmware": row.firmware or None,
                "assigned_firmware": expected or None,
                "firmware_mismatch": flagged,
                "status": row.status,
                "known": row.known,
                "count": row.count,
                "first_seen": row.first_seen,
                "last_seen": row.last_seen,
            }
        )
    pending = ctx.store.seen.pending() if args.unknown else []
    if args.json:
        print_json(
            {"seen": entries, "pending": [asdict(p) | {"state": p.state} for p in pending]}
            if args.unknown
            else entries
        )
        return 0
    print_table(
        ["LAST SEEN", "MAC", "ADDRESS", "PROTO", "PATH", "MODEL", "FIRMWARE", "STATUS", "COUNT"],
        [
            [
                _when(e["last_seen"]),
                e["mac"] or "-",
                e["address"],
                e["protocol"],
                e["path"],
                e["model"] or "-",
                (e["firmware"] or "-")
                + (f" (assigned {e['assigned_firmware']})" if e["firmware_mismatch"] else ""),
                e["status"],
                e["count"],
            ]
            for e in entries
        ],
    )
    if pending:
        print(
            "\npending (quarantined) and rejected devices; "
            "`provisioner claim MAC`, `reject MAC` or `forget MAC`:"
        )
        print_table(
            ["MAC", "TENANT", "MODEL", "FIRMWARE", "ADDRESS", "LAST SEEN", "STATE"],
            [
                [
                    p.mac,
                    p.tenant,
                    p.model or "-",
                    p.firmware or "-",
                    p.address,
                    _when(p.last_seen),
                    _decision(p),
                ]
                for p in pending
            ],
        )
    return 0


def _decision(device: PendingDevice) -> str:
    """``pending``, or who rejected the device and when."""
    if device.rejected_at is None:
        return device.state
    return f"rejected by {device.rejected_by} at {_when(device.rejected_at)}"


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(timestamp))


def _assigned_firmware(ctx: Context, macs: set[str]) -> dict[str, str]:
    if not macs:
        return {}
    snapshot = ctx.store.tenants.snapshot(macs)
    resolver = Resolver(ctx.catalog, snapshot)
    result = {}
    for phone in snapshot.phones.values():
        value = resolver.phone(phone).settings[FIRMWARE_SETTING].value
        if value:
            result[phone.mac] = str(value)
    return result


def cmd_claim(ctx: Context, args: argparse.Namespace) -> int:
    """Turn a pending (quarantined) device into a managed phone."""
    claimed = claim_device(
        ctx.store,
        ctx.catalog,
        ctx.edits,
        parse_mac(args.mac),
        tenant=args.tenant,
        model=args.model,
        groups=args.group or [],
        description=args.description or "",
    )
    print(f"phone {claimed.mac} claimed into tenant {claimed.tenant} as {claimed.model}")
    return 0


def cmd_reject(ctx: Context, args: argparse.Namespace) -> int:
    """Reject a pending device: it is not held (nor auto-registered) again."""
    device = reject_device(ctx.store, parse_mac(args.mac), ctx.edits.actor)
    print(f"device {device.mac} rejected (tenant {device.tenant}); undo with claim or forget")
    return 0


def cmd_forget(ctx: Context, args: argparse.Namespace) -> int:
    """Drop a pending or rejected device's record: its tenant's policy applies anew."""
    device = forget_device(ctx.store, parse_mac(args.mac), ctx.edits.actor)
    print(f"{device.state} device {device.mac} forgotten")
    return 0


def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    """Give a tenant a new random URL prefix token (or remove it)."""
    scope = parse_scope(f"tenant:{args.name}")
    if args.clear:
        ctx.edits.settings.unset(scope, "access.url_token")
        print(f"tenant {args.name} is served at the root again")
        return 0
    token = secrets.token_urlsafe(24)
    ctx.edits.settings.set(scope, "access.url_token", token)
    print(f"tenant {args.name} is now served under /{token}/")
    return 0


def cmd_ban(ctx: Context, args: argparse.Namespace) -> int:
    """List bans, or lift one; every ``serve`` node follows within its poll interval."""
    bans = ctx.store.bans
    if args.action == "rm":
        address = args.address.strip()
        if not bans.remove(address):
            raise NotFoundError(f"{address} is not banned")
        print(f"ban of {address} lifted; serve nodes follow within their poll interval")
        return 0
    active = bans.active(time.time())
    if args.json:
        print_json([asdict(b) for b in active])
        return 0
    print_table(
        ["ADDRESS", "UNTIL", "REASON"],
        [[b.address, _when(int(b.until)), b.reason] for b in active],
    )
    return 0
