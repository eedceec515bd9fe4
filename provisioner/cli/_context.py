"""What every command needs: configuration, the catalog and the store."""

from __future__ import annotations

import argparse
import os
import sys
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.chars import decode_utf8
from provisioner.edits import Edits
from provisioner.errors import InputError, NotFoundError, ProvisionerError
from provisioner.private import private_dir
from provisioner.store import Store, connect, database_exists, default_url

if TYPE_CHECKING:
    from provisioner.firmware import FirmwareLibrary, FirmwareStorage

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

    Only commands whose parser sets ``creates_database`` (``init``, ``serve``)
    create a database where there is none; every other command says there
    is none and how to create it, so a mistyped ``--data-dir`` is not
    mistaken for an empty fleet.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        data_dir = args.data_dir or _environ("PROVISIONER_DATA_DIR") or "var"
        # The SQLite URL and the database driver need the name as text.
        decode_utf8(os.fsencode(data_dir), f"data directory {os.fsencode(data_dir)!r}")
        self.data_dir = Path(data_dir)
        self.db_url: str = args.db or _environ("PROVISIONER_DB_URL") or default_url(self.data_dir)
        self.creates_database: bool = getattr(args, "creates_database", False)
        site = args.site_templates or os.environ.get("PROVISIONER_SITE_TEMPLATES")
        self.site_dir = Path(site) if site else None
        self.firmware_store: str = (
            args.firmware_store or _environ("PROVISIONER_FIRMWARE_STORE") or "local"
        )
        self._data_dir_ready = False

    def prepare_data_dir(self) -> Path:
        """The data directory, created owner-only or tightened to it (once per command)."""
        if not self._data_dir_ready:
            if self.data_dir.exists() and not self.data_dir.is_dir():
                raise InputError(f"data directory {self.data_dir} is not a directory")
            try:
                private_dir(self.data_dir)
            except OSError as exc:
                where = (
                    f"{exc.filename}: " if exc.filename not in (None, str(self.data_dir)) else ""
                )
                raise ProvisionerError(
                    f"cannot use {self.data_dir} as the data directory: {where}{exc.strerror} "
                    "(give another with --data-dir or PROVISIONER_DATA_DIR)"
                ) from None
            self._data_dir_ready = True
        return self.data_dir

    @cached_property
    def catalog(self) -> Catalog:
        """The model catalog (site templates first)."""
        return Catalog.load(self.site_dir)

    @cached_property
    def store(self) -> Store:
        """The store, migrated to the newest schema; created only by commands that may."""
        local = self.db_url == default_url(self.data_dir)
        if local and self.data_dir.exists() and not self.data_dir.is_dir():
            raise InputError(f"data directory {self.data_dir} is not a directory")
        engine = connect(self.db_url)  # creates and connects to nothing yet
        try:
            exists = database_exists(engine)
            if not exists and not self.creates_database:
                raise NotFoundError(self._no_database(local))
            if local:
                self.prepare_data_dir()
            store = Store.migrated(engine, self.catalog)
        except OperationalError as exc:
            engine.dispose()
            raise ProvisionerError(connection_error(self.safe_db_url(), exc)) from None
        except BaseException:
            engine.dispose()
            raise
        if not exists:
            sys.stderr.write(f"created a new, empty database: {self.safe_db_url()}\n")
        return store

    def _no_database(self, local: bool) -> str:
        if local:
            where = f"data directory {self.data_dir} holds no database"
            option = f"--data-dir {self.data_dir}"
        else:
            where = f"database {self.safe_db_url()} holds no provisioner schema"
            option = "--db URL"
        return (
            f"{where}; create one with `provisioner {option} init`, or name an existing one "
            "with --data-dir / PROVISIONER_DATA_DIR or --db / PROVISIONER_DB_URL"
        )

    @cached_property
    def edits(self) -> Edits:
        """Single edits of the fleet, through :attr:`store`, by the OS user (audited as ``cli``)."""
        return Edits.of(self.store, Actor.cli())

    @cached_property
    def firmware_storage(self) -> FirmwareStorage:
        """Where firmware files live: ``<data dir>/firmware``, or a bucket cached there."""
        # Ingestion and the S3 client: imported by the commands that handle firmware files.
        from provisioner.firmware import LocalStorage, storage_from_env

        local = self.prepare_data_dir() / "firmware"
        if self.firmware_store == "local":
            return LocalStorage(local)
        return storage_from_env(self.firmware_store, local, os.environ)

    @cached_property
    def firmware(self) -> FirmwareLibrary:
        """Firmware sets: records in the store, files in :attr:`firmware_storage`."""
        from provisioner.firmware import FirmwareLibrary

        return FirmwareLibrary(self.store.firmware, self.firmware_storage, self.catalog)

    def safe_db_url(self) -> str:
        """The database URL with any password hidden, for printing."""
        return make_url(self.db_url).render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the store's connections if it was opened."""
        if "store" in self.__dict__:
            self.store.close()


def _environ(name: str) -> str | None:
    """Environment variable ``name``, refused (naming it) unless it is UTF-8."""
    value = os.environb.get(os.fsencode(name))
    return None if value is None else decode_utf8(value, name) or None


def connection_error(url: str, exc: OperationalError) -> str:
    """One line for a database that cannot be reached or opened, with what to check."""
    detail = str(exc.orig).strip().splitlines() or [str(exc)]
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL: …'
    reason = detail[0].rpartition(" failed: ")[2].removeprefix("FATAL:").strip()
    if "does not exist" in reason:
        hint = "create it first (createdb), or name another with --db / PROVISIONER_DB_URL"
    elif "refused" in reason or "timeout" in reason or "could not" in reason:
        hint = "is the database server running and reachable? check --db / PROVISIONER_DB_URL"
    else:
        hint = "check --db / PROVISIONER_DB_URL and the server's log"
    return f"cannot open database {url}: {reason} ({hint})"
