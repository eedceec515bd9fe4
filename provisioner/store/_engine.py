"""Database engines and start-up migrations.

SQLite (the default, a file in the data directory) gets WAL journaling, a
busy timeout and enforced foreign keys on every connection. Its file holds
SIP passwords in plaintext, so it is created owner-only (0600) before
SQLite first opens it (at the engine's first connection, so making an engine
creates nothing): SQLite would create it 0644, and it gives the ``-wal``,
``-shm`` and ``-journal`` files it creates later the database file's own
mode (``findCreateFileMode`` in SQLite's os_unix.c), so they follow. PostgreSQL is
chosen by URL alone; ``postgresql://`` means the psycopg 3 driver. Migrations
run at start-up; on PostgreSQL under an advisory lock, so several nodes
starting together migrate once.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, insert, inspect, select, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError

from provisioner.errors import InputError
from provisioner.private import PRIVATE_FILE, make_dirs, tighten
from provisioner.store._tables import server_keys

__all__ = ["DEVICE_KEY", "connect", "database_exists", "default_url", "device_key", "migrate"]

DEVICE_KEY = "device-key"
_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant identifying our migration lock among advisory locks.
_MIGRATION_LOCK_ID = 0x70726F76
_REVISION_LINE = re.compile(r'^revision = "([^"]+)"$', re.MULTILINE)
_BUSY_TIMEOUT_MS = 10_000


def default_url(data_dir: Path) -> str:
    """The SQLite database inside ``data_dir``."""
    return f"sqlite:///{data_dir.resolve() / 'provisioner.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _private_sqlite_file(path: Path) -> None:
    """Create the database file 0600 if missing; tighten it and its companions if loose."""
    make_dirs(path.parent)
    with contextlib.suppress(FileExistsError):  # an existing one: only its mode is ours to fix
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    for suffix in ("", "-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix), PRIVATE_FILE)


def connect(url: str) -> Engine:
    """Create an engine for ``url`` with the per-dialect connection settings.

    Nothing is created or connected to until the engine's first connection, so
    :func:`database_exists` can look through the engine the store then uses.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(f"invalid database URL {url!r}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})
        if parsed.database and parsed.database != ":memory:":
            path = Path(parsed.database)
            # Before SQLite first opens the file; later connections find it made.
            event.listen(engine, "do_connect", lambda *_: _private_sqlite_file(path), once=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True)
    raise InputError(f"unsupported database {backend!r}: use sqlite:// or postgresql://")


def database_exists(engine: Engine) -> bool:
    """Whether ``engine`` (from :func:`connect`) reaches a provisioner database; creates nothing.

    SQLite: the file exists and is not empty (an empty file is what a run
    killed before its first migration leaves). PostgreSQL: the schema's
    migration table exists, asked on a connection the engine keeps in its pool
    for the store's migration check, so a command connects once
    (docs/performance-notes.md, "The command line's start"); connection errors
    propagate.
    """
    database = engine.url.database
    if engine.dialect.name == "sqlite":
        if not database or database == ":memory:":
            return False
        path = Path(database)
        wal = path.with_name(path.name + "-wal")
        return path.is_file() and (path.stat().st_size > 0 or wal.is_file())
    with engine.connect() as conn:
        return inspect(conn).has_table("alembic_version")


def newest_revision() -> str:
    """The schema's head revision: the ``revision`` of the highest-numbered migration file.

    Migration files are ``NNNN_<topic>.py`` and chained in the order of their
    numbers (tests/test_store.py holds every file to it), so the head is known
    without importing Alembic, whose import (Mako, Pygments) costs more than
    most commands' whole work.
    """
    newest = max((_MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    found = _REVISION_LINE.search(newest.read_text(encoding="utf-8"))
    if found is None:
        raise RuntimeError(f"{newest.name}: no revision line")
    return found.group(1)


def _current_revision(conn: Connection) -> str | None:
    """The revision the database is at; None for a database without the schema."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision and make sure the device key exists."""
    with engine.begin() as conn:
        if _current_revision(conn) == newest_revision():
            _ensure_device_key(conn)
            return
    # Alembic only when there is something to do.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Transaction-scoped: released at commit, also if we crash.
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        _ensure_device_key(conn)


def _ensure_device_key(conn: Connection) -> None:
    exists = conn.execute(select(server_keys.c.name).where(server_keys.c.name == DEVICE_KEY))
    if exists.first() is None:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(server_keys).values(name=DEVICE_KEY, value=secrets.token_bytes(32))
                )
        except IntegrityError:
            pass  # another node created it first; theirs is as good as ours


def device_key(conn: Connection) -> bytes:
    """The server secret from which per-device generated values derive."""
    value = conn.execute(
        select(server_keys.c.value).where(server_keys.c.name == DEVICE_KEY)
    ).scalar_one()
    return bytes(value)
