"""The API's own listener in ``provisioner serve``: address, TLS, connection limits.

It goes through the same connection handling as the phones' ports
(:mod:`provisioner.serve._connections`: header and handshake timeouts, a cap
per address, banned addresses closed at accept), with its own counts, and
the gateway's failure tracker: a wrong API key counts towards the same ban
as a phone's failed lookup. Plain HTTP is refused on any address other than
loopback unless the admin says ``--api-insecure``: keys travel in headers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from provisioner.accounts import Accounts
from provisioner.actor import Actor
from provisioner.api._app import ApiHandler
from provisioner.api._services import Services
from provisioner.apikeys import ApiKeys
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.firmware import FirmwareLibrary
from provisioner.serve._connections import Connections, Site
from provisioner.serve._db import Db
from provisioner.serve._front import FrontGateway
from provisioner.serve._model import Network
from provisioner.serve._tls import server_context
from provisioner.store import Store

__all__ = ["ApiListener", "ListenerConfig", "exposure_refusal"]


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """Where and how the API listens (from :class:`provisioner.serve.ServeConfig`)."""

    bind: str
    port: int
    tls_cert: Path | None
    tls_key: Path | None
    insecure: bool
    data_dir: Path
    per_address: int
    header_timeout: float
    handshake_timeout: float
    trusted_proxies: tuple[Network, ...]
    shutdown_grace: float
    backlog: int
    max_fleet_body: int  # bytes of a fleet file to apply (Services.max_fleet_body)


def _loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False


def exposure_refusal(bind: str, tls: bool, insecure: bool) -> str | None:
    """Why the API may not listen on ``bind`` as configured, or ``None``."""
    if tls or insecure or _loopback(bind):
        return None
    return (
        f"--api-bind {bind} is not a loopback address: give --api-tls-cert and --api-tls-key "
        "(API keys would cross the network in clear), or --api-insecure if a TLS proxy is in front"
    )


class ApiListener:
    """The running API: its runner, site and database thread."""

    def __init__(
        self,
        config: ListenerConfig,
        store: Store,
        catalog: Catalog,
        gateway: FrontGateway,
        firmware: FirmwareLibrary | None = None,
        committed: Callable[[], None] | None = None,
    ) -> None:
        """``committed`` is called after every write request that committed (see Services)."""
        self.config = config
        self.db = Db()
        self.services = Services(
            store=store,
            catalog=catalog,
            edits=Edits.of(store, Actor.server("api")),
            keys=ApiKeys(store),
            db=self.db,
            firmware=firmware,
            data_dir=config.data_dir,
            committed=committed,
            max_fleet_body=config.max_fleet_body,
        )
        self.gateway = gateway
        self.connections = Connections(
            gateway,
            per_address=config.per_address,
            header_timeout=config.header_timeout,
            handshake_timeout=config.handshake_timeout,
            trusted_proxies=config.trusted_proxies,
        )
        self._runner: web.ServerRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Listen (refusing a plain-HTTP non-loopback address)."""
        from provisioner.api import routes  # the route table imports the whole service layer
        from provisioner.ui import ui_handler

        config = self.config
        pair = (config.tls_cert, config.tls_key)
        tls = pair[0] is not None and pair[1] is not None
        refusal = exposure_refusal(config.bind, tls, config.insecure)
        if refusal is not None:
            raise ValueError(refusal)
        handler = ApiHandler(self.services, routes(), self.gateway, config.trusted_proxies)
        handler.ui = ui_handler(handler, Accounts(self.services.store), self.gateway)
        self._runner = web.ServerRunner(web.Server(handler), shutdown_timeout=config.shutdown_grace)
        await self._runner.setup()
        context = None
        if pair[0] is not None and pair[1] is not None:
            context = server_context(pair[0], pair[1])
        site = Site(
            self._runner,
            config.bind,
            config.port,
            self.connections,
            context,
            backlog=config.backlog,
        )
        await site.start()
        host = f"[{config.bind}]" if ":" in config.bind else config.bind
        self.url = f"{'https' if tls else 'http'}://{host}:{config.port}/api/v1"

    async def stop(self) -> None:
        """Finish requests in flight (bounded) and release the database thread."""
        if self._runner is not None:
            await self._runner.cleanup()
        self.db.close()
