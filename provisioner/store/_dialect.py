"""Statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

__all__ = ["upsert_insert"]


def upsert_insert(conn: Connection | Engine, table: Any) -> Any:
    """An INSERT for ``table`` that takes ``on_conflict_do_update`` on either backend."""
    dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
    return dialect.insert(table)
