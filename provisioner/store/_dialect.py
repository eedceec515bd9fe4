"""Statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection, Engine

__all__ = ["insert_for", "upsert_insert"]


def upsert_insert(conn: Connection | Engine, table: Any) -> Any:
    """An INSERT for ``table`` that takes ``on_conflict_do_update`` on either backend."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect_name: str, table: Any) -> Any:
    """:func:`upsert_insert` by the dialect's name, for a statement built once per dialect."""
    # Imported here, not with the module: PostgreSQL's dialect package loads
    # its async drivers' modules too (about 50 ms), which a command on SQLite
    # would otherwise pay at every start (docs/performance-notes.md).
    if dialect_name == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)
