"""What the API's handlers work with, made once per server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from provisioner.apikeys import ApiKeys
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.firmware import FirmwareLibrary
from provisioner.serve._db import Db
from provisioner.store import Store

__all__ = ["MAX_FLEET_BODY", "Services"]

MAX_FLEET_BODY = 16 << 20  # bytes; `serve --api-max-fleet-body`


@dataclass(slots=True)
class Services:
    """The store, catalog and service objects, and the API's own database thread.

    The API does its database work and renders on a worker of its own, so a
    long admin request never delays the phones' (docs/api.md).
    """

    store: Store
    catalog: Catalog
    edits: Edits
    keys: ApiKeys
    db: Db
    firmware: FirmwareLibrary | None = None  # the server's (uploads, activation)
    data_dir: Path | None = None  # where uploads are spooled before ingest
    # Called (on the event loop) after a write request committed: the server
    # wakes its cache refresh, so phones get the change without waiting for
    # the next poll. The API only hands over the fact; it knows no cache.
    committed: Callable[[], None] | None = None
    # The most bytes of a body of a route marked ``large_body`` (a fleet file to apply).
    max_fleet_body: int = MAX_FLEET_BODY
