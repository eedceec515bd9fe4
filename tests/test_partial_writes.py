"""Single edits read only the phones they touch (issue 12), on both backends.

An edit loads its tenant's head and groups and the phones it names
(:class:`provisioner.state.Part`), plus the phones a change of locks or of
a list some models cannot take (``codecs``) reaches; never the whole tenant.
The phones read are counted through
:func:`provisioner.store._read.load_phone_states`, which every partial load
goes through, and the whole-tenant loader is made to fail. Rules that are
tenant-wide still hold, and a partial state never removes a phone it did
not read.
"""

from __future__ import annotations

from collections.abc import Collection

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.errors import ConflictError, ValidationFailed
from provisioner.fleet import parse_fleet
from provisioner.preview import run_changes
from provisioner.scope import parse_scope
from provisioner.state import LineState, Part, PhoneState, TenantState
from provisioner.store import Reach, Store, _read, _session, _tenants
from provisioner.store._write import Changes, write_tenant

PHONES = 40
MACS = [f"805ec0{i:06x}" for i in range(PHONES)]
SALES = MACS[:10]  # members of group sales
LANGUAGE_SETTER = MACS[3]  # a sales member that sets language itself
LINE_SETTER = MACS[20]  # outside sales; sets language on its line
LONE = MACS[30]


@pytest.fixture
def acme(store: Store, catalog: Catalog) -> Store:
    """Tenant acme of 40 phones (ten in sales), each with a line; tenant other, empty."""
    phones = []
    for i, mac in enumerate(MACS):
        line: dict[str, object] = {"user": f"1{i:03d}", "password": "pw"}
        if mac == LINE_SETTER:
            line["settings"] = {"voicemail.number": "*97"}
        phone: dict[str, object] = {
            "tenant": "acme",
            "mac": mac,
            "model": "t46s",
            "groups": ["sales"] if mac in SALES else [],
            "lines": [line],
        }
        if mac == LANGUAGE_SETTER:
            phone["settings"] = {"language": "de"}
        phones.append(phone)
    document = {
        "tenants": [
            {"name": "acme", "sip_domain": "acme.example.com"},
            {"name": "other", "sip_domain": "other.example.com"},
        ],
        "groups": [{"tenant": "acme", "name": "sales"}, {"tenant": "acme", "name": "empty"}],
        "phones": phones,
    }
    store.tenants.apply(parse_fleet(document, catalog))
    return store


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The MACs single edits read; reading a whole tenant for a write fails the test."""
    macs: set[str] = set()
    real = _read.load_phone_states

    def counted(conn: object, ids: Collection[int], record: object = None) -> object:
        found = real(conn, ids, record)  # type: ignore[arg-type]
        macs.update(phone.mac for _, phone in found.values())
        return found

    def whole(*args: object) -> None:
        raise AssertionError("a single edit read the whole tenant")

    monkeypatch.setattr(_read, "load_phone_states", counted)
    monkeypatch.setattr(_tenants, "load_tenant_state", whole)
    monkeypatch.setattr(_session, "load_tenant_state", whole)
    return macs


def _stored(store: Store) -> TenantState:
    """Tenant acme as stored (read past the ``read`` fixture's guard)."""
    with store.engine.connect() as conn:
        loaded = _read.load_tenant_state(conn, "acme")
    assert loaded is not None
    return loaded[0]


def _reach(store: Store, revision: int) -> Reach:
    tenant_id = next(i for i, r in store.tenants.revisions().items() if r == revision + 1)
    return store.tenants.reach(tenant_id, revision, revision + 1)


def _revision(store: Store) -> int:
    return max(store.tenants.revisions().values())


def test_a_phone_setting_reads_that_phone_only(acme: Store, read: set[str]) -> None:
    Edits.of(acme).settings.set(parse_scope(f"phone:{LONE}"), "language", "fr")
    assert read == {LONE}
    assert _stored(acme).phones[LONE].settings == {"language": "fr"}


def test_a_group_setting_reads_no_phone(acme: Store, read: set[str]) -> None:
    revision = _revision(acme)
    Edits.of(acme).settings.set(parse_scope("group:acme/sales"), "language", "fr")
    assert read == set()
    reach = _reach(acme, revision)
    assert reach.groups  # the feed: the group, not its phones one by one
    assert not reach.macs
    assert not reach.whole


def test_locking_at_a_group_reads_the_members_that_set_the_name(
    acme: Store, read: set[str]
) -> None:
    edits = Edits.of(acme)
    with pytest.raises(ValidationFailed) as refused:
        edits.settings.set(parse_scope("group:acme/sales"), "language", "fr", lock=True)
    assert [p.location for p in refused.value.problems] == [f"phone:{LANGUAGE_SETTER}"]
    assert read == {LANGUAGE_SETTER}


def test_locking_at_the_tenant_reads_the_phones_and_lines_that_set_the_name(
    acme: Store, read: set[str]
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        Edits.of(acme).settings.set(
            parse_scope("tenant:acme"), "voicemail.number", "*98", lock=True
        )
    assert [p.location for p in refused.value.problems] == [f"line:{LINE_SETTER}/1"]
    assert read == {LINE_SETTER}


def test_a_codec_list_every_model_takes_reads_no_phone(acme: Store, read: set[str]) -> None:
    Edits.of(acme).settings.set(parse_scope("tenant:acme"), "codecs", ["g722", "pcmu"])
    assert read == set()


def test_a_codec_list_some_models_lack_reads_the_members_of_those_models(
    acme: Store, read: set[str]
) -> None:
    # Every phone is a T46S, which has no Opus: each member of sales is read and refused.
    with pytest.raises(ValidationFailed) as refused:
        Edits.of(acme).settings.set(parse_scope("group:acme/sales"), "codecs", ["opus"])
    assert sorted(p.location for p in refused.value.problems) == [f"phone:{m}" for m in SALES]
    assert read == set(SALES)


def test_a_blf_on_a_phone_may_watch_a_line_of_a_phone_not_read(acme: Store, read: set[str]) -> None:
    # The keys rule needs every line user of the tenant; the phones stay unread.
    edits = Edits.of(acme)
    edits.settings.set(parse_scope(f"phone:{LONE}"), "keys", [{"type": "blf", "value": "1005"}])
    assert read == {LONE}
    with pytest.raises(ValidationFailed) as refused:
        edits.settings.set(parse_scope(f"phone:{LONE}"), "keys", [{"type": "blf", "value": "9999"}])
    assert "9999" in str(refused.value)


def test_removing_a_watched_line_reaches_the_phone_whose_blf_watches_it(
    acme: Store, read: set[str]
) -> None:
    edits = Edits.of(acme)
    edits.settings.set(parse_scope(f"phone:{LONE}"), "keys", [{"type": "blf", "value": "1005"}])
    read.clear()
    with pytest.raises(ValidationFailed) as refused:
        edits.phones.remove(MACS[5])
    assert [p.location for p in refused.value.problems] == [f"phone:{LONE}"]
    assert read == {MACS[5], LONE}


def test_keys_set_at_the_tenant_read_every_phone(acme: Store, read: set[str]) -> None:
    Edits.of(acme).settings.set(
        parse_scope("tenant:acme"), "keys", [{"type": "blf", "value": "1005"}]
    )
    assert read == set(MACS)


def test_adding_a_phone_and_a_line_reads_no_other_phone(acme: Store, read: set[str]) -> None:
    edits = Edits.of(acme)
    edits.phones.add("acme", "805ec0ffffff", "t46s", groups=["sales"])
    assert read == set()
    edits.lines.add("805ec0ffffff", LineState(0, "2000", password="pw"))
    assert read == {"805ec0ffffff"}
    assert len(_stored(acme).phones) == PHONES + 1


def test_removing_a_group_reaches_its_members_without_reading_them(
    acme: Store, read: set[str]
) -> None:
    revision = _revision(acme)
    Edits.of(acme).groups.remove("acme", "sales")
    assert read == set()
    assert _reach(acme, revision).macs == set(SALES)  # the feed names every former member
    state = _stored(acme)
    assert "sales" not in state.groups
    assert all(phone.groups == [] for phone in state.phones.values())


def test_a_change_set_reads_the_phones_of_each_edit(acme: Store, read: set[str]) -> None:
    def edit(edits: Edits) -> None:
        edits.settings.set(parse_scope(f"phone:{MACS[0]}"), "language", "fr")
        edits.settings.set(parse_scope(f"phone:{MACS[1]}"), "language", "fr")
        edits.phones.update(MACS[1], description="moved")

    run_changes(acme, Edits.of(acme), edit, dry_run=False)
    assert read == {MACS[0], MACS[1]}


def test_a_preview_of_a_group_setting_names_the_group_members(acme: Store, read: set[str]) -> None:
    outcome = run_changes(
        acme,
        Edits.of(acme),
        lambda e: e.settings.set(parse_scope("group:acme/sales"), "language", "fr"),
        dry_run=True,
    )
    assert not outcome.problems
    # The member that sets language itself keeps its files.
    assert {phone.mac for phone in outcome.phones} == set(SALES) - {LANGUAGE_SETTER}
    assert read == set()


# --- tenant-wide rules still hold --------------------------------------------


def test_an_identifying_value_another_tenant_uses_is_refused(acme: Store) -> None:
    edits = Edits.of(acme)
    edits.settings.set(parse_scope("tenant:other"), "access.url_token", "abcdefghijklmnop")
    with pytest.raises(ValidationFailed) as refused:
        edits.settings.set(parse_scope("tenant:acme"), "access.url_token", "abcdefghijklmnop")
    assert [p.message for p in refused.value.problems] == [
        "access.url_token is already used by tenant other"
    ]


def test_a_mac_stored_in_the_tenant_but_not_loaded_is_refused(acme: Store) -> None:
    # Past the edit's own check (which asks the database first): the store refuses it.
    def add_again(state: TenantState) -> None:
        state.phones[LONE] = PhoneState(LONE, "t46s")

    with pytest.raises(ConflictError):
        acme.tenants.change("acme", add_again, part=Part())
    with pytest.raises(ConflictError):
        acme.tenants.change("other", add_again, part=Part())
    assert acme.tenants.tenant_of(LONE) == "acme"


# --- a partial state never removes what it did not read -----------------------


def test_a_partial_write_removes_only_loaded_phones(acme: Store) -> None:
    def clear(state: TenantState) -> None:
        assert set(state.phones) == {LONE}
        state.phones.clear()

    acme.tenants.change("acme", clear, part=Part(frozenset({LONE})))
    remaining = acme.tenants.state("acme").phones
    assert set(remaining) == set(MACS) - {LONE}


def test_a_partial_state_is_not_written_as_a_whole_one(acme: Store) -> None:
    with acme.engine.begin() as conn:
        loaded = _read.load_tenant_part(conn, "acme", Part(frozenset({LONE})))
        whole = _read.load_tenant_state(conn, "acme")
        assert loaded is not None
        assert whole is not None
        with pytest.raises(ValueError, match="same phones loaded"):
            write_tenant(conn, whole, loaded[0], Changes())
        with pytest.raises(ValueError, match="same phones loaded"):
            write_tenant(conn, loaded, whole[0], Changes())
        with pytest.raises(ValueError, match="written whole"):
            write_tenant(
                conn, None, TenantState("new", "x.example.com", loaded=frozenset()), Changes()
            )
    assert len(acme.tenants.state("acme").phones) == PHONES


def test_a_change_set_written_between_edits_reads_again_only_its_phones(
    acme: Store, catalog: Catalog, read: set[str]
) -> None:
    # A flush between operations (an API change set reads between them) makes the
    # session read what it wrote again: the phones it had, never the whole tenant.
    # The lock at the end reaches a phone set in the session and one set before.
    with (  # noqa: PT012 (the whole session is what is refused)
        pytest.raises(ValidationFailed) as refused,
        acme.tenants.session(commit=True) as session,
    ):
        edits = Edits(session, catalog)
        edits.settings.set(parse_scope(f"phone:{MACS[0]}"), "language", "fr")
        session.flush()
        edits.phones.remove(MACS[0])
        edits.settings.set(parse_scope(f"phone:{MACS[1]}"), "language", "fr")
        session.flush()
        edits.phones.add("acme", "805ec0ffffff", "t46s")
        edits.settings.set(parse_scope("tenant:acme"), "language", "it", lock=True)
    assert [p.location for p in refused.value.problems] == [
        f"phone:{MACS[1]}",
        f"phone:{LANGUAGE_SETTER}",
    ]
    assert read == {MACS[0], MACS[1], LANGUAGE_SETTER}
    assert set(_stored(acme).phones) == set(MACS)  # all or nothing


def test_removing_a_group_a_key_policy_names_is_refused_naming_the_phones(
    acme: Store, read: set[str]
) -> None:
    edits = Edits.of(acme)
    edits.settings.set(parse_scope("tenant:acme"), "keys.policy", "blf")
    edits.settings.set(parse_scope("tenant:acme"), "keys.policy.scope", "sales")
    read.clear()
    with pytest.raises(ValidationFailed) as refused:
        edits.groups.remove("acme", "sales")
    assert {p.location for p in refused.value.problems} == {f"phone:{mac}" for mac in MACS}
    assert "has no group 'sales'" in str(refused.value)
    read.clear()
    edits.groups.remove("acme", "empty")  # no policy names it: still reads no phone
    assert read == set()


def test_a_group_move_reaches_the_directory_only_when_a_policy_may_be_scoped_to_a_group(
    acme: Store, read: set[str]
) -> None:
    edits = Edits.of(acme)
    revision = _revision(acme)
    edits.phones.update(LONE, groups=["sales"])
    assert not _reach(acme, revision).directory  # no policy reads groups: that phone only
    edits.settings.set(parse_scope(f"phone:{MACS[0]}"), "keys.policy", "blf")
    edits.settings.set(parse_scope(f"phone:{MACS[0]}"), "keys.policy.scope", "sales")
    read.clear()
    revision = _revision(acme)
    edits.phones.update(LONE, groups=[])
    assert read == {LONE}  # the scoped phone is found without being read
    assert _reach(acme, revision).directory  # its keys change: the directory reach
