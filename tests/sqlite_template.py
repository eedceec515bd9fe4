"""A migrated SQLite database copied per test, instead of Alembic run per test.

Every storage test on SQLite, and every serving test's store, starts from an
empty database at the newest revision. Running the migrations into a new file
costs about 0.2 s of CPU (Alembic's import and fifteen revisions), paid again
by each of the hundreds of tests; copying a file the migrations made once costs
milliseconds. ``Store.open`` on the copy finds it at the head revision and
only checks the device key, as on any later start of a server. The
migrations themselves stay tested where they are the point (tests/test_store.py,
``provisioner init`` and the servers started on new data directories), and
PostgreSQL already migrates one database per session (``pg_url`` in conftest.py).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from provisioner.private import PRIVATE_FILE
from provisioner.store import connect, migrate

__all__ = ["migrated_sqlite"]

_template: Path | None = None


def migrated_sqlite(path: Path) -> str:
    """A copy of the migrated, empty template at ``path`` (owner-only, as the server
    creates it); its ``sqlite:///`` URL."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(fd, "wb") as target, _template_file().open("rb") as source:
        shutil.copyfileobj(source, target)
    return f"sqlite:///{path}"


def _template_file() -> Path:
    """The template, migrated on first use in a directory removed when the tests end."""
    global _template
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="provisioner-sqlite-template-"))
        atexit.register(shutil.rmtree, directory, True)
        made = directory / "template.db"
        engine = connect(f"sqlite:///{made}")
        try:
            migrate(engine)
        finally:
            engine.dispose()  # the last connection's close folds the WAL into the file
        if made.with_name(made.name + "-wal").exists():
            raise RuntimeError(f"{made}: the write-ahead log outlived the last connection")
        _template = made
    return _template
