"""Phonebooks end to end below the front ends: service, store (SQLite and PostgreSQL), rendering."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import func, select

from provisioner.actor import Actor
from provisioner.catalog import Catalog
from provisioner.domain import (
    Group,
    Phone,
    Phonebook,
    PhonebookEntry,
    ScopeKind,
    Snapshot,
    StoredValue,
    Tenant,
)
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError, ValidationFailed
from provisioner.phonebooks import (
    Format,
    export_phonebook,
    guess_format,
    import_phonebook,
    list_phonebooks,
    remove_phonebook,
    show_phonebook,
)
from provisioner.pipeline import render_snapshot
from provisioner.render import Renderer
from provisioner.resolve import Resolver
from provisioner.scope import parse_scope
from provisioner.store import Store
from provisioner.store import _tables as t

ACTOR = Actor.cli()
HOSTILE_NAME = "Bob & <Co> ]]> --"
SALES_CSV = (
    "first_name,last_name,organisation,work,mobile\n"
    "Alice,Smith,ACME,+15550102000,+15550102001\n"
    f'"{HOSTILE_NAME}",O\'Neil,"Quotes ""Inc""",2001,\n'
).encode()
VIP_VCF = (
    b"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Victor\r\nN:Vip;Victor;;;\r\n"
    b"TEL;TYPE=cell:9999\r\nEND:VCARD\r\n"
)
# One phone of each family that serves phonebooks, in two groups.
PHONES = {
    "0004f2000001": ("vvx410", "sales"),
    "805ec0000001": ("t46s", "sales"),
    "00562b000001": ("cp8841-3pcc", "sales"),
    "001b54000001": ("ciscoplus7961G", "sales"),
    "0002fd000001": ("SPA504G", "sales"),
    "0015f9000001": ("cp7960", "sales"),
    "805ec0000002": ("t46s", "support"),
    "00562b000002": ("cp8841-3pcc", "support"),
}
PHONEBOOK_FILE = {
    "polycom/ucs": "{mac}-directory.xml",
    "yealink/tseries": "{mac}-phonebook.xml",
    "cisco/mpp": "{mac}-phonebook.xml",
    "cisco/sip79x1": "{mac}-phonebook.xml",
    "cisco/spa5xx": "{mac}-phonebook.xml",
    "cisco/sip79xx": "{mac}-phonebook.xml",
}


@pytest.fixture
def acme(store: Store) -> Store:
    edits = Edits.of(store)
    edits.tenants.add("acme", "acme.example.com")
    for group in ("sales", "support"):
        edits.groups.add("acme", group)
    for mac, (model, group) in PHONES.items():
        edits.phones.add("acme", mac, model, groups=[group])
    edits.settings.set(
        parse_scope("tenant:acme"), "provisioning.server_url", "https://prov.example.com/p/"
    )
    import_phonebook(store.phonebooks, ACTOR, "acme", "sales", SALES_CSV, Format.CSV)
    import_phonebook(store.phonebooks, ACTOR, "acme", "vip", VIP_VCF, Format.VCARD)
    edits.settings.set(parse_scope("group:acme/sales"), "phonebooks", ("sales", "vip"))
    edits.settings.set(parse_scope("group:acme/support"), "phonebooks", ("vip",))
    return store


def test_import_list_show_export(acme: Store) -> None:
    summaries = list_phonebooks(acme.phonebooks, "acme")
    assert [(b.name, b.entries) for b in summaries] == [("sales", 2), ("vip", 1)]
    book = show_phonebook(acme.phonebooks, "acme", "sales")
    assert [e.name for e in book.entries] == ["Alice Smith", f"{HOSTILE_NAME} O'Neil"]
    assert export_phonebook(acme.phonebooks, "acme", "sales", Format.CSV) == (
        "first_name,last_name,organisation,work,mobile,home,other\r\n"
        "Alice,Smith,ACME,+15550102000,+15550102001,,\r\n"
        f'{HOSTILE_NAME},O\'Neil,"Quotes ""Inc""",2001,,,\r\n'
    )
    assert export_phonebook(acme.phonebooks, "acme", "vip", Format.VCARD3) == (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Vip;Victor;;;\r\nFN:Victor Vip\r\n"
        "TEL;TYPE=cell:9999\r\nEND:VCARD\r\n"
    )


def test_a_bad_file_stores_nothing(acme: Store) -> None:
    before = acme.tenants.revisions()
    bad = SALES_CSV + b"Carol,,,not-a-number,\n"
    with pytest.raises(ValidationFailed, match="line 4: 'not-a-number' is not a number"):
        import_phonebook(acme.phonebooks, ACTOR, "acme", "sales", bad, Format.CSV)
    assert len(show_phonebook(acme.phonebooks, "acme", "sales").entries) == 2
    assert acme.tenants.revisions() == before


def test_reimport_replaces_and_append_extends(acme: Store) -> None:
    created, count = import_phonebook(
        acme.phonebooks, ACTOR, "acme", "vip", VIP_VCF, Format.VCARD, append=True
    )
    assert (created, count) == (False, 2)
    created, count = import_phonebook(acme.phonebooks, ACTOR, "acme", "vip", VIP_VCF, Format.VCARD)
    assert (created, count) == (False, 1)


def test_every_write_moves_the_tenant_and_reaches_all_of_it(acme: Store) -> None:
    ((tenant_id, revision),) = acme.tenants.revisions().items()
    import_phonebook(acme.phonebooks, ACTOR, "acme", "vip", VIP_VCF, Format.VCARD)
    assert acme.tenants.revisions()[tenant_id] == revision + 1
    assert acme.tenants.reach(tenant_id, revision, revision + 1).whole


def test_writes_are_audited(acme: Store) -> None:
    with acme.engine.connect() as conn:
        actions = conn.execute(
            select(t.audit_log.c.action, t.audit_log.c.entity)
            .where(t.audit_log.c.action.like("phonebook.%"))
            .order_by(t.audit_log.c.id)  # the order they were written (no order without it)
        ).all()
    assert [tuple(a) for a in actions] == [
        ("phonebook.import", "phonebook sales"),
        ("phonebook.import", "phonebook vip"),
    ]


def test_a_phonebook_in_use_is_not_removed(acme: Store) -> None:
    with pytest.raises(ConflictError, match="group sales, group support"):
        remove_phonebook(acme.phonebooks, ACTOR, "acme", "vip")
    Edits.of(acme).settings.set(parse_scope("group:acme/support"), "phonebooks", ())
    Edits.of(acme).settings.set(parse_scope("group:acme/sales"), "phonebooks", ("sales",))
    remove_phonebook(acme.phonebooks, ACTOR, "acme", "vip")
    with acme.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.phonebook_entries)).scalar() == 2
    with pytest.raises(NotFoundError, match="no phonebook 'vip'"):
        show_phonebook(acme.phonebooks, "acme", "vip")


def test_setting_an_unknown_phonebook_is_refused(acme: Store) -> None:
    with pytest.raises(ValidationFailed, match="group:acme/support: phonebooks: .* no phonebook x"):
        Edits.of(acme).settings.set(parse_scope("group:acme/support"), "phonebooks", ("vip", "x"))


def test_unknown_tenant_and_bad_name(acme: Store) -> None:
    with pytest.raises(NotFoundError, match="no tenant 'nope'"):
        import_phonebook(acme.phonebooks, ACTOR, "nope", "x", VIP_VCF, Format.VCARD)
    with pytest.raises(InputError, match="invalid phonebook name"):
        import_phonebook(acme.phonebooks, ACTOR, "acme", "../x", VIP_VCF, Format.VCARD)


def test_guess_format() -> None:
    assert guess_format("a.VCF", b"") is Format.VCARD
    assert guess_format("a.csv", b"BEGIN:VCARD") is Format.CSV
    assert guess_format("contacts", b"\xef\xbb\xbf\r\nbegin:vcard") is Format.VCARD
    assert guess_format("contacts", b"first_name,work") is Format.CSV


def _served(store: Store, catalog: Catalog) -> dict[str, dict[str, bytes]]:
    result = render_snapshot(catalog, store.tenants.snapshot())
    assert not result.errors
    return {mac: {f.path: f.data for f in files} for mac, files in result.phones.items()}


def _phonebook_file(catalog: Catalog, mac: str, files: dict[str, bytes]) -> bytes:
    family = catalog.family_of(catalog.model(PHONES[mac][0])).key
    return files[PHONEBOOK_FILE[family].format(mac=mac)]


def test_a_phone_gets_only_the_phonebooks_its_groups_allow(acme: Store, catalog: Catalog) -> None:
    served = _served(acme, catalog)
    for mac, (_, group) in PHONES.items():
        text = _phonebook_file(catalog, mac, served[mac]).decode()
        assert "9999" in text, mac
        assert ("+15550102000" in text) == (group == "sales"), mac


@pytest.mark.parametrize("mac", sorted(m for m, (_, group) in PHONES.items() if group == "sales"))
def test_hostile_names_are_escaped_in_every_format(acme: Store, catalog: Catalog, mac: str) -> None:
    data = _phonebook_file(catalog, mac, _served(acme, catalog)[mac])
    root = etree.fromstring(data)
    texts = [el.text for el in root.iter() if el.text]
    assert any(HOSTILE_NAME in text for text in texts), mac  # the name comes back as text


def test_the_url_is_rendered_into_the_profile(acme: Store, catalog: Catalog) -> None:
    served = _served(acme, catalog)
    base = "https://prov.example.com/p"
    assert (
        f"remote_phonebook.data.1.url = {base}/805ec0000001-phonebook.xml\n"
        "remote_phonebook.data.1.name = sales, vip\n"
    ).encode() in served["805ec0000001"]["805ec0000001.cfg"]
    mpp = served["00562b000001"]["00562b000001.xml"]
    assert b"<XML_Directory_Service_Name>sales, vip</XML_Directory_Service_Name>" in mpp
    assert (
        f"<XML_Directory_Service_URL>{base}/00562b000001-phonebook.xml</XML_Directory_Service_URL>"
    ).encode() in mpp
    sep = served["001b54000001"]["SEP001B54000001.cnf.xml"]
    assert f"<directoryURL>{base}/001b54000001-phonebook.xml</directoryURL>".encode() in sep
    sip = served["0015f9000001"]["SIP0015F9000001.cnf"]
    assert f'directory_url: "{base}/0015f9000001-phonebook.xml"'.encode() in sip


def test_without_phonebooks_the_url_is_cleared(acme: Store, catalog: Catalog) -> None:
    Edits.of(acme).settings.unset(parse_scope("group:acme/support"), "phonebooks")
    served = _served(acme, catalog)
    assert b"remote_phonebook.data.1.url = %NULL%\n" in served["805ec0000002"]["805ec0000002.cfg"]
    mpp = served["00562b000002"]["00562b000002.xml"]
    assert b"<XML_Directory_Service_URL></XML_Directory_Service_URL>" in mpp
    assert b"DirectoryEntry" not in served["00562b000002"]["00562b000002-phonebook.xml"]


def test_without_a_server_url_yealink_and_cisco_fail_clearly(acme: Store, catalog: Catalog) -> None:
    Edits.of(acme).settings.unset(parse_scope("tenant:acme"), "provisioning.server_url")
    result = render_snapshot(catalog, acme.tenants.snapshot())
    failed = {e.mac for e in result.errors}
    assert failed == {m for m, (model, _) in PHONES.items() if model != "vvx410"}
    assert all("set provisioning.server_url" in e.message for e in result.errors)


def test_phones_given_the_same_books_share_one_rendering(acme: Store, catalog: Catalog) -> None:
    result = render_snapshot(catalog, acme.tenants.snapshot())
    files = {f.path: f for phone in result.phones.values() for f in phone}
    first, second = files["805ec0000001-phonebook.xml"], files["805ec0000002-phonebook.xml"]
    assert first.data is not second.data  # sales and vip, against vip alone
    Edits.of(acme).settings.set(parse_scope("group:acme/support"), "phonebooks", ("sales", "vip"))
    result = render_snapshot(catalog, acme.tenants.snapshot())
    files = {f.path: f for phone in result.phones.values() for f in phone}
    first, second = files["805ec0000001-phonebook.xml"], files["805ec0000002-phonebook.xml"]
    assert first.data is second.data  # rendered once
    assert (first.path, second.path) == ("805ec0000001-phonebook.xml", "805ec0000002-phonebook.xml")


def test_a_bad_description_is_refused(acme: Store) -> None:
    with pytest.raises(InputError, match="phonebook description: control character"):
        import_phonebook(
            acme.phonebooks, ACTOR, "acme", "vip", VIP_VCF, Format.VCARD, description="a\nb"
        )
    with pytest.raises(InputError, match="the maximum is 255"):
        import_phonebook(
            acme.phonebooks, ACTOR, "acme", "vip", VIP_VCF, Format.VCARD, description="x" * 256
        )


def test_removing_the_tenant_removes_its_phonebooks(acme: Store) -> None:
    Edits.of(acme).tenants.remove("acme")
    with acme.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.phonebooks)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(t.phonebook_entries)).scalar() == 0


_BOOKS = ("a", "b", "c")


@st.composite
def _fleets(draw: st.DrawFn) -> Snapshot:
    """A tenant with three books, groups that may name some, and phones in any of the groups."""
    snap = Snapshot(device_key=b"k" * 32)
    snap.tenants[1] = Tenant(1, "t", "t.example.com", "generic", "")
    snap.settings[(ScopeKind.TENANT, 1)] = {
        "provisioning.server_url": StoredValue("http://p.example.com")
    }
    snap.phonebooks = {
        1: {
            name: Phonebook(name, "", (PhonebookEntry(name, "", "", (("work", f"{i}00"),)),))
            for i, name in enumerate(_BOOKS, 1)
        }
    }
    names = st.lists(st.sampled_from(_BOOKS), unique=True, max_size=3).map(tuple)
    for gid in range(1, draw(st.integers(1, 4)) + 1):
        snap.groups[gid] = Group(gid, 1, f"g{gid}", "", draw(st.integers(0, 3)))
        if draw(st.booleans()):
            value = StoredValue(draw(names), draw(st.booleans()))
            snap.settings[(ScopeKind.GROUP, gid)] = {"phonebooks": value}
    for pid in range(1, draw(st.integers(1, 4)) + 1):
        groups = tuple(draw(st.sets(st.sampled_from(sorted(snap.groups)))))
        snap.phones[pid] = Phone(pid, 1, f"805ec0{pid:06x}", "t46s", "", True, groups)
        if draw(st.booleans()):
            snap.settings[(ScopeKind.PHONE, pid)] = {"phonebooks": StoredValue(draw(names))}
    return snap


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(_fleets())
def test_a_phone_is_served_exactly_the_books_its_resolved_setting_names(
    catalog: Catalog, snap: Snapshot
) -> None:
    resolver, renderer = Resolver(catalog, snap), Renderer(catalog)
    for phone in snap.phones.values():
        view = resolver.phone(phone)
        allowed = view.settings["phonebooks"].value
        assert isinstance(allowed, tuple)
        files = {f.path: f.data for f in renderer.phone_files(view)}
        served = etree.fromstring(files[f"{phone.mac}-phonebook.xml"])
        names = [el.text for el in served.iter("Name")]
        assert names == list(allowed)  # each book's one entry is named after the book


def test_the_tenant_directory_without_a_server_url_is_left_out_not_an_error(
    acme: Store, catalog: Catalog
) -> None:
    # directory.tenant_lines predates phonebooks: a tenant using it for its Polycom
    # phones must not stop rendering its other phones, which need a server URL for it.
    edits = Edits.of(acme)
    edits.settings.unset(parse_scope("tenant:acme"), "provisioning.server_url")
    for group in ("sales", "support"):
        edits.settings.unset(parse_scope(f"group:acme/{group}"), "phonebooks")
    edits.settings.set(parse_scope("tenant:acme"), "directory.tenant_lines", True)
    served = _served(acme, catalog)
    assert b"remote_phonebook.data.1.url = %NULL%\n" in served["805ec0000001"]["805ec0000001.cfg"]
    mpp = served["00562b000001"]["00562b000001.xml"]
    assert b"<XML_Directory_Service_URL></XML_Directory_Service_URL>" in mpp
