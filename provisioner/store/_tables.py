"""Database tables (SQLAlchemy Core). Alembic migrations create and change them.

Setting values are stored sparsely, one row per value set, in a table per
scope so that foreign keys cascade and a value can never outlive its owner.
Values are JSON text so booleans, integers and strings keep their type on
both SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "api_keys",
    "audit_log",
    "change_feed",
    "digest_nonce_counts",
    "firmware_files",
    "firmware_sets",
    "group_members",
    "group_settings",
    "groups",
    "line_settings",
    "lines",
    "metadata",
    "notify_jobs",
    "notify_pacing",
    "notify_targets",
    "pending",
    "phone_settings",
    "phone_uploads",
    "phonebook_entries",
    "phonebooks",
    "phones",
    "rollout_phones",
    "rollouts",
    "seen",
    "server_keys",
    "sip_users",
    "tenant_settings",
    "tenants",
    "ui_accounts",
    "ui_sessions",
]

# Explicit constraint names keep migrations identical on both dialects.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("sip_domain", String(253), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    # Bumped in the transaction of every change to the tenant or anything
    # under it; servers poll it to invalidate their caches.
    Column("revision", Integer, nullable=False, default=0, server_default="0"),
    Column("changed_at", Integer, nullable=False, default=0, server_default="0"),  # Unix time
)

groups = Table(
    "phone_groups",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("weight", Integer, nullable=False, default=0),
    UniqueConstraint("tenant_id", "name"),
)

phones = Table(
    "phones",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("mac", String(12), nullable=False, unique=True),
    Column("model", String(64), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    Column("enabled", Boolean, nullable=False, default=True),
    CheckConstraint("length(mac) = 12", name="mac_length"),
)

group_members = Table(
    "phone_group_members",
    metadata,
    Column("phone_id", ForeignKey("phones.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("phone_groups.id", ondelete="CASCADE"), primary_key=True),
)

lines = Table(
    "lines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone_id", ForeignKey("phones.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("auth_user", String(128), nullable=False, default=""),
    Column("password", String(128), nullable=False, default=""),
    Column("display_name", String(255), nullable=False, default=""),
    Column("label", String(255), nullable=False, default=""),
    UniqueConstraint("phone_id", "position"),
    CheckConstraint("position >= 1", name="position_positive"),
)


def _settings_table(name: str, owner: str, owner_table: str, lockable: bool) -> Table:
    columns: list[Column[Any]] = [
        Column(
            f"{owner}_id", ForeignKey(f"{owner_table}.id", ondelete="CASCADE"), primary_key=True
        ),
        Column("name", String(255), primary_key=True),
        Column("value", Text, nullable=False),
    ]
    if lockable:
        columns.append(Column("locked", Boolean, nullable=False, default=False))
    return Table(name, metadata, *columns)


tenant_settings = _settings_table("tenant_settings", "tenant", "tenants", lockable=True)
group_settings = _settings_table("group_settings", "group", "phone_groups", lockable=True)
phone_settings = _settings_table("phone_settings", "phone", "phones", lockable=False)
line_settings = _settings_table("line_settings", "line", "lines", lockable=False)

# What phones asked for, one row per (client, protocol, path): bounded by the
# set of paths phones use, and pruned to a maximum row count. The client key
# is the MAC when one is known, else the address.
seen = Table(
    "seen",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_key", String(64), nullable=False),
    Column("mac", String(12), nullable=True),
    Column("address", String(64), nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("path", String(255), nullable=False),
    Column("user_agent", String(255), nullable=False, default=""),
    Column("vendor", String(32), nullable=False, default=""),
    Column("model", String(64), nullable=False, default=""),
    Column("firmware", String(64), nullable=False, default=""),
    Column("status", String(16), nullable=False),
    Column("known", Boolean, nullable=False, default=False),
    Column("count", Integer, nullable=False, default=1),
    Column("first_seen", Integer, nullable=False),
    Column("last_seen", Integer, nullable=False, index=True),
    # The ETag of the file served with the latest 200 ("" otherwise): what a preview
    # compares the phone's last fetch with.
    Column("etag", String(32), nullable=False, default="", server_default=""),
    UniqueConstraint("client_key", "protocol", "path"),
)

# Unknown phones held under a tenant's quarantine policy until claimed, or rejected.
pending = Table(
    "pending_devices",
    metadata,
    Column("mac", String(12), primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("vendor", String(32), nullable=False, default=""),
    Column("model", String(64), nullable=False, default=""),
    Column("firmware", String(64), nullable=False, default=""),
    Column("address", String(64), nullable=False, default=""),
    Column("user_agent", String(255), nullable=False, default=""),
    Column("first_seen", Integer, nullable=False),
    Column("last_seen", Integer, nullable=False),
    # Set when an admin rejected it: the record stays so that the device is not
    # held (or auto-registered) again, and the decision shows who and when.
    Column("rejected_at", Integer, nullable=True),
    Column("rejected_by", String(128), nullable=False, default="", server_default=""),
)

# Send-profiles jobs and their per-phone targets (docs/notify.md). A target
# is claimed by a runner for a lease; a runner that dies leaves the lease to
# expire and the target goes back to the queue (its attempt already counted).
notify_jobs = Table(
    "notify_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("selector", String(255), nullable=False),  # what was asked for, e.g. "group acme/sales"
    Column("event", String(8), nullable=False),  # resync | reboot
    Column("state", String(12), nullable=False),  # running | done | cancelled
    Column("created_at", Float, nullable=False),
    Column("not_before", Float, nullable=False),  # the regeneration delay
    Column("finished_at", Float, nullable=True),
)

notify_targets = Table(
    "notify_targets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", ForeignKey("notify_jobs.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("mac", String(12), nullable=False),
    Column("tenant_id", Integer, nullable=False),
    Column("event", String(8), nullable=False),
    # queued | sending | ok | confirmed | unconfirmed | failed | cancelled | coalesced
    Column("state", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_at", Float, nullable=False),
    Column("lease_until", Float, nullable=True),
    Column("status", Integer, nullable=True),  # last SIP status
    Column("reason", String(255), nullable=False, default=""),
    Column("sent_at", Float, nullable=True),
    Column("done_at", Float, nullable=True),
    Column("confirm_until", Float, nullable=True),
    Index("ix_notify_targets_due", "state", "next_at"),
    # A tenant's queue in claim order (the runner's rounds; docs/cluster.md).
    Index("ix_notify_targets_tenant_queue", "tenant_id", "state", "id"),
)

# Device files (docs/firmware.md): a set is a vendor's firmware release or a
# bundle of unmanaged files under a label; its files live in the firmware
# storage under ``storage_key``. Only active sets are served and rendered;
# an active set cannot be changed or removed.
firmware_sets = Table(
    "firmware_sets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("vendor", String(16), nullable=False),
    Column("label", String(64), nullable=False),
    Column("kind", String(12), nullable=False),  # firmware | unmanaged
    Column("description", String(255), nullable=False, default=""),
    Column("version", String(32), nullable=False, default=""),  # as phones report it
    Column("active", Boolean, nullable=False, default=False),
    Column("storage_key", String(64), nullable=False, unique=True),
    Column("upload_name", String(255), nullable=False),
    Column("upload_sha256", String(64), nullable=False),
    Column("total_bytes", BigInteger, nullable=False),
    Column("created_at", Float, nullable=False),
    UniqueConstraint("vendor", "label", name="uq_firmware_sets_vendor_label"),
)

firmware_files = Table(
    "firmware_files",
    metadata,
    Column("set_id", ForeignKey("firmware_sets.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
)

# Staged firmware rollouts (docs/firmware.md): the label is pinned at phone
# scope wave by wave; each phone's progress is a row, so a restarted server
# carries on where it stopped.
rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("vendor", String(16), nullable=False),
    Column("label", String(64), nullable=False),
    Column("selector", String(255), nullable=False),  # e.g. "group acme/sales"
    Column("canary", Integer, nullable=False),
    Column("growth", Float, nullable=False),
    Column("threshold", Float, nullable=False),  # share of a wave that must come back
    Column("wave_seconds", Float, nullable=False),  # deadline per wave
    # running | halted | done | rolled_back
    Column("state", String(12), nullable=False),
    Column("wave", Integer, nullable=False, default=0),
    Column("wave_started_at", Float, nullable=True),
    Column("reason", String(255), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
    Column("finished_at", Float, nullable=True),
)

rollout_phones = Table(
    "rollout_phones",
    metadata,
    Column("rollout_id", ForeignKey("rollouts.id", ondelete="CASCADE"), primary_key=True),
    Column("mac", String(12), primary_key=True),
    Column("tenant_id", Integer, nullable=False),
    Column("position", Integer, nullable=False),  # order of the waves
    Column("wave", Integer, nullable=True),  # None until the phone's wave starts
    # pending | waiting | upgraded | failed | skipped | restored
    Column("state", String(12), nullable=False),
    Column("previous", String(64), nullable=True),  # its phone-scope label before, if any
    Column("reported", String(64), nullable=False, default=""),  # last firmware it reported
    Column("reason", String(255), nullable=False, default=""),
    Column("updated_at", Float, nullable=False),
)

server_keys = Table(
    "server_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)

# Addresses banned for failed lookups (docs/security.md): kept here so a ban
# survives a restart and holds on every node sharing the database. Failures
# are counted in each node's memory; only the resulting bans are written.
bans = Table(
    "bans",
    metadata,
    Column("address", String(64), primary_key=True),
    Column("until", Float, nullable=False, index=True),
    Column("reason", String(64), nullable=False, default=""),
    Column("created_at", Float, nullable=False),
)

# Digest nonce counts used by any node (docs/cluster.md): a row per (nonce,
# nc) accepted, so an Authorization answer used on one node is refused on
# every other. Rows go when the nonce expires (``expires`` is its end).
digest_nonce_counts = Table(
    "digest_nonce_counts",
    metadata,
    Column("nonce", String(96), primary_key=True),
    Column("nc", BigInteger, primary_key=True),
    Column("expires", Float, nullable=False, index=True),
)

# Files phones upload (``-phone.cfg``, logs; docs/cluster.md): small, per
# phone and name, kept in the database so every node serves what one took.
# Size limits are the catalog's, enforced before a row is written.
phone_uploads = Table(
    "phone_uploads",
    metadata,
    Column("mac", String(12), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("data", LargeBinary, nullable=False),
    Column("updated_at", Float, nullable=False),
)

# NOTIFY pacing per tenant for the whole cluster (docs/cluster.md): the
# token bucket of ``notify.rate`` (``next_at``: when the next NOTIFY may
# start) and ``notify.max_in_flight`` (``sending`` targets), advanced in the
# same transaction that claims targets, so nodes share one rate.
notify_pacing = Table(
    "notify_pacing",
    metadata,
    Column("tenant_id", Integer, primary_key=True),
    Column("next_at", Float, nullable=False),
)

# Where each phone last fetched its own files from, admitted (authenticated
# where it needs it, inside its allowlists, over an allowed transport): the
# destination of direct check-sync NOTIFYs. Only admitted fetches write here,
# never a challenged or refused request (docs/security.md).
phone_addresses = Table(
    "phone_addresses",
    metadata,
    Column("mac", String(12), primary_key=True),
    Column("address", String(64), nullable=False),
    Column("protocol", String(8), nullable=False),
    Column("admitted_at", Integer, nullable=False),
)

# Admin API keys (docs/api.md): only a keyed hash of each key is stored; the
# key's ``lookup`` part finds the row, the digest is compared in constant time.
# A tenant-scoped key goes with its tenant.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("lookup", String(16), nullable=False, unique=True),
    Column("digest", String(64), nullable=False),  # hex HMAC-SHA256 of the whole key
    Column("name", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # admin | operator | viewer
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
    Column("last_used_at", Float, nullable=True),
)

# Web UI accounts (docs/ui.md): an argon2id hash of each password, never the
# password; roles and tenant scoping as for API keys. ``failures`` counts the
# wrong passwords since the last good one (login throttling).
ui_accounts = Table(
    "ui_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),  # admin | operator | viewer
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("created_by", String(128), nullable=False),
    Column("failures", Integer, nullable=False, default=0),
    Column("throttled_until", Float, nullable=True),
)

# Web UI sessions, kept server side: the cookie holds a random token, the row
# only its SHA-256 (a copy of the table opens no session), with the session's
# CSRF token and when it expires.
ui_sessions = Table(
    "ui_sessions",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("account_id", ForeignKey("ui_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False, index=True),
)

# Every write, by whom (docs/api.md, "Audit log"). ``before`` and ``after``
# are JSON objects of the changed fields with secrets redacted. No foreign
# keys: an entry outlives the key, tenant or phone it names.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", Float, nullable=False, index=True),
    Column("actor_kind", String(8), nullable=False),  # api | cli | server
    Column("actor", String(128), nullable=False),
    Column("key_id", Integer, nullable=True),
    Column("request_id", String(64), nullable=False),
    Column("action", String(32), nullable=False),
    Column("scope", String(255), nullable=False),
    Column("entity", String(255), nullable=False),
    Column("tenant", String(64), nullable=True, index=True),
    Column("mac", String(12), nullable=True, index=True),
    Column("dry_run", Boolean, nullable=False),
    Column("before", Text, nullable=False),
    Column("after", Text, nullable=False),
)

# What each revision of a tenant changed, written in the transaction that
# bumps the revision (provisioner.store._feed), so a server re-renders only
# the phones a change reaches. ``kind`` is ``tenant`` (everything under it:
# ``key`` empty), ``group`` (its member phones: ``key`` is the group id),
# ``phone`` (``key`` is the MAC), ``dir`` (the tenant directory: the phones
# that show it) or ``none`` (no phone, say a new empty group). A revision
# with no row here (rows pruned, or a write that records none) means "the
# whole tenant".
change_feed = Table(
    "change_feed",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("key", String(64), nullable=False),
    Index("ix_change_feed_tenant_revision", "tenant_id", "revision"),
)


# Tenant phonebooks (docs/phonebooks.md): named lists of contacts that phones
# get through the `phonebooks` setting. An entry's numbers are JSON text,
# [[kind, number], ...], at most one per kind.
phonebooks = Table(
    "phonebooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("description", String(255), nullable=False, default=""),
    UniqueConstraint("tenant_id", "name"),
)

phonebook_entries = Table(
    "phonebook_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phonebook_id", ForeignKey("phonebooks.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("first_name", String(64), nullable=False, default=""),
    Column("last_name", String(64), nullable=False, default=""),
    Column("organisation", String(128), nullable=False, default=""),
    Column("numbers", Text, nullable=False),
    UniqueConstraint("phonebook_id", "position"),
)


# A tenant's SIP users (docs/sipxcom.md): in sipXcom a line refers to a user,
# whose name, SIP password and names a line takes. ``aliases`` is a JSON list,
# ``attributes`` a JSON object of what provisioner does not model (voicemail
# PIN, e-mail, addresses ...: sipXcom's CSV columns by name), kept to be given
# back. Lines keep their own copy of the credentials: the service layer writes
# a user's changes through to its lines (provisioner.sip_users).
sip_users = Table(
    "sip_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("tenant_id", ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("user_name", String(128), nullable=False),
    Column("password", String(128), nullable=False, default=""),
    Column("first_name", String(255), nullable=False, default=""),
    Column("last_name", String(255), nullable=False, default=""),
    Column("auth_user", String(128), nullable=False, default=""),
    Column("aliases", Text, nullable=False, default="[]"),
    Column("attributes", Text, nullable=False, default="{}"),
    UniqueConstraint("tenant_id", "user_name"),
)
