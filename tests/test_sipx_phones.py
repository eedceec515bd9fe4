"""sipXconfig's PhoneService operations below SOAP (provisioner/sipx_phones.py), both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from provisioner.actor import Actor, ActorKind
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError, ValidationFailed
from provisioner.sip_users import UserChange, put_user
from provisioner.sipx_phones import (
    ExternalLine,
    ManagePhone,
    PhoneSearch,
    SipxLine,
    SipxPhone,
    add_phone,
    device_version,
    external_line,
    find_phones,
    manage_phones,
)
from provisioner.state import Part, PhoneState
from provisioner.store import Store
from provisioner.store import _tables as t

ACTOR = Actor(ActorKind.API, "sipx-key", 7, "req-1")
NOW = 1_800_000_000.0


@pytest.fixture
def acme(store: Store) -> Store:
    edits = Edits.of(store)
    edits.tenants.add("acme", "acme.example.com")
    edits.groups.add("acme", "sales")
    put_user(store, edits, "acme", "221", UserChange(password="pw-221", first_name="Ann"))
    return store


def _edits(store: Store) -> Edits:
    return Edits.of(store, ACTOR)


def _add(store: Store, mac: str, *groups: str, lines: tuple[str, ...] = ()) -> None:
    phone = SipxPhone(mac, "t46s", groups=list(groups), lines=[SipxLine(u, "") for u in lines])
    add_phone(store, _edits(store), "acme", phone)


def _phone(store: Store, mac: str) -> PhoneState:
    return store.tenants.state("acme", Part(frozenset({mac}))).phones[mac]


def test_device_versions_of_sipxconfig_are_read_as_firmware_versions() -> None:
    assert device_version("polycom4.0.X") == "4.0"
    assert device_version("polycom3.1.x") == "3.1"
    assert device_version("66.86.0.15") == "66.86.0.15"
    assert device_version(" 5.9.1 ") == "5.9.1"
    assert device_version("beta!") == "beta!"  # left to the setting's check, which names it


def test_an_external_line_entry() -> None:
    entry = external_line(ExternalLine("501", "sip.carrier.example:5080", "Ext", "pw", "*86"))
    assert entry == {
        "user": "501",
        "auth_user": "501",
        "display_name": "Ext",
        "password": "pw",
        "settings": {
            "sip.registrar.host": "sip.carrier.example",
            "sip.registrar.port": 5080,
            "voicemail.number": "*86",
        },
    }
    with pytest.raises(InputError, match="is not HOST or HOST:PORT"):
        external_line(ExternalLine("501", "sip.carrier.example:sip"))


def test_add_phone_is_audited_with_its_group_in_one_transaction(acme: Store) -> None:
    _add(acme, "0004f2000001", "sales", "new-group", lines=("221",))
    phone = _phone(acme, "0004f2000001")
    assert sorted(phone.groups) == ["new-group", "sales"]
    with acme.engine.connect() as conn:
        rows = conn.execute(
            select(t.audit_log.c.action, t.audit_log.c.actor).where(
                t.audit_log.c.actor.like("%sipx-key%")
            )
        ).all()
    assert sorted(r.action for r in rows) == ["group.create", "phone.create"]
    with pytest.raises(ValidationFailed, match="unknown model"):
        add_phone(acme, _edits(acme), "acme", SipxPhone("0004f2000002", "nope", groups=["g2"]))
    assert "g2" not in acme.tenants.state("acme", Part()).groups  # nothing half-written


def test_find_phones_by_serial_group_and_both(acme: Store) -> None:
    _add(acme, "0004f2000001", "sales", lines=("221",))
    _add(acme, "0004f2000002")
    (found,) = find_phones(acme, "acme", PhoneSearch(serial_number="00:04:f2:00:00:01"))
    assert (found.model_id, found.lines) == (
        "yealinkPhoneSIPT46S",
        [SipxLine("221", "221@acme.example.com")],
    )
    assert [p.serial_number for p in find_phones(acme, "acme", PhoneSearch(group="sales"))] == [
        "0004f2000001"
    ]
    both = PhoneSearch(serial_number="0004f2000002", group="sales")
    assert find_phones(acme, "acme", both) == []
    assert len(find_phones(acme, "acme", PhoneSearch())) == 2


def test_combinations_that_are_refused(acme: Store) -> None:
    _add(acme, "0004f2000001", "sales")
    _add(acme, "0004f2000002", "sales")
    sales = PhoneSearch(group="sales")
    cases = [
        (ManagePhone(sales, delete=True, restart=True), InputError, "cannot be combined"),
        (ManagePhone(PhoneSearch(), delete=True), InputError, "needs a search"),
        (
            ManagePhone(sales, edits=[("serialNumber", "0004f2000009")]),
            ConflictError,
            "the search found 2 phones",
        ),
        (ManagePhone(sales, edits=[("label", "x")]), InputError, "unknown property 'label'"),
        (
            ManagePhone(sales, edits=[("description", "a"), ("description", "b")]),
            InputError,
            "given twice",
        ),
        (ManagePhone(PhoneSearch(group="nope"), restart=True), NotFoundError, "no group acme/nope"),
    ]
    for manage, kind, message in cases:
        with pytest.raises(kind, match=message):
            manage_phones(acme, _edits(acme), "acme", manage, NOW)
    assert len(find_phones(acme, "acme", sales)) == 2


def test_a_line_is_replaced_in_one_request(acme: Store) -> None:
    _add(acme, "0004f2000001", lines=("221",))
    manage = ManagePhone(
        PhoneSearch(serial_number="0004f2000001"),
        remove_line_by_uri="sip:221@ACME.example.com",
        add_external_line=ExternalLine("999", "other.example"),
    )
    assert manage_phones(acme, _edits(acme), "acme", manage, NOW) is None
    lines = _phone(acme, "0004f2000001").lines
    assert [(x.position, x.user) for x in lines] == [(1, "999")]


def test_profiles_are_sent_only_to_enabled_phones(acme: Store) -> None:
    _add(acme, "0004f2000001", "sales")
    _add(acme, "0004f2000002", "sales")
    Edits.of(acme).phones.update("0004f2000002", enabled=False)
    job = manage_phones(
        acme, _edits(acme), "acme", ManagePhone(PhoneSearch(group="sales"), restart=True), NOW
    )
    assert job is not None
    (summary,) = acme.jobs.summaries(job.id)
    assert (summary.selector, summary.event, summary.total) == ("group acme/sales", "reboot", 1)
    Edits.of(acme).phones.update("0004f2000001", enabled=False)
    manage = ManagePhone(PhoneSearch(group="sales"), generate_profiles=True)
    assert manage_phones(acme, _edits(acme), "acme", manage, NOW) is None


def test_a_nil_or_empty_edit_clears_description_and_device_version(acme: Store) -> None:
    add_phone(
        acme,
        _edits(acme),
        "acme",
        SipxPhone("0004f2000001", "t46s", description="Desk", device_version="66.86.0.15"),
    )
    search = PhoneSearch(serial_number="0004f2000001")
    cleared = ManagePhone(search, edits=[("description", None), ("deviceVersion", "")])
    manage_phones(acme, _edits(acme), "acme", cleared, NOW)
    phone = _phone(acme, "0004f2000001")
    assert (phone.description, phone.settings) == ("", {})
    no_model = ManagePhone(search, edits=[("modelId", None)])
    with pytest.raises(InputError, match="unknown model ''"):
        manage_phones(acme, _edits(acme), "acme", no_model, NOW)
