"""Shared fixtures.

Storage tests run against SQLite always and against PostgreSQL when
``PROVISIONER_TEST_PG_URL`` is set (CI sets it; there the PostgreSQL tests
must run and fail loudly if the server is missing). Each test session uses a
fresh PostgreSQL database created next to the given one and dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from provisioner.catalog import Catalog
from provisioner.store import Store, connect, migrate
from provisioner.store import _tables as tables
from tests.sqlite_template import migrated_sqlite

# No per-example deadline: timing thresholds do not belong in unit tests, and
# a slow CI machine must not turn a property test flaky.
settings.register_profile("provisioner", deadline=None)
settings.load_profile("provisioner")

PG_ENV = "PROVISIONER_TEST_PG_URL"
TEST_DEVICE_KEY = b"provisioner-test-device-key-0001"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return Catalog.load()


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A migrated, empty-per-session PostgreSQL database, or skip when not configured."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set (CI sets it; the PostgreSQL tests then must run)")
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"provisioner_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    test_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        engine = connect(test_url)
        migrate(engine)
        engine.dispose()
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _reset(store: Store) -> None:
    """Empty every data table and pin the device key, so tests are independent."""
    with store.engine.begin() as conn:
        for table in reversed(tables.metadata.sorted_tables):
            conn.execute(table.delete())
        conn.execute(tables.server_keys.insert().values(name="device-key", value=TEST_DEVICE_KEY))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for each backend the storage tests run on."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(db_url: str, catalog: Catalog) -> Iterator[Store]:
    """An empty, migrated store on each backend, with a fixed device key."""
    sqlite_file = make_url(db_url).database if db_url.startswith("sqlite") else None
    if sqlite_file:  # db_url stays a new, empty file for the tests of the migrations
        migrated_sqlite(Path(sqlite_file))
    opened = Store.open(db_url, catalog)
    _reset(opened)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def sqlite_store(tmp_path: Path, catalog: Catalog) -> Iterator[Store]:
    """An empty SQLite store, for tests that are not about storage."""
    opened = Store.open(migrated_sqlite(tmp_path / "test.db"), catalog)
    _reset(opened)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3-compatible server for the session (tests/moto.py): its URL."""
    from tests.moto import moto_server  # boto3 loaded only by the sessions that use S3

    with moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


@pytest.fixture
def s3_bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """An empty bucket of the test's own on :func:`s3_endpoint`."""
    from tests.moto import new_bucket

    return new_bucket(s3_endpoint, request.node.nodeid)
