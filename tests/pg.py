"""A new, empty PostgreSQL database for one test (cluster, announcement and ``make run`` tests).

The storage tests share one migrated database per session (``pg_url`` in
conftest.py); these tests start servers or commands that create and migrate
their own, so each gets a database of its own, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import PG_ENV
from tests.peers import REQUIRE_ENV

__all__ = ["fresh_database", "new_database"]


@contextmanager
def fresh_database(purpose: str) -> Iterator[str]:
    """Its URL; skips (fails where peers are required) without ``PROVISIONER_TEST_PG_URL``."""
    base = os.environ.get(PG_ENV)
    if not base:
        message = f"{PG_ENV} is not set: the {purpose} tests need PostgreSQL"
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(message)
        pytest.skip(message)
    with new_database(base, f"provisioner_{purpose.replace(' ', '_')}") as url:
        yield url


@contextmanager
def new_database(base: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server ``base`` names, called ``<prefix>_<random>``;
    dropped at the end (also for the benchmarks, which need no pytest)."""
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
