"""Web UI accounts and sessions (provisioner/accounts.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from provisioner.accounts import FREE_FAILURES, IDLE, LONGEST, Accounts, LoginRefused
from provisioner.actor import Actor, ActorKind
from provisioner.apikeys import Role
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.store import AuditQuery, Store

PASSWORD = "correct horse battery"
T0 = 1_800_000_000.0


@pytest.fixture
def accounts(store: Store) -> Accounts:
    """Accounts with a cheap argon2id hasher (the parameters are not what is tested here)."""
    Edits.of(store).tenants.add("acme", "acme.example.com")
    return Accounts(store, hasher=PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def test_an_account_logs_in_with_its_role_and_tenant(accounts: Accounts) -> None:
    accounts.create("ops", "operator", PASSWORD, Actor.cli(), tenant="acme", now=T0)
    login = accounts.login("ops", PASSWORD, now=T0)
    assert login.session is not None
    assert login.token
    identity = login.session.identity
    assert (identity.name, identity.role, identity.tenant) == ("ops", Role.OPERATOR, "acme")
    again = accounts.session(login.token, now=T0 + 1)
    assert again is not None
    assert again.identity == identity
    assert again.csrf == login.session.csrf


def test_only_a_hash_of_the_password_and_of_the_token_is_stored(accounts: Accounts) -> None:
    record = accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    assert record.password_hash.startswith("$argon2id$")
    assert PASSWORD not in record.password_hash
    login = accounts.login("ops", PASSWORD, now=T0)
    assert login.session is not None
    assert login.session.digest != login.token
    assert accounts.store.accounts.session(login.token, T0) is None


def test_the_default_hasher_is_argon2id_rfc_9106_low_memory(store: Store) -> None:
    hashed = Accounts(store).hasher.hash(PASSWORD)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_a_wrong_password_or_name_opens_no_session(accounts: Accounts) -> None:
    accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    assert accounts.login("ops", PASSWORD + "x", now=T0).refused is LoginRefused.WRONG
    assert accounts.login("nobody", PASSWORD, now=T0).refused is LoginRefused.WRONG
    assert accounts.login("bad name!", PASSWORD, now=T0).refused is LoginRefused.WRONG
    assert accounts.store.accounts.get("ops").failures == 1


def test_repeated_failures_throttle_the_account_even_for_the_right_password(
    accounts: Accounts,
) -> None:
    accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    for _ in range(FREE_FAILURES):
        assert accounts.login("ops", "wrong password", now=T0).refused is LoginRefused.WRONG
    throttled = accounts.login("ops", PASSWORD, now=T0)
    assert throttled.refused is LoginRefused.THROTTLED
    assert throttled.session is None
    assert throttled.retry_after > 0
    later = accounts.login("ops", PASSWORD, now=T0 + throttled.retry_after + 0.001)
    assert later.session is not None
    assert accounts.store.accounts.get("ops").failures == 0


def test_a_session_ends_when_idle_and_at_the_latest_after_longest(accounts: Accounts) -> None:
    accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    login = accounts.login("ops", PASSWORD, now=T0)
    assert accounts.session(login.token, now=T0 + IDLE + 1) is None
    fresh = accounts.login("ops", PASSWORD, now=T0)
    now = T0
    while now + IDLE / 2 < T0 + LONGEST:  # a request every half idle period keeps it open
        now += IDLE / 2
        assert accounts.session(fresh.token, now=now) is not None, now
    assert accounts.session(fresh.token, now=T0 + LONGEST + 1) is None


def test_logout_and_password_change_and_removal_end_sessions(accounts: Accounts) -> None:
    accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    first = accounts.login("ops", PASSWORD, now=T0)
    assert first.session is not None
    accounts.logout(first.session)
    assert accounts.session(first.token, now=T0) is None
    second = accounts.login("ops", PASSWORD, now=T0)
    accounts.set_password("ops", "another long password", Actor.cli())
    assert accounts.session(second.token, now=T0) is None
    assert accounts.login("ops", PASSWORD, now=T0).session is None
    third = accounts.login("ops", "another long password", now=T0)
    assert third.session is not None
    accounts.remove("ops", Actor.cli())
    assert accounts.session(third.token, now=T0) is None
    with pytest.raises(NotFoundError):
        accounts.remove("ops", Actor.cli())


def test_csrf_tokens_are_the_sessions_own(accounts: Accounts) -> None:
    accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    one = accounts.login("ops", PASSWORD, now=T0).session
    two = accounts.login("ops", PASSWORD, now=T0).session
    assert one is not None
    assert two is not None
    assert Accounts.csrf_ok(one, one.csrf)
    assert not Accounts.csrf_ok(one, two.csrf)
    assert not Accounts.csrf_ok(one, None)
    assert not Accounts.csrf_ok(one, "")


@pytest.mark.parametrize(
    ("name", "role", "password", "tenant", "error", "match"),
    [
        ("a b", "viewer", PASSWORD, None, InputError, "invalid account name"),
        ("ops", "root", PASSWORD, None, InputError, "invalid role"),
        ("ops", "admin", PASSWORD, "acme", InputError, "cannot be limited"),
        ("ops", "viewer", "short", None, InputError, "characters"),
        ("ops", "viewer", PASSWORD, "nowhere", NotFoundError, "no tenant"),
    ],
)
def test_bad_accounts_are_refused_naming_what_is_wrong(
    accounts: Accounts,
    name: str,
    role: str,
    password: str,
    tenant: str | None,
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        accounts.create(name, role, password, Actor.cli(), tenant=tenant)
    assert accounts.store.accounts.all() == []


def test_a_name_is_taken_once(accounts: Accounts) -> None:
    accounts.create("ops", "viewer", PASSWORD, Actor.cli())
    with pytest.raises(ConflictError, match="exists"):
        accounts.create("ops", "admin", PASSWORD, Actor.cli())


def test_account_changes_are_audited_without_the_password(accounts: Accounts) -> None:
    admin = Actor(ActorKind.UI, "boss")
    accounts.create("ops", "viewer", PASSWORD, admin)
    accounts.set_password("ops", "another long password", admin)
    accounts.remove("ops", admin)
    entries, _ = accounts.store.audit.query(AuditQuery(actor="boss", newest_first=False))
    assert [e.action for e in entries] == ["account.create", "account.passwd", "account.remove"]
    assert all(e.actor_kind is ActorKind.UI for e in entries)
    assert not any(
        PASSWORD in str(e.before) + str(e.after) or "another" in str(e.after) for e in entries
    )
