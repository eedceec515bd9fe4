"""Web UI accounts: create, change password, remove; log in, sessions, CSRF tokens.

An account is what an API key is for the admin API (:mod:`provisioner.apikeys`):
a name with a role (admin, operator, viewer) and, for operators and viewers,
optionally a tenant. A logged-in session is handed to the same API handlers
as a key's :class:`~provisioner.apikeys.Verified` identity, so the role and
tenant rules are the API's, written once.

Passwords are people's, so they are stored as argon2id hashes (RFC 9106;
argon2-cffi's defaults, its ``RFC_9106_LOW_MEMORY`` profile) and never
logged. A session is a random 256-bit token in a cookie; the database keeps
its SHA-256 only, with its synchronizer CSRF token (OWASP CSRF cheat sheet)
and when it ends: after :data:`IDLE` without a request, or :data:`LONGEST`
after login whatever happens. Login throttling: after :data:`FREE_FAILURES`
wrong passwords in a row an account accepts no attempt for a while, doubling
with each further failure up to :data:`MAX_THROTTLE` (NIST SP 800-63B
5.2.2); the address is also counted towards the server's bans by the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.profiles import RFC_9106_LOW_MEMORY

from provisioner.actor import Actor
from provisioner.apikeys import Role, Verified, principal_role, valid_name
from provisioner.audit import entry_for
from provisioner.chars import check_text
from provisioner.errors import InputError
from provisioner.store import AccountRecord, SessionRecord, Store

__all__ = [
    "FREE_FAILURES",
    "IDLE",
    "LONGEST",
    "MAX_THROTTLE",
    "MIN_PASSWORD",
    "Accounts",
    "Login",
    "LoginRefused",
    "Session",
]

MIN_PASSWORD = 10  # characters (NIST SP 800-63B 5.1.1.2 asks at least 8)
MAX_PASSWORD = 1024  # characters: a bound on the work one login costs
IDLE = 30 * 60.0  # seconds without a request before a session ends
LONGEST = 12 * 3600.0  # seconds after login a session ends regardless
FREE_FAILURES = 5  # wrong passwords in a row before throttling starts
MAX_THROTTLE = 15 * 60.0  # seconds
# A session's end is moved forward at most this often (not on every request).
_EXTEND_EVERY = 60.0


class LoginRefused(StrEnum):
    """Why a login did not open a session (the page says the same for both)."""

    WRONG = "wrong"  # unknown name or wrong password
    THROTTLED = "throttled"  # too many wrong passwords lately


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in session: who (as an API key would be), its CSRF token, when it ends."""

    identity: Verified
    csrf: str
    expires_at: float
    digest: str


@dataclass(frozen=True, slots=True)
class Login:
    """A login's outcome: the new session and its token (the cookie's value), or why not."""

    session: Session | None
    token: str = ""
    refused: LoginRefused | None = None
    retry_after: float = 0.0


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _identity(account: AccountRecord) -> Verified:
    return Verified(account.id, account.name, Role(account.role), account.tenant)


def _check_password(password: str) -> None:
    check_text(password, "password")
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")


class Accounts:
    """Web UI accounts and sessions over the store."""

    def __init__(
        self, store: Store, *, idle: float = IDLE, hasher: PasswordHasher | None = None
    ) -> None:
        self.store = store
        self.idle = idle
        self.hasher = hasher or PasswordHasher.from_parameters(RFC_9106_LOW_MEMORY)
        # Verified when the name is unknown, so a wrong name costs what a wrong password does.
        self._decoy = self.hasher.hash(secrets.token_urlsafe(16))

    def create(
        self,
        name: str,
        role: str,
        password: str,
        actor: Actor,
        *,
        tenant: str | None = None,
        now: float | None = None,
    ) -> AccountRecord:
        """Make an account.

        :raises InputError: bad name, role or password.
        :raises NotFoundError: no such tenant.
        :raises ConflictError: the name is taken.
        """
        chosen = principal_role(name, role, tenant, "account")
        _check_password(password)
        audit = entry_for(
            actor,
            "account.create",
            "accounts",
            f"account {name}",
            tenant=tenant,
            after={"name": name, "role": chosen.value, "tenant": tenant},
        )
        self.store.accounts.create(
            name=name,
            password_hash=self.hasher.hash(password),
            role=chosen.value,
            tenant=tenant,
            created_at=time.time() if now is None else now,
            created_by=str(actor),
            audit=[audit],
        )
        return self.store.accounts.get(name)

    def set_password(self, name: str, password: str, actor: Actor) -> None:
        """Change an account's password; its open sessions end.

        :raises NotFoundError: no such account.
        :raises InputError: the password is too short or too long.
        """
        account = self.store.accounts.get(name)
        _check_password(password)
        audit = entry_for(
            actor,
            "account.passwd",
            f"account:{account.id}",
            f"account {name}",
            tenant=account.tenant,
            before={"password": "(set)"},
            after={"password": "(set)"},
        )
        self.store.accounts.set_password(account.id, self.hasher.hash(password), [audit])

    def remove(self, name: str, actor: Actor) -> None:
        """Delete an account; its open sessions end.

        :raises NotFoundError: no such account.
        """
        account = self.store.accounts.get(name)
        audit = entry_for(
            actor,
            "account.remove",
            f"account:{account.id}",
            f"account {name}",
            tenant=account.tenant,
            before={"name": name, "role": account.role, "tenant": account.tenant},
        )
        self.store.accounts.remove(account.id, [audit])

    def login(self, name: str, password: str, now: float | None = None) -> Login:
        """Check a name and password; a new session when they are right and not throttled."""
        now = time.time() if now is None else now
        account = self.store.accounts.by_name(name) if valid_name(name) else None
        if account is not None and (account.throttled_until or 0.0) > now:
            return Login(None, refused=LoginRefused.THROTTLED,
                         retry_after=(account.throttled_until or now) - now)  # fmt: skip
        good = self._verify(account.password_hash if account else self._decoy, password)
        if account is None or not good:
            if account is not None:
                failures = account.failures + 1
                until = None
                if failures >= FREE_FAILURES:
                    until = now + min(MAX_THROTTLE, 2.0 ** (failures - FREE_FAILURES))
                self.store.accounts.failed(account.id, until)
            return Login(None, refused=LoginRefused.WRONG)
        rehashed = None
        if self.hasher.check_needs_rehash(account.password_hash):
            rehashed = self.hasher.hash(password)
        self.store.accounts.succeeded(account.id, rehashed)
        token = secrets.token_urlsafe(32)
        csrf = secrets.token_urlsafe(32)
        expires = now + min(self.idle, LONGEST)
        digest = _digest(token)
        self.store.accounts.open_session(
            digest=digest, account_id=account.id, csrf=csrf, created_at=now, expires_at=expires
        )
        return Login(Session(_identity(account), csrf, expires, digest), token)

    def password_matches(self, name: str, password: str) -> bool:
        """Whether ``password`` is the account's (no session, no failure counted)."""
        account = self.store.accounts.by_name(name)
        return account is not None and self._verify(account.password_hash, password)

    def _verify(self, encoded: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return self.hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def session(self, token: str, now: float | None = None) -> Session | None:
        """The live session of a cookie's token (its idle expiry moved on), or ``None``."""
        now = time.time() if now is None else now
        if not token or len(token) > 128:
            return None
        found: SessionRecord | None = self.store.accounts.session(_digest(token), now)
        if found is None:
            return None
        expires = found.expires_at
        wanted = min(now + self.idle, found.created_at + LONGEST)
        if wanted - expires >= _EXTEND_EVERY:
            self.store.accounts.extend(found.digest, wanted)
            expires = wanted
        return Session(_identity(found.account), found.csrf, expires, found.digest)

    def logout(self, session: Session) -> None:
        """End a session."""
        self.store.accounts.close_session(session.digest)

    @staticmethod
    def csrf_ok(session: Session, given: str | None) -> bool:
        """Whether a form's CSRF token is the session's (compared in constant time)."""
        return given is not None and hmac.compare_digest(
            session.csrf.encode("ascii"), given.encode("utf-8", "replace")
        )
