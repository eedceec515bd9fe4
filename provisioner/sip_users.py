"""A tenant's SIP users, the service layer: put (create or update), get, list, remove.

In sipXcom a line refers to a *user*: the user's name is the line's SIP
user, and the line takes the user's SIP password, first and last name (its
display name) and authentication name. provisioner keeps those users per
tenant (:class:`~provisioner.store.SipUser`) with what it does not model —
voicemail PIN, e-mail, addresses, sipXcom's other CSV columns — as opaque
``attributes``, so an export gives them back (docs/sipxcom.md).

Lines keep their own copy of the credentials (rendering reads lines, never
users). A change of a user's password, names or authentication name is
written through to every line of the tenant that names the user, by the
same edits as any line change (:mod:`provisioner.edits`), so the lines are
validated, audited and reach the change feed as usual, in the same
transaction as the user.

Every write is audited (``sip_user.create``, ``sip_user.update``,
``sip_user.remove``) with secrets — the SIP password and the attributes in
:data:`SECRET_ATTRIBUTES` — shown as ``(set)``; :func:`user_view` masks them
for callers that may not read secrets. Nothing here logs a user.

Writes run in the caller's transaction when its :class:`Edits` write
through a :class:`~provisioner.store.TenantSession` (a change set, a
preview, a CSV import), else in one of their own; an actor's ``dry_run`` is
rolled back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from provisioner.actor import Actor
from provisioner.audit import AuditEntry, changed, entry_for
from provisioner.chars import check_text
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.masking import MASK
from provisioner.state import LineState
from provisioner.store import (
    Changes,
    LineRef,
    SipUser,
    SipUserTable,
    Store,
    TenantSession,
)
from provisioner.validate import check_credential, check_free_text, check_sip_user

__all__ = [
    "SECRET_ATTRIBUTES",
    "LineRef",
    "SipUser",
    "UserChange",
    "check_user",
    "clashing_names",
    "get_user",
    "line_for",
    "line_update",
    "lines_of_user",
    "list_users",
    "put_user",
    "put_users",
    "remove_user",
    "secret_path",
    "user_entry",
    "user_view",
]

T = TypeVar("T")

# sipXcom's CSV columns holding secrets (seed 003 §7.5.4): the user's web PIN
# and voicemail PIN. Masked like the SIP password, never in the audit log.
SECRET_ATTRIBUTES = frozenset({"PIN", "Voicemail PIN"})
MAX_ATTRIBUTE = 1024  # characters of one opaque attribute value
MAX_ALIASES = 32


@dataclass(frozen=True, slots=True)
class UserChange:
    """A change of a user; ``None`` keeps a field as it is (a new user: empty).

    ``attributes`` are merged into the stored ones: a name given with an
    empty value removes that attribute.
    """

    password: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    auth_user: str | None = None
    aliases: Sequence[str] | None = None
    attributes: Mapping[str, str] | None = None

    def applied_to(self, user: SipUser) -> SipUser:
        """``user`` with this change."""
        attributes = dict(user.attributes)
        for name, value in (self.attributes or {}).items():
            if value:
                attributes[name] = value
            else:
                attributes.pop(name, None)
        return SipUser(
            user.user_name,
            _keep(self.password, user.password),
            _keep(self.first_name, user.first_name),
            _keep(self.last_name, user.last_name),
            _keep(self.auth_user, user.auth_user),
            user.aliases if self.aliases is None else tuple(self.aliases),
            dict(sorted(attributes.items())),
        )


def _keep(new: str | None, old: str) -> str:
    return old if new is None else new


def check_user(user: SipUser) -> None:
    """Refuse a user whose fields no line or phone file could carry, naming the field.

    :raises InputError: naming the field and what is wrong with it.
    """
    check_sip_user(user.user_name, "user name")
    check_credential(user.password, "SIP password")
    check_free_text(user.first_name, "first name")
    check_free_text(user.last_name, "last name")
    check_free_text(user.display_name, "display name (first and last name)")
    if user.auth_user:
        check_sip_user(user.auth_user, "auth account name")
    if len(user.aliases) > MAX_ALIASES:
        raise InputError(
            f"user {user.user_name} has {len(user.aliases)} aliases; at most {MAX_ALIASES}"
        )
    for alias in user.aliases:
        check_sip_user(alias, "user alias")
        if alias == user.user_name:
            raise InputError(f"user alias {alias!r} is the user's own name")
    if len(set(user.aliases)) != len(user.aliases):
        raise InputError(f"user {user.user_name} lists an alias twice")
    for name, value in user.attributes.items():
        check_text(name, "attribute name")
        if not name or len(name) > 64:
            raise InputError(f"attribute name {name!r}: 1 to 64 characters")
        check_text(value, f"attribute {name!r}", controls=True)
        if len(value) > MAX_ATTRIBUTE:
            raise InputError(
                f"attribute {name!r} is {len(value)} characters long; "
                f"the maximum is {MAX_ATTRIBUTE}"
            )


def clashing_names(users: Mapping[str, SipUser]) -> list[str]:
    """Problems where a user's name or alias is another user's name or alias (one
    namespace per tenant, as in sipXcom), each naming both users."""
    owner: dict[str, str] = {}
    problems: list[str] = []
    for user in sorted(users.values(), key=lambda u: u.user_name):
        for name in (user.user_name, *user.aliases):
            other = owner.setdefault(name, user.user_name)
            if other != user.user_name:
                problems.append(
                    f"{name!r} is both a name or alias of user {other} and of user {user.user_name}"
                )
    return problems


def user_view(user: SipUser, *, reveal_secrets: bool = False) -> dict[str, Any]:
    """A user as shown: secrets as :data:`~provisioner.masking.MASK` unless ``reveal_secrets``.

    An empty secret stays empty, so "not set" can be told from "set".
    """

    def shown(name: str, value: str) -> str:
        secret = name == "password" or name in SECRET_ATTRIBUTES
        return MASK if secret and value and not reveal_secrets else value

    return {
        "user_name": user.user_name,
        "password": shown("password", user.password),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": user.display_name,
        "auth_user": user.auth_user,
        "aliases": list(user.aliases),
        "attributes": {k: shown(k, v) for k, v in sorted(user.attributes.items())},
    }


def line_for(user: SipUser, position: int = 0, *, label: str = "") -> LineState:
    """A line made from ``user`` (position 0: the first free one, see ``edits.lines.add``)."""
    return LineState(
        position,
        user.user_name,
        auth_user=user.auth_user,
        password=user.password,
        display_name=user.display_name,
        label=label,
    )


# --- reads ---------------------------------------------------------------


def get_user(store: Store, tenant: str, user_name: str) -> SipUser:
    """One user of the tenant; :class:`NotFoundError` naming it when there is none."""
    user = store.sip_users.get(tenant, user_name)
    if user is None:
        raise NotFoundError(f"tenant {tenant} has no user {user_name!r}")
    return user


def list_users(
    store: Store, tenant: str, *, limit: int | None = None, offset: int = 0
) -> list[SipUser]:
    """The tenant's users by name (a page of them, with ``limit``)."""
    return store.sip_users.page(tenant, limit=limit, offset=offset)


def lines_of_user(store: Store, tenant: str, user_name: str) -> list[LineRef]:
    """The tenant's lines whose user is ``user_name``, by MAC and position."""
    return store.sip_users.lines_of(tenant, [user_name]).get(user_name, [])


# --- writes --------------------------------------------------------------


def put_user(
    store: Store, edits: Edits, tenant: str, user_name: str, change: UserChange
) -> tuple[SipUser, bool]:
    """Create user ``user_name`` or change it (fields ``None`` in ``change`` are kept).

    A changed password, name or authentication name is written to the
    user's lines in the same transaction. Returns the user and whether it
    was new.

    :raises InputError: a field is invalid, or a name or alias is another user's.
    """
    check_sip_user(user_name, "user name")

    def work(session: TenantSession, within: Edits, table: SipUserTable) -> tuple[SipUser, bool]:
        old = table.get(tenant, user_name)
        new = change.applied_to(old if old is not None else SipUser(user_name))
        put_users(session, within, table, tenant, {user_name: new}, {user_name: old} if old else {})
        return new, old is None

    return _in_session(store, edits, work)


def put_users(
    session: TenantSession,
    edits: Edits,
    table: SipUserTable,
    tenant: str,
    users: Mapping[str, SipUser],
    stored: Mapping[str, SipUser],
    *,
    lines: Mapping[str, Sequence[LineRef]] | None = None,
) -> Changes:
    """Write ``users`` (whole, by name) of ``tenant`` in ``session``'s transaction, with
    their audit entries, and write their changes through to their lines.

    ``stored`` holds the stored users among them (what the caller read, in
    this transaction); ``lines`` their lines by user name, when the caller
    knows them (else they are read). Every user is checked first; an alias
    or name used by another user of the tenant is refused.
    """
    for user in users.values():
        check_user(user)
    changed_users = {n: u for n, u in users.items() if stored.get(n) != u}
    if not changed_users:
        return Changes()
    _check_namespace(table, tenant, changed_users)
    written = table.save(tenant, changed_users.values())
    actor = edits.actor
    session.audit.extend(_audit(actor, tenant, stored.get(n), u) for n, u in changed_users.items())
    # Lines take the user's credentials and names: write changed ones through.
    through = {
        n: u
        for n, u in changed_users.items()
        if n in stored and _line_fields(stored[n]) != _line_fields(u)
    }
    if through:
        if lines is None:
            session.flush()  # lines the session changed are looked up as it sees them
            lines = table.lines_of(tenant, list(through))
        for name, user in through.items():
            for ref in lines.get(name, ()):
                edits.lines.update(ref.mac, ref.position, **line_update(stored[name], user))
    return written


def remove_user(store: Store, edits: Edits, tenant: str, user_name: str) -> None:
    """Delete a user no line of the tenant names.

    :raises ConflictError: naming the lines that still use it.
    :raises NotFoundError: when the tenant has no such user.
    """

    def work(session: TenantSession, within: Edits, table: SipUserTable) -> None:
        old = table.get(tenant, user_name)
        if old is None:
            raise NotFoundError(f"tenant {tenant} has no user {user_name!r}")
        session.flush()
        used = table.lines_of(tenant, [user_name]).get(user_name, [])
        if used:
            where = ", ".join(f"line {r.position} of phone {r.mac}" for r in used[:10])
            more = f" and {len(used) - 10} more" if len(used) > 10 else ""
            raise ConflictError(
                f"user {user_name} is the user of {where}{more}: remove those lines first"
            )
        table.delete(tenant, user_name)
        session.audit.append(_audit(within.actor, tenant, old, None))

    _in_session(store, edits, work)


def _in_session(
    store: Store, edits: Edits, work: Callable[[TenantSession, Edits, SipUserTable], T]
) -> T:
    """Run ``work`` in the transaction ``edits`` write through, or in one of its own
    (committed, or rolled back for a dry run)."""
    writer = edits.tenant_writer
    if isinstance(writer, TenantSession):
        return work(writer, edits, store.sip_users.on(writer.conn))
    tenants = store.tenants
    with tenants.session(commit=not edits.actor.dry_run) as session:
        within = Edits(session, tenants.catalog, edits.actor)
        return work(session, within, store.sip_users.on(session.conn))


def _check_namespace(table: SipUserTable, tenant: str, users: Mapping[str, SipUser]) -> None:
    """Refuse names and aliases of ``users`` that another user of the tenant has."""
    merged = table.all(tenant)
    merged.update(users)
    problems = [p for p in clashing_names(merged) if any(f"user {n}" in p for n in users)]
    if problems:
        raise InputError("; ".join(problems))


def _line_fields(user: SipUser) -> tuple[str, str, str]:
    return (user.password, user.display_name, user.auth_user)


def line_update(old: SipUser | None, new: SipUser) -> dict[str, str]:
    """The line fields (of ``edits.lines.update``) a change of a user from ``old`` (``None``:
    new) to ``new`` alters: only those, so what a line holds of its own stays; a new user
    gives its non-empty ones."""
    was = ("", "", "") if old is None else _line_fields(old)
    now = _line_fields(new)
    names = ("password", "display_name", "auth_user")
    return {
        name: value for name, value, before in zip(names, now, was, strict=True) if value != before
    }


def secret_path(path: str) -> bool:
    """Whether a flattened path of a user's entry (``password``, ``attributes.PIN``, also
    under a prefix: ``users.bob.password``) holds a secret."""
    last = path.rsplit(".", 1)[-1]
    return last == "password" or (".attributes." in f".{path}" and last in SECRET_ATTRIBUTES)


def user_entry(user: SipUser | None) -> dict[str, Any] | None:
    """A user as its audit entries compare it (secrets included: :func:`secret_path`)."""
    if user is None:
        return None
    return {
        "user_name": user.user_name,
        "password": user.password,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "auth_user": user.auth_user,
        "aliases": list(user.aliases),
        "attributes": dict(user.attributes),
    }


def _audit(actor: Actor, tenant: str, old: SipUser | None, new: SipUser | None) -> AuditEntry:
    """The audit entry of one user's write (secrets redacted)."""
    user = new or old
    assert user is not None
    before, after = changed(user_entry(old), user_entry(new), secret_path)
    action = (
        "sip_user.create"
        if old is None
        else "sip_user.remove"
        if new is None
        else "sip_user.update"
    )
    return entry_for(
        actor,
        action,
        f"tenant:{tenant}",
        f"user {user.user_name}",
        tenant=tenant,
        before=before,
        after=after,
    )
