"""The options of ``provisioner serve``, each defaulting to :class:`ServeConfig`'s value.

Every option's argparse default is ``None`` (not given), so that a flag can
win over the configuration file and ``--print-config`` can say where a value
came from (``_serve_config.py``); the help text shows ServeConfig's default,
the one place it is written. Options named like a ServeConfig field are the
field; the configuration file uses the same names in snake case.
"""

from __future__ import annotations

import argparse
import functools
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from provisioner.serve import ServeConfig
from provisioner.serve._config import LOG_FORMATS, LOG_LEVELS

__all__ = ["add_serve_options", "field_default", "serve_default"]


def field_default(name: str) -> Any:
    """A ``serve`` option's default, as :class:`ServeConfig` declares it (one place)."""
    field = next(f for f in fields(ServeConfig) if f.name == name)
    value = field.default
    if value is MISSING and callable(field.default_factory):
        value = field.default_factory()
    return value


def serve_default(name: str) -> Any:
    """:func:`field_default` as the option's text: networks as ``127.0.0.0/8,::1/128``."""
    value = field_default(name)
    return ",".join(map(str, value)) if isinstance(value, tuple) else value


def _serve_option(
    parser: argparse.ArgumentParser, name: str, help_text: str, **kwargs: Any
) -> None:
    """``--name`` for ServeConfig's ``name``; ``{default}`` in ``help_text`` shows its default.

    Switches (boolean fields) come in pairs, ``--name``/``--no-name``, so a
    flag can turn off what the configuration file turned on.
    """
    default = serve_default(name)
    shown = f"{default:g}" if isinstance(default, float) else default
    if isinstance(default, bool):
        kwargs["action"] = argparse.BooleanOptionalAction
    parser.add_argument(
        "--" + name.replace("_", "-"), default=None, help=help_text.format(default=shown), **kwargs
    )


def add_serve_options(p: argparse.ArgumentParser) -> None:
    """Every option of ``serve``."""
    p.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="TOML file with any of these options (snake_case keys); flags override it",
    )
    p.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration, with where each value came from, and exit",
    )
    p.add_argument(
        "--print-dhcp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also print the DHCP snippet",
    )
    option = functools.partial(_serve_option, p)
    _add_listener_options(option)
    _add_tls_options(option)
    _add_api_options(option)
    option("realm", "digest realm outside tenant prefixes (default {default})")
    option("default_tenant", "tenant whose unknown-device policy applies outside prefixes")
    option("metrics_allow", "networks allowed to read /metrics (default {default})")
    option(
        "trusted_proxies",
        "reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed, "
        "e.g. 127.0.0.1/32 (default: none)",
    )
    _add_ban_options(option)
    _add_connection_options(option)
    _add_log_options(option)
    option("sip_port", "UDP/TCP port NOTIFYs are sent from (0: any)", type=int)
    option(
        "poll_interval",
        "seconds between checks of the database for changes, seen-record writes and "
        "rollout steps (default {default})",
        type=float,
    )
    option(
        "notify_lease",
        "seconds before a NOTIFY interrupted by a crash is sent again (default {default})",
        type=float,
    )
    option(
        "shutdown_grace",
        "on SIGTERM, how long transfers and NOTIFYs in flight may take to finish "
        "(default {default})",
        type=float,
        metavar="SECONDS",
    )


Option = functools.partial[None]


def _add_listener_options(option: Option) -> None:
    option("bind", "address to listen on (default {default}: all)")
    for name in ("http_port", "https_port", "tftp_port", "ftp_port"):
        option(name, "0 disables (default {default})", type=int)
    option(
        "tftp_uploads",
        "accept phones' uploads (logs) over TFTP too; off by default, as TFTP has no login",
    )
    option("ftp_passive_ports", "passive data ports, e.g. 30000-30100")
    option(
        "ftp_login_timeout",
        "close FTP connections not logged in this long after connecting (default {default})",
        type=float,
        metavar="SECONDS",
    )
    option(
        "ftp_max_connections",
        "simultaneous FTP control connections (default {default})",
        type=int,
        metavar="N",
    )
    option(
        "ftp_max_per_address",
        "simultaneous FTP control connections from one address; 0: no limit (default {default})",
        type=int,
        metavar="N",
    )


def _add_tls_options(option: Option) -> None:
    option("tls_cert", "PEM certificate (default: a generated one)", type=Path)
    option("tls_key", "PEM private key", type=Path)
    option(
        "client_ca",
        "PEM CA certificates (phone vendors' roots) whose client certificates HTTPS accepts"
        " (for access.client_cert = required)",
        type=Path,
    )
    option("client_crl", "PEM CRLs checked for client certificates", type=Path)


def _add_api_options(option: Option) -> None:
    option("api_port", "admin API port (docs/api.md); 0 disables it (default {default})", type=int)
    option("api_bind", "address the admin API listens on (default {default})")
    option("api_tls_cert", "PEM certificate of the admin API (default: plain HTTP)", type=Path)
    option("api_tls_key", "PEM private key of the admin API", type=Path)
    option(
        "api_insecure",
        "allow plain HTTP for the admin API on a non-loopback address (a TLS proxy in front)",
    )
    option(
        "api_max_fleet_body",
        "bytes of a fleet file applied over the admin API (POST /api/v1/fleet/apply; "
        "other JSON bodies: 1 MiB) (default {default})",
        type=int,
    )


def _add_ban_options(option: Option) -> None:
    option(
        "ban_limit",
        "failures (each unknown MAC once) within --ban-window that ban an address "
        "(default {default})",
        type=int,
    )
    option("ban_window", "seconds over which failures are counted (default {default})", type=float)
    option("ban_seconds", "how long a ban lasts (default {default})", type=float)
    option(
        "ban_exempt",
        "networks never counted nor banned, e.g. a site NAT with many new phones (default: none)",
    )


def _add_connection_options(option: Option) -> None:
    option(
        "header_timeout",
        "close an HTTP(S) connection whose request headers are not complete this long "
        "after it opened or after the previous response; also the idle keep-alive time "
        "(default {default})",
        type=float,
        metavar="SECONDS",
    )
    option(
        "handshake_timeout",
        "close an HTTPS connection whose TLS handshake takes longer (default {default})",
        type=float,
        metavar="SECONDS",
    )
    option(
        "max_connections_per_address",
        "open HTTP(S) connections one client address may hold, TLS handshakes included; "
        "more are closed at once; --trusted-proxies are exempt (default {default})",
        type=int,
        metavar="N",
    )
    option(
        "backlog",
        "connections the kernel queues before they are accepted, on the HTTP, HTTPS and "
        "API ports; capped by net.core.somaxconn (default {default})",
        type=int,
        metavar="N",
    )


def _add_log_options(option: Option) -> None:
    option("log_level", "the least severe level written (default {default})", choices=LOG_LEVELS)
    option(
        "log_format",
        "logfmt (key=value) or json, one event per line (default {default})",
        choices=LOG_FORMATS,
    )
    option(
        "log_file",
        "write the log here instead of standard error; reopened on SIGHUP (logrotate)",
        type=Path,
    )
    option(
        "access_log",
        "log every fetch: protocol, client, path, status, bytes, duration, MAC, User-Agent "
        "(never a secret)",
    )
