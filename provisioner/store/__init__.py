"""Persistence: SQLAlchemy Core on SQLite (default) or PostgreSQL, Alembic migrations.

:class:`Store` makes one repository per aggregate; see its docstring.
"""

from provisioner.store._accounts import AccountRecord, AccountRepository, SessionRecord
from provisioner.store._addresses import AddressBook, Admitted
from provisioner.store._apikeys import ApiKeyRecord, ApiKeyRepository
from provisioner.store._audit import AuditLog, AuditQuery
from provisioner.store._bans import BANS_CHANNEL, Ban, BanStore
from provisioner.store._engine import (
    connect,
    database_exists,
    default_url,
    migrate,
    newest_revision,
)
from provisioner.store._feed import CHANGES_CHANNEL, FEED_MAX_ENTRIES, Reach
from provisioner.store._firmware import FirmwareRepository
from provisioner.store._jobs import JobRepository, JobRequest, JobSummary, TargetRow
from provisioner.store._nonces import NonceCounts
from provisioner.store._phonebooks import PhonebookRepository, PhonebookSummary
from provisioner.store._rollouts import RolloutPhone, RolloutRecord, RolloutRepository
from provisioner.store._seen import PendingDevice, SeenRepository, SeenRow
from provisioner.store._session import TenantSession
from provisioner.store._sip_users import LineRef, SipUser, SipUserRepository, SipUserTable
from provisioner.store._store import Store
from provisioner.store._summary import FleetSummary, StalePhone, SummaryRepository
from provisioner.store._tenants import AuditHook, TenantRepository
from provisioner.store._uploads import UploadRepository
from provisioner.store._write import Changes

__all__ = [
    "BANS_CHANNEL",
    "CHANGES_CHANNEL",
    "FEED_MAX_ENTRIES",
    "AccountRecord",
    "AccountRepository",
    "AddressBook",
    "Admitted",
    "ApiKeyRecord",
    "ApiKeyRepository",
    "AuditHook",
    "AuditLog",
    "AuditQuery",
    "Ban",
    "BanStore",
    "Changes",
    "FirmwareRepository",
    "FleetSummary",
    "JobRepository",
    "JobRequest",
    "JobSummary",
    "LineRef",
    "NonceCounts",
    "PendingDevice",
    "PhonebookRepository",
    "PhonebookSummary",
    "Reach",
    "RolloutPhone",
    "RolloutRecord",
    "RolloutRepository",
    "SeenRepository",
    "SeenRow",
    "SessionRecord",
    "SipUser",
    "SipUserRepository",
    "SipUserTable",
    "StalePhone",
    "Store",
    "SummaryRepository",
    "TargetRow",
    "TenantRepository",
    "TenantSession",
    "UploadRepository",
    "connect",
    "database_exists",
    "default_url",
    "migrate",
    "newest_revision",
]
