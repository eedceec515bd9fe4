"""Statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

__all__ = ["insert_for", "upsert_insert"]


def upsert_insert(conn: Connection | Engine, table: Any) -> Any:
    """An INSERT for ``table`` that takes ``on_conflict_do_update`` on either backend."""
    return insert_for(conn.dialect.name, table)


def insert_for(dialect_name: str, table: Any) -> Any:
    """:func:`upsert_insert` by the dialect's name, for a statement built once per dialect."""
    return (sqlite if dialect_name == "sqlite" else postgresql).insert(table)
