"""Web UI accounts and their sessions in the database (hashes and digests only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from provisioner.audit import AuditEntry
from provisioner.errors import ConflictError, NotFoundError
from provisioner.store import _tables as t
from provisioner.store._audit import record_audit

__all__ = ["AccountRecord", "AccountRepository", "SessionRecord"]


@dataclass(frozen=True, slots=True)
class AccountRecord:
    """One account as stored (``password_hash``: the argon2id encoded hash)."""

    id: int
    name: str
    password_hash: str
    role: str
    tenant: str | None
    created_at: float
    created_by: str
    failures: int
    throttled_until: float | None


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A live session: whose it is, its CSRF token, when it ends."""

    digest: str
    account: AccountRecord
    csrf: str
    created_at: float
    expires_at: float


def _select() -> Select[Any]:
    a = t.ui_accounts
    return select(a, t.tenants.c.name.label("tenant_name")).outerjoin(
        t.tenants, t.tenants.c.id == a.c.tenant_id
    )


def _record(row: object) -> AccountRecord:
    r = row._mapping  # type: ignore[attr-defined]
    return AccountRecord(
        id=r["id"],
        name=r["name"],
        password_hash=r["password_hash"],
        role=r["role"],
        tenant=r["tenant_name"],
        created_at=r["created_at"],
        created_by=r["created_by"],
        failures=r["failures"],
        throttled_until=r["throttled_until"],
    )


class AccountRepository:
    """Reads and writes ``ui_accounts`` and ``ui_sessions``; audit entries in the same
    transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self,
        *,
        name: str,
        password_hash: str,
        role: str,
        tenant: str | None,
        created_at: float,
        created_by: str,
        audit: Sequence[AuditEntry] = (),
    ) -> int:
        """Store a new account; its id.

        :raises NotFoundError: ``tenant`` does not exist.
        :raises ConflictError: an account of that name exists.
        """
        try:
            with self.engine.begin() as conn:
                tenant_id = None
                if tenant is not None:
                    tenant_id = conn.execute(
                        select(t.tenants.c.id).where(t.tenants.c.name == tenant)
                    ).scalar()
                    if tenant_id is None:
                        raise NotFoundError(f"no tenant named {tenant!r}")
                key = conn.execute(
                    insert(t.ui_accounts).values(
                        name=name,
                        password_hash=password_hash,
                        role=role,
                        tenant_id=tenant_id,
                        created_at=created_at,
                        created_by=created_by,
                        failures=0,
                    )
                ).inserted_primary_key
                assert key is not None
                record_audit(conn, audit)
                return int(key[0])
        except IntegrityError:
            raise ConflictError(f"an account named {name!r} exists") from None

    def by_name(self, name: str) -> AccountRecord | None:
        """The account called ``name``."""
        with self.engine.connect() as conn:
            row = conn.execute(_select().where(t.ui_accounts.c.name == name)).first()
        return None if row is None else _record(row)

    def get(self, name: str) -> AccountRecord:
        """The account called ``name``.

        :raises NotFoundError: there is none.
        """
        found = self.by_name(name)
        if found is None:
            raise NotFoundError(f"no account named {name!r}")
        return found

    def all(self) -> list[AccountRecord]:
        """Every account, by name."""
        with self.engine.connect() as conn:
            rows = conn.execute(_select().order_by(t.ui_accounts.c.name)).all()
        return [_record(row) for row in rows]

    def set_password(
        self, account_id: int, password_hash: str, audit: Sequence[AuditEntry] = ()
    ) -> None:
        """Replace an account's hash, end its sessions and clear its throttling."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.ui_accounts)
                .where(t.ui_accounts.c.id == account_id)
                .values(password_hash=password_hash, failures=0, throttled_until=None)
            )
            conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.account_id == account_id))
            record_audit(conn, audit)

    def remove(self, account_id: int, audit: Sequence[AuditEntry] = ()) -> None:
        """Delete an account with its sessions."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.account_id == account_id))
            conn.execute(delete(t.ui_accounts).where(t.ui_accounts.c.id == account_id))
            record_audit(conn, audit)

    def failed(self, account_id: int, throttled_until: float | None) -> None:
        """Count a wrong password; ``throttled_until``: no login is tried before then."""
        a = t.ui_accounts
        with self.engine.begin() as conn:
            conn.execute(
                update(a)
                .where(a.c.id == account_id)
                .values(failures=a.c.failures + 1, throttled_until=throttled_until)
            )

    def succeeded(self, account_id: int, rehashed: str | None = None) -> None:
        """Clear the failure count after a good password (and store a fresher hash)."""
        values: dict[str, Any] = {"failures": 0, "throttled_until": None}
        if rehashed is not None:
            values["password_hash"] = rehashed
        with self.engine.begin() as conn:
            conn.execute(
                update(t.ui_accounts).where(t.ui_accounts.c.id == account_id).values(**values)
            )

    def open_session(
        self, *, digest: str, account_id: int, csrf: str, created_at: float, expires_at: float
    ) -> None:
        """Store a new session (and drop every expired one: the table stays small)."""
        s = t.ui_sessions
        with self.engine.begin() as conn:
            conn.execute(delete(s).where(s.c.expires_at <= created_at))
            conn.execute(
                insert(s).values(
                    digest=digest,
                    account_id=account_id,
                    csrf=csrf,
                    created_at=created_at,
                    expires_at=expires_at,
                )
            )

    def session(self, digest: str, now: float) -> SessionRecord | None:
        """The unexpired session whose token hashes to ``digest``, with its account."""
        s = t.ui_sessions
        query = (
            _select()
            .add_columns(s.c.digest, s.c.csrf, s.c.created_at.label("opened"), s.c.expires_at)
            .join(s, s.c.account_id == t.ui_accounts.c.id)
            .where(s.c.digest == digest, s.c.expires_at > now)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        r = row._mapping
        return SessionRecord(r["digest"], _record(row), r["csrf"], r["opened"], r["expires_at"])

    def extend(self, digest: str, expires_at: float) -> None:
        """Move a session's end (sliding idle expiry)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(t.ui_sessions)
                .where(t.ui_sessions.c.digest == digest)
                .values(expires_at=expires_at)
            )

    def close_session(self, digest: str) -> None:
        """End a session (logout)."""
        with self.engine.begin() as conn:
            conn.execute(delete(t.ui_sessions).where(t.ui_sessions.c.digest == digest))
