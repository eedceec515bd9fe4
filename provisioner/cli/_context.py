"""What every command needs: configuration, the catalog and the store."""

from __future__ import annotations

import argparse
import os
from functools import cached_property
from pathlib import Path

from sqlalchemy.engine import make_url

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.firmware import FirmwareLibrary, FirmwareStorage, LocalStorage, storage_from_env
from provisioner.private import private_dir
from provisioner.store import Store, default_url

__all__ = ["Context"]


class Context:
    """Command-line configuration; the catalog and store are opened on first use.

    Precedence: command-line option, then environment variable, then default
    (``--data-dir``/``PROVISIONER_DATA_DIR``, default ``./var``;
    ``--db``/``PROVISIONER_DB_URL``, default SQLite in the data directory;
    ``--site-templates``/``PROVISIONER_SITE_TEMPLATES``, default none;
    ``--firmware-store``/``PROVISIONER_FIRMWARE_STORE``, default ``local``, i.e.
    ``<data dir>/firmware``, or ``s3://bucket/prefix`` with the endpoint and
    keys in the environment, docs/firmware.md).

    The data directory is owner-only (docs/files-on-disk.md): it is created
    0700, or tightened to 0700 with a warning, when a command first uses it.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        self.data_dir = Path(args.data_dir or os.environ.get("PROVISIONER_DATA_DIR") or "var")
        self.db_url: str = (
            args.db or os.environ.get("PROVISIONER_DB_URL") or default_url(self.data_dir)
        )
        site = args.site_templates or os.environ.get("PROVISIONER_SITE_TEMPLATES")
        self.site_dir = Path(site) if site else None
        self.firmware_store: str = (
            args.firmware_store or os.environ.get("PROVISIONER_FIRMWARE_STORE") or "local"
        )
        self._data_dir_ready = False

    def prepare_data_dir(self) -> Path:
        """The data directory, created owner-only or tightened to it (once per command)."""
        if not self._data_dir_ready:
            private_dir(self.data_dir)
            self._data_dir_ready = True
        return self.data_dir

    @cached_property
    def catalog(self) -> Catalog:
        """The model catalog (site templates first)."""
        return Catalog.load(self.site_dir)

    @cached_property
    def store(self) -> Store:
        """The store, migrated to the newest schema."""
        if self.db_url == default_url(self.data_dir):
            self.prepare_data_dir()
        return Store.open(self.db_url, self.catalog)

    @cached_property
    def edits(self) -> Edits:
        """Single edits of the fleet, through :attr:`store`, by the OS user (audited as ``cli``)."""
        return Edits.of(self.store, Actor.cli())

    @cached_property
    def firmware_storage(self) -> FirmwareStorage:
        """Where firmware files live: ``<data dir>/firmware``, or a bucket cached there."""
        local = self.prepare_data_dir() / "firmware"
        if self.firmware_store == "local":
            return LocalStorage(local)
        return storage_from_env(self.firmware_store, local, os.environ)

    @cached_property
    def firmware(self) -> FirmwareLibrary:
        """Firmware sets: records in the store, files in :attr:`firmware_storage`."""
        return FirmwareLibrary(self.store.firmware, self.firmware_storage, self.catalog)

    def safe_db_url(self) -> str:
        """The database URL with any password hidden, for printing."""
        return make_url(self.db_url).render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the store's connections if it was opened."""
        if "store" in self.__dict__:
            self.store.close()
