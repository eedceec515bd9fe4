"""Bulk writes: many rows of one table in one statement per kind of change.

On PostgreSQL each column's values travel as one array parameter and the
statement reads them back as rows with ``unnest`` (``INSERT … SELECT``,
``UPDATE … FROM``, ``DELETE … USING``): one short statement and one round
trip however many rows. ``executemany`` would send one statement per row
(pipelined, each planned and checked on its own) or, for ``RETURNING``,
pages of multi-row ``VALUES`` whose thousands of placeholders psycopg and
the server parse anew for every page — together most of the time a large
``apply`` took. On SQLite, in-process with no round trips, ``executemany``
of one prepared statement is already the fast way, and is kept.

Every function takes rows as mappings of column name to value; rows with
different sets of columns go in separate statements (one each), so a
column a row leaves out gets its default as with a plain INSERT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import String, Table, Text, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.selectable import TableValuedAlias
from sqlalchemy.types import TypeEngine

__all__ = ["delete_rows", "insert_returning", "insert_rows", "update_rows"]

Row = Mapping[str, object]


def _by_columns(rows: Sequence[Row]) -> dict[tuple[str, ...], list[Row]]:
    """``rows`` grouped by the columns they name (in a stable order)."""
    groups: dict[tuple[str, ...], list[Row]] = defaultdict(list)
    for row in rows:
        groups[tuple(sorted(row))].append(row)
    return groups


def _postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _element(table: Table, name: str) -> TypeEngine[Any]:
    """The array's element type for column ``name``: text without the column's length.

    An explicit cast to ``VARCHAR(n)`` truncates a longer value without an
    error (PostgreSQL manual, "Character Types"); left as text, the value
    meets the column's own length check on insert and a longer one is
    refused, as with a plain INSERT.
    """
    kind = table.c[name].type
    return Text() if isinstance(kind, String) else kind


def _arrays(table: Table, columns: Sequence[str], rows: Sequence[Row]) -> TableValuedAlias:
    """``unnest(<one array per column>) AS anon(<columns>)``: ``rows`` as a table (PostgreSQL)."""
    # Only PostgreSQL runs this: a command on SQLite does not load its dialect (store._dialect).
    from sqlalchemy.dialects.postgresql import ARRAY

    arrays = [
        bindparam(f"rows_{name}", [row[name] for row in rows], type_=ARRAY(_element(table, name)))
        for name in columns
    ]
    return func.unnest(*arrays).table_valued(*columns).render_derived()


def insert_rows(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """INSERT ``rows`` into ``table``."""
    for columns, same in _by_columns(rows).items():
        if _postgresql(conn):
            source = _arrays(table, columns, same)
            conn.execute(insert(table).from_select(columns, select(*source.c)))
        else:
            conn.execute(insert(table), list(same))


def insert_returning(
    conn: Connection, table: Table, rows: Sequence[Row], key: Sequence[str]
) -> dict[tuple[object, ...], int]:
    """INSERT ``rows``; each new ``id`` by the row's values of the ``key`` columns.

    The ``key`` columns must tell the rows apart (a unique constraint).
    """
    ids: dict[tuple[object, ...], int] = {}
    for columns, same in _by_columns(rows).items():
        returning = (table.c.id, *(table.c[k] for k in key))
        if _postgresql(conn):
            source = _arrays(table, columns, same)
            statement = insert(table).from_select(columns, select(*source.c)).returning(*returning)
            result = conn.execute(statement)
        else:
            statement = insert(table).returning(*returning, sort_by_parameter_order=True)
            result = conn.execute(statement, list(same))
        ids.update({tuple(row[1:]): int(row[0]) for row in result})
    return ids


def update_rows(conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Row]) -> None:
    """UPDATE ``table``: for each row, the row of ``table`` whose ``keys`` columns equal the
    row's takes the row's other columns."""
    for columns, same in _by_columns(rows).items():
        values = [c for c in columns if c not in keys]
        if _postgresql(conn):
            source = _arrays(table, columns, same)
            statement = (
                update(table)
                .where(*(table.c[k] == source.c[k] for k in keys))
                .values({c: source.c[c] for c in values})
            )
            conn.execute(statement)
        else:
            statement = (
                update(table)
                .where(*(table.c[k] == bindparam(f"k_{k}") for k in keys))
                .values({c: bindparam(f"v_{c}") for c in values})
            )
            params = [
                {**{f"k_{k}": row[k] for k in keys}, **{f"v_{c}": row[c] for c in values}}
                for row in same
            ]
            conn.execute(statement, params)


def delete_rows(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """DELETE from ``table`` each row whose columns equal those of one of ``rows``."""
    for columns, same in _by_columns(rows).items():
        if _postgresql(conn):
            source = _arrays(table, columns, same)
            conn.execute(delete(table).where(*(table.c[k] == source.c[k] for k in columns)))
        else:
            statement = delete(table).where(*(table.c[k] == bindparam(f"k_{k}") for k in columns))
            conn.execute(statement, [{f"k_{k}": row[k] for k in columns} for row in same])
