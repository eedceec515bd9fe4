"""API keys: create (the key is shown once), check, list, revoke; roles.

A key is ``prov_<lookup>_<secret>``: 12 hex digits that find its row, and
256 random bits. Only ``HMAC-SHA256(pepper, key)`` is stored, where the
pepper is derived from the server's device key (also in the database, so
every node checks keys alike). A slow password hash (bcrypt, Argon2) exists
to make guessing *low-entropy* secrets expensive; a 256-bit random key
cannot be guessed at any speed, so a fast keyed hash loses nothing and
costs microseconds per request instead of tens of milliseconds. The digest
is compared with :func:`hmac.compare_digest`, and a key whose lookup part
matches no row costs the same HMAC, so neither timing tells anything.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from provisioner.actor import Actor
from provisioner.audit import entry_for
from provisioner.chars import check_text
from provisioner.errors import InputError
from provisioner.store import ApiKeyRecord, Store

__all__ = [
    "ApiKeys",
    "CreatedKey",
    "Role",
    "Verified",
    "at_least",
    "principal_role",
    "valid_name",
]

_FORM = re.compile(r"prov_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def valid_name(name: str) -> bool:
    """Whether ``name`` may name a key or a web UI account."""
    return _NAME.fullmatch(name) is not None


def principal_role(name: str, role: str, tenant: str | None, kind: str) -> Role:
    """The role of a new key or account (``kind``), after the rules both follow.

    :raises InputError: a bad name, an unknown role, or an admin limited to a tenant.
    """
    check_text(name, f"{kind} name")
    if not valid_name(name):
        raise InputError(
            f"invalid {kind} name {name!r}: 1 to 64 letters, digits and . _ @ -, "
            "starting with a letter or digit"
        )
    try:
        chosen = Role(role)
    except ValueError:
        raise InputError(f"invalid role {role!r}: expected admin, operator or viewer") from None
    if chosen is Role.ADMIN and tenant is not None:
        raise InputError(f"an admin {kind} cannot be limited to a tenant; use operator or viewer")
    return chosen


# last_used_at is written at most this often per key (not on every request).
_USED_EVERY = 60.0


class Role(StrEnum):
    """What a key may do (docs/api.md, "Roles")."""

    ADMIN = "admin"  # everything: keys, tenants, firmware, rollouts
    OPERATOR = "operator"  # phones, lines, groups, settings, send-profiles, claims in its tenant
    VIEWER = "viewer"  # reads only, secrets masked


_RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


def at_least(role: Role, wanted: Role) -> bool:
    """Whether ``role`` may do what ``wanted`` may (admin > operator > viewer)."""
    return _RANK[role] >= _RANK[wanted]


@dataclass(frozen=True, slots=True)
class Verified:
    """A key that checked out: who it is and what it may do."""

    id: int
    name: str
    role: Role
    tenant: str | None


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key's record and the key itself (shown once, never stored)."""

    record: ApiKeyRecord
    key: str


class ApiKeys:
    """API keys over the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pepper = hmac.new(
            store.tenants.device_key(), b"provisioner api key", hashlib.sha256
        ).digest()
        self._used: dict[int, float] = {}

    def _digest(self, key: str) -> str:
        return hmac.new(self._pepper, key.encode("ascii"), hashlib.sha256).hexdigest()

    def create(
        self,
        name: str,
        role: str,
        actor: Actor,
        *,
        tenant: str | None = None,
        expires_days: float | None = None,
        now: float | None = None,
    ) -> CreatedKey:
        """Make a key; the returned :class:`CreatedKey` holds the only copy of it.

        :raises InputError: bad name, role or expiry.
        :raises NotFoundError: no such tenant.
        """
        chosen = principal_role(name, role, tenant, "key")
        if expires_days is not None and not 0 < expires_days <= 3650:
            raise InputError(f"--expires {expires_days:g}: must be 1 to 3650 days")
        now = time.time() if now is None else now
        lookup = secrets.token_hex(6)
        key = f"prov_{lookup}_{secrets.token_urlsafe(32)}"
        expires = None if expires_days is None else now + expires_days * 86400
        audit = entry_for(
            actor,
            "apikey.create",
            "apikeys",
            f"apikey {name}",
            tenant=tenant,
            after={"name": name, "role": chosen.value, "tenant": tenant, "expires_at": expires},
        )
        key_id = self.store.apikeys.create(
            lookup=lookup,
            digest=self._digest(key),
            name=name,
            role=chosen.value,
            tenant=tenant,
            created_at=now,
            created_by=str(actor),
            expires_at=expires,
            audit=[audit],
        )
        return CreatedKey(self.store.apikeys.get(key_id), key)

    def verify(self, key: str, now: float | None = None) -> Verified | None:
        """The key's identity, or ``None`` (unknown, malformed, revoked or expired)."""
        now = time.time() if now is None else now
        found = _FORM.fullmatch(key)
        if found is None:
            return None
        digest = self._digest(key)
        record = self.store.apikeys.by_lookup(found.group(1))
        if record is None or not hmac.compare_digest(record.digest, digest):
            return None
        if record.revoked_at is not None or (
            record.expires_at is not None and record.expires_at <= now
        ):
            return None
        if now - self._used.get(record.id, 0.0) >= _USED_EVERY:
            self._used[record.id] = now
            self.store.apikeys.used(record.id, now)
        return Verified(record.id, record.name, Role(record.role), record.tenant)

    def revoke(self, key_id: int, actor: Actor, now: float | None = None) -> bool:
        """Revoke a key (False: it was already); recorded in the audit log."""
        record = self.store.apikeys.get(key_id)
        audit = entry_for(
            actor,
            "apikey.revoke",
            f"apikey:{key_id}",
            f"apikey {record.name}",
            tenant=record.tenant,
            before={"revoked": False},
            after={"revoked": True},
        )
        return self.store.apikeys.revoke(key_id, time.time() if now is None else now, [audit])
