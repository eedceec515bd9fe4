"""A tenant's SIP users below the front ends: service, store (SQLite and PostgreSQL), lines."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from provisioner.actor import Actor
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError
from provisioner.masking import MASK
from provisioner.preview import run_changes
from provisioner.sip_users import (
    SipUser,
    UserChange,
    get_user,
    line_for,
    lines_of_user,
    list_users,
    put_user,
    remove_user,
    user_view,
)
from provisioner.store import Store
from provisioner.store import _tables as t

MAC = "0004f2000001"
OTHER = "805ec0000001"
BOB = UserChange(
    password="s3cret-Pw",
    first_name="Bob",
    last_name="Builder",
    aliases=["201", "bob.b"],
    attributes={"Voicemail PIN": "4711", "EMail address": "bob@example.com"},
)


@pytest.fixture
def acme(store: Store) -> Store:
    edits = Edits.of(store)
    edits.tenants.add("acme", "acme.example.com")
    edits.tenants.add("other", "other.example.com")
    edits.phones.add("acme", MAC, "vvx410")
    edits.phones.add("acme", OTHER, "t46s")
    return store


def _audit(store: Store, like: str) -> list[tuple[str, str, str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                t.audit_log.c.action,
                t.audit_log.c.entity,
                t.audit_log.c.before,
                t.audit_log.c.after,
            )
            .where(t.audit_log.c.action.like(like))
            .order_by(t.audit_log.c.id)
        ).all()
    return [tuple(r) for r in rows]


def test_put_creates_then_updates_and_empty_fields_keep(acme: Store) -> None:
    edits = Edits.of(acme)
    user, created = put_user(acme, edits, "acme", "bob", BOB)
    assert created
    assert user.display_name == "Bob Builder"
    user, created = put_user(acme, edits, "acme", "bob", UserChange(last_name="Smith"))
    assert not created
    assert get_user(acme, "acme", "bob") == SipUser(
        "bob",
        "s3cret-Pw",
        "Bob",
        "Smith",
        "",
        ("201", "bob.b"),
        {"EMail address": "bob@example.com", "Voicemail PIN": "4711"},
    )
    # Per tenant: another tenant has its own namespace.
    put_user(acme, edits, "other", "bob", UserChange(password="x"))
    assert [u.user_name for u in list_users(acme, "acme")] == ["bob"]
    assert get_user(acme, "other", "bob").password == "x"


def test_a_user_change_reaches_its_lines(acme: Store) -> None:
    edits = Edits.of(acme)
    user, _ = put_user(acme, edits, "acme", "bob", BOB)
    edits.lines.add(MAC, line_for(user))
    edits.lines.add(OTHER, line_for(user, 2, label="Bob"))
    assert [(r.mac, r.position) for r in lines_of_user(acme, "acme", "bob")] == [
        (MAC, 1),
        (OTHER, 2),
    ]
    with acme.engine.connect() as conn:
        tenant_id = conn.execute(
            select(t.tenants.c.id).where(t.tenants.c.name == "acme")
        ).scalar_one()
    revision = acme.tenants.revisions()[tenant_id]
    put_user(acme, edits, "acme", "bob", UserChange(password="n3w-Pw", first_name="Robert"))
    state = acme.tenants.state("acme")
    for mac in (MAC, OTHER):
        (line,) = state.phones[mac].lines
        assert (line.user, line.password, line.display_name) == (
            "bob",
            "n3w-Pw",
            "Robert Builder",
        )
    assert state.phones[OTHER].lines[0].label == "Bob"  # the line's own label stays
    reach = acme.tenants.reach(tenant_id, revision, acme.tenants.revisions()[tenant_id])
    assert {MAC, OTHER} <= reach.macs
    # A change of attributes only leaves the lines (and the tenant's revision) alone.
    revisions = acme.tenants.revisions()
    put_user(acme, edits, "acme", "bob", UserChange(attributes={"Custom 1": "x"}))
    assert acme.tenants.revisions() == revisions


def test_secrets_are_masked_and_never_audited(acme: Store) -> None:
    edits = Edits.of(acme)
    user, _ = put_user(acme, edits, "acme", "bob", BOB)
    shown = user_view(user)
    assert shown["password"] == MASK
    assert shown["attributes"] == {"EMail address": "bob@example.com", "Voicemail PIN": MASK}
    assert user_view(user, reveal_secrets=True)["password"] == "s3cret-Pw"
    assert user_view(SipUser("eve"))["password"] == ""  # unset stays unset
    put_user(acme, edits, "acme", "bob", UserChange(password="n3w-Pw", attributes={"PIN": "1234"}))
    entries = _audit(acme, "sip_user.%")
    assert [(a, e) for a, e, _, _ in entries] == [
        ("sip_user.create", "user bob"),
        ("sip_user.update", "user bob"),
    ]
    text = json.dumps(entries)
    for secret in ("s3cret-Pw", "n3w-Pw", "4711", "1234"):
        assert secret not in text
    assert json.loads(entries[1][3]) == {"attributes.PIN": "(set)", "password": "(set)"}


def test_bad_fields_and_clashing_names_are_refused(acme: Store) -> None:
    edits = Edits.of(acme)
    put_user(acme, edits, "acme", "bob", BOB)
    with pytest.raises(InputError, match="invalid user name"):
        put_user(acme, edits, "acme", "bob smith", UserChange())
    with pytest.raises(InputError, match="invalid SIP password"):
        put_user(acme, edits, "acme", "carol", UserChange(password='a"b'))
    with pytest.raises(InputError, match="'201' is both a name or alias of user bob"):
        put_user(acme, edits, "acme", "carol", UserChange(aliases=["201"]))
    with pytest.raises(InputError, match="'bob' is both"):
        put_user(acme, edits, "acme", "carol", UserChange(aliases=["bob"]))
    with pytest.raises(NotFoundError, match="no tenant named 'nope'"):
        put_user(acme, edits, "nope", "carol", UserChange())
    assert [u.user_name for u in list_users(acme, "acme")] == ["bob"]


def test_remove_refuses_a_user_with_lines(acme: Store) -> None:
    edits = Edits.of(acme)
    user, _ = put_user(acme, edits, "acme", "bob", BOB)
    edits.lines.add(MAC, line_for(user))
    with pytest.raises(ConflictError, match=f"line 1 of phone {MAC}"):
        remove_user(acme, edits, "acme", "bob")
    edits.lines.remove(MAC, 1)
    remove_user(acme, edits, "acme", "bob")
    with pytest.raises(NotFoundError, match="tenant acme has no user 'bob'"):
        get_user(acme, "acme", "bob")
    with pytest.raises(NotFoundError):
        remove_user(acme, edits, "acme", "bob")
    assert [a for a, *_ in _audit(acme, "sip_user.%")] == ["sip_user.create", "sip_user.remove"]


def test_dry_run_and_change_sets_share_one_transaction(acme: Store) -> None:
    edits = Edits.of(acme)
    user, _ = put_user(acme, edits, "acme", "bob", BOB)
    edits.lines.add(MAC, line_for(user))

    def operations(within: Edits) -> None:
        put_user(acme, within, "acme", "bob", UserChange(password="n3w-Pw"))
        put_user(acme, within, "acme", "carol", UserChange(first_name="Carol"))

    outcome = run_changes(acme, edits, operations, dry_run=True)
    assert not outcome.problems
    assert [p.mac for p in outcome.phones] == [MAC]  # the line's password would change
    assert get_user(acme, "acme", "bob").password == "s3cret-Pw"
    assert acme.sip_users.get("acme", "carol") is None
    # A failure later in the same change set leaves nothing of the earlier user write.

    def failing(within: Edits) -> None:
        put_user(acme, within, "acme", "carol", UserChange(first_name="Carol"))
        within.phones.remove("0004f2ffffff")

    with pytest.raises(NotFoundError):
        run_changes(acme, edits, failing, dry_run=False)
    assert acme.sip_users.get("acme", "carol") is None
    # A dry-run actor alone rolls back too.
    put_user(acme, edits.by(Actor.cli().previewing()), "acme", "dave", UserChange())
    assert acme.sip_users.get("acme", "dave") is None


def test_users_go_with_their_tenant(acme: Store) -> None:
    edits = Edits.of(acme)
    put_user(acme, edits, "acme", "bob", BOB)
    edits.tenants.remove("acme")
    with acme.engine.connect() as conn:
        assert conn.execute(select(t.sip_users.c.user_name)).scalars().all() == []
