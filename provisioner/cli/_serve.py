"""Commands around serving: serve, identify, seen, claim, dhcp-snippet, tenant tokens."""

from __future__ import annotations

import argparse
import asyncio
import secrets
import ssl
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.dhcp import DhcpTarget, snippets
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import version_matches
from provisioner.identify import Identifier
from provisioner.logsetup import configure
from provisioner.mac import parse_mac
from provisioner.resolve import FIRMWARE_SETTING, Resolver
from provisioner.scope import parse_scope
from provisioner.serve import ServeConfig, Server
from provisioner.settings import parse_networks
from provisioner.udp import local_address_towards

__all__ = ["cmd_ban", "cmd_claim", "cmd_dhcp", "cmd_identify", "cmd_seen", "cmd_serve", "cmd_token"]


def _port_range(text: str | None) -> range | None:
    if not text:
        return None
    low, _, high = text.partition("-")
    if not (low.isdigit() and high.isdigit()) or not 1024 <= int(low) <= int(high) <= 65535:
        raise InputError(f"invalid port range {text!r}: expected LOW-HIGH within 1024-65535")
    return range(int(low), int(high) + 1)


def _positive(option: str, value: float) -> float:
    """``value`` when it is a finite number above zero, else a clear error naming ``option``."""
    if not 0 < value < float("inf"):
        raise InputError(f"{option} must be a number above 0, not {value}")
    return value


def _check_client_trust(client_ca: Path | None, client_crl: Path | None) -> None:
    """Refuse unreadable or non-PEM --client-ca / --client-crl files before serving."""
    if client_crl is not None and client_ca is None:
        raise InputError("--client-crl needs --client-ca")
    for option, path in (("--client-ca", client_ca), ("--client-crl", client_crl)):
        if path is None:
            continue
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=path)
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"{option} {path}: not a readable PEM file ({exc})") from None


def _check_ftp_limits(config: ServeConfig) -> None:
    """Refuse FTP limits the server would reject, with the option's name."""
    if not 0 < config.ftp_login_timeout < float("inf"):
        raise InputError(
            f"--ftp-login-timeout {config.ftp_login_timeout:g}: must be a number of seconds above 0"
        )
    if config.ftp_max_connections < 1:
        raise InputError(f"--ftp-max-connections {config.ftp_max_connections}: must be at least 1")
    if config.ftp_max_per_address < 0:
        raise InputError(
            f"--ftp-max-per-address {config.ftp_max_per_address}: must be 0 (no limit) or more"
        )


def primary_address() -> str:
    """The IPv4 address this host uses to reach other networks (no packet is sent)."""
    try:
        return local_address_towards("192.0.2.1")  # TEST-NET-1 (RFC 5737): the default route
    except OSError:
        return "127.0.0.1"


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    """Serve phones over HTTP, HTTPS, TFTP and FTP until interrupted."""
    configure(args.log_level)
    ctx.prepare_data_dir()
    config = ServeConfig(
        data_dir=ctx.data_dir,
        bind=args.bind,
        http_port=args.http_port,
        https_port=args.https_port,
        tftp_port=args.tftp_port,
        tftp_uploads=args.tftp_uploads,
        ftp_port=args.ftp_port,
        ftp_passive_ports=_port_range(args.ftp_passive_ports),
        ftp_login_timeout=args.ftp_login_timeout,
        ftp_max_connections=args.ftp_max_connections,
        ftp_max_per_address=args.ftp_max_per_address,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        client_ca=args.client_ca,
        client_crl=args.client_crl,
        site_dir=ctx.site_dir,
        sip_port=args.sip_port,
        notify_lease=args.notify_lease,
        poll_interval=args.poll_interval,
        seen_interval=args.poll_interval,
        realm=args.realm,
        default_tenant=args.default_tenant,
        metrics_allow=tuple(parse_networks(args.metrics_allow)),
        trusted_proxies=tuple(parse_networks(args.trusted_proxies)),
        ban_limit=int(_positive("--ban-limit", args.ban_limit)),
        ban_window=_positive("--ban-window", args.ban_window),
        ban_seconds=_positive("--ban-seconds", args.ban_seconds),
        ban_exempt=tuple(parse_networks(args.ban_exempt)),
        header_timeout=_positive("--header-timeout", args.header_timeout),
        handshake_timeout=_positive("--handshake-timeout", args.handshake_timeout),
        max_connections_per_address=int(
            _positive("--max-connections-per-address", args.max_connections_per_address)
        ),
    )
    _check_ftp_limits(config)
    if (config.tls_cert is None) != (config.tls_key is None):
        raise InputError("give both --tls-cert and --tls-key, or neither")
    _check_client_trust(config.client_ca, config.client_crl)
    server = Server(config, ctx.store, ctx.catalog, ctx.firmware_storage)
    address = args.bind if args.bind not in ("0.0.0.0", "::") else primary_address()
    print(f"provisioner serving {len(ctx.store.tenants.names())} tenant(s)")
    for name, port in (("http", args.http_port), ("https", args.https_port)):
        if port:
            print(f"  {name}://{address}:{port}/")
    if args.tftp_port:
        print(f"  tftp://{address}:{args.tftp_port}/")
    if args.ftp_port:
        print(f"  ftp://{address}:{args.ftp_port}/")
    if args.print_dhcp:
        target = DhcpTarget(_ipv4(address), args.http_port, args.https_port, args.tftp_port)
        print("\nDHCP options for phones:\n" + snippets(target, ctx.catalog.dhcp_options))
    asyncio.run(server.run_until_signalled())
    return 0


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
            {"seen": entries, "pending": [asdict(p) for p in pending]} if args.unknown else entries
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
        print("\npending (quarantined) devices; claim with `provisioner claim MAC`:")
        print_table(
            ["MAC", "TENANT", "MODEL", "FIRMWARE", "ADDRESS", "LAST SEEN"],
            [
                [p.mac, p.tenant, p.model or "-", p.firmware or "-", p.address, _when(p.last_seen)]
                for p in pending
            ],
        )
    return 0


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
    mac = parse_mac(args.mac)
    pending = {p.mac: p for p in ctx.store.seen.pending()}.get(mac)
    tenant = args.tenant or (pending.tenant if pending else None)
    model = args.model or (pending.model if pending else None)
    if tenant is None:
        raise NotFoundError(f"{mac} is not pending; give --tenant and --model to add it")
    if not model:
        raise InputError(f"the model of {mac} was not detected; give --model")
    ctx.edits.add_phone(
        tenant, mac, model, description=args.description or "", groups=args.group or []
    )
    ctx.store.seen.forget_pending(mac)
    print(f"phone {mac} claimed into tenant {tenant} as {ctx.catalog.model(model).id}")
    return 0


def cmd_token(ctx: Context, args: argparse.Namespace) -> int:
    """Give a tenant a new random URL prefix token (or remove it)."""
    scope = parse_scope(f"tenant:{args.name}")
    if args.clear:
        ctx.edits.unset_setting(scope, "access.url_token")
        print(f"tenant {args.name} is served at the root again")
        return 0
    token = secrets.token_urlsafe(24)
    ctx.edits.set_setting(scope, "access.url_token", token)
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
