"""The store: one repository per aggregate, over one database engine.

Nothing here holds policy. Which phones a job is for, when it starts and
what it is called are the caller's (:class:`provisioner.store.JobRequest`);
a setting's effective value at a tenant is the resolver's
(:func:`provisioner.notify.notify_delay` reads :meth:`TenantRepository.heads`).
Consumers take a Protocol of just the methods they use; this class is only
the place where the repositories are made and the engine is released.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from provisioner.catalog import Catalog
from provisioner.store._accounts import AccountRepository
from provisioner.store._addresses import AddressBook
from provisioner.store._apikeys import ApiKeyRepository
from provisioner.store._audit import AuditLog
from provisioner.store._bans import BanStore
from provisioner.store._engine import connect, migrate
from provisioner.store._firmware import FirmwareRepository
from provisioner.store._jobs import JobRepository
from provisioner.store._nonces import NonceCounts
from provisioner.store._phonebooks import PhonebookRepository
from provisioner.store._rollouts import RolloutRepository
from provisioner.store._seen import SeenRepository
from provisioner.store._sip_users import SipUserRepository
from provisioner.store._summary import SummaryRepository
from provisioner.store._tenants import TenantRepository
from provisioner.store._uploads import UploadRepository

__all__ = ["Store"]


class Store:
    """Provisioning data in SQLite or PostgreSQL, by aggregate.

    ``tenants`` (tenants, groups, phones, lines, settings), ``jobs``
    (send-profiles jobs), ``addresses`` (where phones were admitted from),
    ``seen`` (seen records and pending devices), ``firmware`` (firmware
    sets), ``rollouts`` (staged rollouts), ``bans``, ``nonces`` (digest
    nonce counts used on any node), ``uploads`` (files phones uploaded),
    ``apikeys`` (admin API keys), ``audit`` (the audit log),
    ``phonebooks`` (tenant phonebooks), ``sip_users`` (tenants' SIP users),
    ``accounts`` (web UI accounts and sessions) and ``summary`` (the fleet's
    counts, read only).
    """

    def __init__(self, engine: Engine, catalog: Catalog) -> None:
        self.engine = engine
        self.tenants = TenantRepository(engine, catalog)
        self.jobs = JobRepository(engine)
        self.addresses = AddressBook(engine)
        self.seen = SeenRepository(engine)
        self.firmware = FirmwareRepository(engine)
        self.rollouts = RolloutRepository(engine)
        self.bans = BanStore(engine)
        self.nonces = NonceCounts(engine)
        self.uploads = UploadRepository(engine)
        self.apikeys = ApiKeyRepository(engine)
        self.audit = AuditLog(engine)
        self.phonebooks = PhonebookRepository(engine)
        self.sip_users = SipUserRepository(engine)
        self.accounts = AccountRepository(engine)
        self.summary = SummaryRepository(engine)

    @classmethod
    def open(cls, url: str, catalog: Catalog) -> Store:
        """Connect and run pending migrations."""
        return cls.migrated(connect(url), catalog)

    @classmethod
    def migrated(cls, engine: Engine, catalog: Catalog) -> Store:
        """The store over ``engine`` (from :func:`provisioner.store.connect`), migrated first."""
        migrate(engine)
        return cls(engine, catalog)

    def close(self) -> None:
        """Release database connections."""
        self.nonces.close()
        self.engine.dispose()
