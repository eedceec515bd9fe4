"""What ``provisioner serve`` can be told: :class:`ServeConfig`, its defaults and its rules.

:class:`ServeConfig` is the one place a ``serve`` default is written; the
command line, the configuration file and ``--print-config`` all take them
from here (``provisioner/cli/_serve_config.py``). :func:`problems` says which
values the server cannot use, by field name, so that whoever gave them (a
flag, a file) can name them the way the admin wrote them. Fields in
:data:`RESTART_ONLY` are read once at start; SIGHUP applies every other one
(docs/operations.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioner.serve._model import Network
from provisioner.settings import parse_networks

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "RESTART_ONLY", "ServeConfig", "problems"]

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("logfmt", "json")


@dataclass(slots=True)
class ServeConfig:
    """Everything ``provisioner serve`` can be told; 0 disables a port."""

    data_dir: Path
    bind: str = "0.0.0.0"
    http_port: int = 8080
    https_port: int = 8443
    tftp_port: int = 6969
    tftp_uploads: bool = False
    ftp_port: int = 2121
    ftp_passive_ports: range | None = None
    ftp_login_timeout: float = 30.0  # a connection not logged in by then is closed
    ftp_max_connections: int = 1000
    ftp_max_per_address: int = 32  # 0 = no limit; phones behind one NAT share an address
    tls_cert: Path | None = None
    tls_key: Path | None = None
    client_ca: Path | None = None  # PEM CAs whose client certificates are accepted
    client_crl: Path | None = None  # PEM CRLs for those certificates
    site_dir: Path | None = None  # site template directory, searched first
    sip_port: int = 0  # where NOTIFYs are sent from; 0 lets the system choose
    notify_lease: float = 120.0  # a claimed NOTIFY target returns to the queue after this
    realm: str = "provisioner"
    default_tenant: str | None = None
    poll_interval: float = 2.0
    seen_interval: float = 2.0
    seen_max_rows: int = 100_000
    metrics_allow: tuple[Network, ...] = field(
        default_factory=lambda: tuple(parse_networks("127.0.0.0/8,::1/128"))
    )
    trusted_proxies: tuple[Network, ...] = ()  # whose X-Forwarded-For/-Proto are believed
    ban_limit: int = 30
    ban_window: float = 60.0
    ban_seconds: float = 600.0
    ban_exempt: tuple[Network, ...] = ()  # never counted nor banned
    # HTTP(S) connections (_connections.py): until a request's headers are complete,
    # for the TLS handshake, and how many one address may hold open.
    header_timeout: float = 30.0
    handshake_timeout: float = 30.0
    max_connections_per_address: int = 256
    # Connections the kernel queues before we accept them, on the HTTP, HTTPS and API
    # listeners: a fleet rebooting at once connects in a burst, and a full queue drops
    # SYNs (a second's retransmit each). The kernel caps it at net.core.somaxconn.
    backlog: int = 1024
    # On SIGTERM: how long transfers and NOTIFYs in flight may take to finish.
    shutdown_grace: float = 10.0
    log_level: str = "info"
    log_format: str = "logfmt"
    log_file: Path | None = None  # standard error when None; reopened on SIGHUP
    access_log: bool = False  # one event per fetch (serve/_access_log.py)
    # The admin API (docs/api.md): its own listener; 0 disables it.
    api_port: int = 8081
    api_bind: str = "127.0.0.1"
    api_tls_cert: Path | None = None
    api_tls_key: Path | None = None
    api_insecure: bool = False  # plain HTTP on a non-loopback address (a TLS proxy in front)
    # Bytes of a fleet file applied over the API (POST /api/v1/fleet/apply); every
    # other JSON body is held to 1 MiB (provisioner.api._bodies.MAX_BODY).
    api_max_fleet_body: int = 16 << 20


# Bound sockets, threads sized at start, and the database's place: a change
# of these takes a restart; SIGHUP logs that it was not applied.
RESTART_ONLY = frozenset(
    {
        "data_dir",
        "bind",
        "http_port",
        "https_port",
        "tftp_port",
        "tftp_uploads",
        "ftp_port",
        "ftp_passive_ports",
        "ftp_login_timeout",
        "ftp_max_connections",
        "ftp_max_per_address",
        "sip_port",
        "notify_lease",
        "realm",
        "default_tenant",
        "poll_interval",
        "seen_interval",
        "seen_max_rows",
        "metrics_allow",
        "trusted_proxies",
        # The admin API's listener is bound once; its certificate too, for now.
        "api_port",
        "api_bind",
        "api_tls_cert",
        "api_tls_key",
        "api_insecure",
        "api_max_fleet_body",
        "backlog",
    }
)

_PORTS = ("http_port", "https_port", "tftp_port", "ftp_port", "sip_port", "api_port")
_POSITIVE = (
    "ftp_login_timeout",
    "notify_lease",
    "poll_interval",
    "seen_interval",
    "ban_window",
    "ban_seconds",
    "header_timeout",
    "handshake_timeout",
    "shutdown_grace",
)
_AT_LEAST_ONE = (
    "ftp_max_connections",
    "ban_limit",
    "max_connections_per_address",
    "seen_max_rows",
    "backlog",
)


def problems(config: ServeConfig) -> list[tuple[str, str]]:
    """``(field, what is wrong)`` for every value the server cannot use, in field order.

    Only the values themselves are judged here (ranges, choices, pairs);
    whether files can be read and ports bound is found out when they are.
    """
    found: list[tuple[str, str]] = []
    for name in _PORTS:
        if not 0 <= getattr(config, name) <= 65535:
            found.append((name, "must be a port number from 0 (off) to 65535"))
    for name in _POSITIVE:
        if not 0 < getattr(config, name) < float("inf"):
            found.append((name, "must be a number of seconds above 0"))
    for name in _AT_LEAST_ONE:
        if getattr(config, name) < 1:
            found.append((name, "must be at least 1"))
    if config.ftp_max_per_address < 0:
        found.append(("ftp_max_per_address", "must be 0 (no limit) or more"))
    if config.ftp_passive_ports is not None:
        ports = config.ftp_passive_ports
        if not (ports and ports[0] >= 1024 and ports[-1] <= 65535):
            found.append(("ftp_passive_ports", "expected LOW-HIGH within 1024-65535"))
    if (config.tls_cert is None) != (config.tls_key is None):
        given = "tls_cert" if config.tls_key is None else "tls_key"
        found.append((given, _PAIR[given]))
    if config.api_port and (config.api_tls_cert is None) != (config.api_tls_key is None):
        given = "api_tls_cert" if config.api_tls_key is None else "api_tls_key"
        found.append((given, _PAIR[given.removeprefix("api_")].replace("(tls_", "(api_tls_")))
    if not 1 << 20 <= config.api_max_fleet_body <= 1 << 30:
        found.append(("api_max_fleet_body", "must be bytes from 1048576 (1 MiB) to 1073741824"))
    if config.client_crl is not None and config.client_ca is None:
        found.append(("client_crl", "CRLs need the client CAs as well (client_ca)"))
    if config.log_level not in LOG_LEVELS:
        found.append(("log_level", f"expected one of {', '.join(LOG_LEVELS)}"))
    if config.log_format not in LOG_FORMATS:
        found.append(("log_format", f"expected one of {', '.join(LOG_FORMATS)}"))
    return found


_PAIR = {
    "tls_cert": "a certificate needs its private key as well (tls_key)",
    "tls_key": "a private key needs its certificate as well (tls_cert)",
}
