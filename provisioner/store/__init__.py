"""Persistence: SQLAlchemy Core on SQLite (default) or PostgreSQL, Alembic migrations."""

from provisioner.store._addresses import Admitted
from provisioner.store._bans import Ban, BanStore
from provisioner.store._engine import connect, database_exists, default_url, migrate
from provisioner.store._jobs import JobSummary, TargetRow
from provisioner.store._rollouts import RolloutPhone, RolloutRecord
from provisioner.store._seen import PendingDevice, SeenRow
from provisioner.store._store import Store
from provisioner.store._write import Changes

__all__ = [
    "Admitted",
    "Ban",
    "BanStore",
    "Changes",
    "JobSummary",
    "PendingDevice",
    "RolloutPhone",
    "RolloutRecord",
    "SeenRow",
    "Store",
    "TargetRow",
    "connect",
    "database_exists",
    "default_url",
    "migrate",
]
