"""The store on SQLite and PostgreSQL: writes, validation, locks, atomicity."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Table, event, func, select
from sqlalchemy.pool import Pool

from provisioner.catalog import Catalog
from provisioner.domain import ScopeKind
from provisioner.edits import Edits
from provisioner.errors import ConflictError, InputError, NotFoundError, ValidationFailed
from provisioner.scope import parse_scope
from provisioner.state import LineState
from provisioner.store import Store, connect, database_exists, migrate, newest_revision
from provisioner.store import _tables as t

MAC = "0004f2aabbcc"


@pytest.fixture
def acme(store: Store) -> Store:
    Edits.of(store).tenants.add("acme", "acme.example.com")
    Edits.of(store).groups.add("acme", "sales", weight=5)
    Edits.of(store).groups.add("acme", "support", weight=1)
    Edits.of(store).phones.add("acme", MAC, "polycom335", groups=["sales"])
    Edits.of(store).lines.add(MAC, LineState(0, "201", password="pw"))
    return store


def count(store: Store, table: Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_migrations_are_idempotent(db_url: str) -> None:
    engine = connect(db_url)
    migrate(engine)
    migrate(engine)
    engine.dispose()


def test_an_engine_creates_nothing_until_it_connects(tmp_path: Path) -> None:
    """A mistyped data directory is refused, not created: asking whether it holds a database."""
    engine = connect(f"sqlite:///{tmp_path / 'missing' / 'test.db'}")
    assert not database_exists(engine)
    engine.dispose()
    assert not (tmp_path / "missing").exists()


def test_the_existence_check_and_the_store_share_one_connection(
    db_url: str, catalog: Catalog
) -> None:
    """A command's start connects once (on PostgreSQL a connection set-up is round trips)."""
    opened: list[object] = []

    def count(connection: object, _record: object) -> None:
        opened.append(connection)

    event.listen(Pool, "connect", count)  # every engine's, should the check make its own
    try:
        engine = connect(db_url)
        exists = database_exists(engine)
        store = Store.migrated(engine, catalog)
    finally:
        event.remove(Pool, "connect", count)
    try:
        assert len(opened) == 1
        assert exists == db_url.startswith("postgresql")  # SQLite: a new file
        assert database_exists(engine)
    finally:
        store.close()


def test_migration_files_are_numbered_in_one_chain() -> None:
    """``newest_revision`` reads the head from file names: hold every file to them."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    migrations = Path(migrate.__code__.co_filename).parent / "migrations"
    config.set_main_option("script_location", str(migrations))
    scripts = ScriptDirectory.from_config(config)
    chain = list(reversed(list(scripts.walk_revisions())))
    paths = [Path(script.path or "") for script in chain]
    assert paths == sorted(paths), "the chain follows the files' numbers"
    assert all(path.name[:4].isdigit() and path.name[4] == "_" for path in paths)
    assert scripts.get_current_head() == newest_revision() == chain[-1].revision


def test_opening_an_up_to_date_database_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'up.db'}"
    engine = connect(url)
    migrate(engine)
    engine.dispose()
    probe = (
        "import sys; from provisioner.store import connect, migrate; "
        f"migrate(connect({url!r})); print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_crud_round_trip(acme: Store) -> None:
    state = acme.tenants.state("acme")
    phone = state.phones[MAC]
    assert phone.model == "spip335"  # alias resolved to the model id
    assert phone.groups == ["sales"]
    assert [(line.position, line.user) for line in phone.lines] == [(1, "201")]
    assert Edits.of(acme).lines.add(MAC, LineState(0, "202")) == 2
    Edits.of(acme).lines.update(MAC, 2, display_name="Bob")
    Edits.of(acme).phones.update(
        MAC, description="desk", groups=["support", "sales"], enabled=False
    )
    phone = acme.tenants.state("acme").phones[MAC]
    assert (phone.description, phone.enabled, sorted(phone.groups)) == (
        "desk",
        False,
        ["sales", "support"],
    )
    assert phone.lines[1].display_name == "Bob"
    Edits.of(acme).lines.remove(MAC, 1)
    Edits.of(acme).groups.remove("acme", "support")
    phone = acme.tenants.state("acme").phones[MAC]
    assert phone.groups == ["sales"]
    assert [line.position for line in phone.lines] == [2]
    Edits.of(acme).phones.remove(MAC)
    assert count(acme, t.lines) == 0
    acme.tenants.remove("acme")
    assert count(acme, t.tenants) == count(acme, t.groups) == 0


def test_unknown_things_are_clear_errors(acme: Store) -> None:
    with pytest.raises(NotFoundError, match="no tenant named 'nope'"):
        acme.tenants.state("nope")
    with pytest.raises(NotFoundError, match="no phone with MAC 0004f2000000"):
        Edits.of(acme).phones.remove("0004f2000000")
    with pytest.raises(InputError, match="unknown model 'vvx9999'"):
        Edits.of(acme).phones.add("acme", "0004f2000001", "vvx9999")
    with pytest.raises(ConflictError, match="already exists in tenant acme"):
        Edits.of(acme).phones.add("acme", MAC, "vvx410")
    with pytest.raises(ConflictError, match="already exists"):
        Edits.of(acme).tenants.add("acme", "x.example.com")
    with pytest.raises(InputError, match="unknown setting 'time.zon'.*did you mean time.zone"):
        Edits.of(acme).settings.set(parse_scope("tenant:acme"), "time.zon", "UTC")


def test_bad_values_store_nothing(acme: Store) -> None:
    with pytest.raises(InputError) as info:
        Edits.of(acme).settings.set(
            parse_scope(f"phone:{MAC}"), "network.vlan.id", "5000", from_text=True
        )
    assert str(info.value) == (
        f"setting network.vlan.id at phone:{MAC}: 5000 is above the maximum 4094; "
        "allowed: an integer in [0, 4094]"
    )
    with pytest.raises(InputError, match="not one of the choices; allowed: one of en, de"):
        Edits.of(acme).settings.set(parse_scope("group:acme/sales"), "language", "xx")
    with pytest.raises(ValidationFailed, match="cannot be set per line"):
        Edits.of(acme).settings.set(parse_scope(f"line:{MAC}/1"), "language", "de")
    Edits.of(acme).phones.update(MAC, model="vvx600")
    for n in range(6):
        Edits.of(acme).lines.add(MAC, LineState(0, f"30{n}"))
    with pytest.raises(
        ValidationFailed, match="7 lines, but a Polycom SoundPoint IP 335 has at most 2"
    ):
        Edits.of(acme).phones.update(MAC, model="spip335")
    assert count(acme, t.phone_settings) == 0
    assert count(acme, t.group_settings) == 0
    assert acme.tenants.state("acme").phones[MAC].model == "vvx600"


def test_locks_refuse_lower_overrides(acme: Store) -> None:
    tenant, phone = parse_scope("tenant:acme"), parse_scope(f"phone:{MAC}")
    Edits.of(acme).settings.set(tenant, "time.zone", "Europe/Berlin", lock=True)
    with pytest.raises(ValidationFailed) as info:
        Edits.of(acme).settings.set(phone, "time.zone", "UTC")
    assert f"phone:{MAC}: setting time.zone is locked at tenant:acme" in str(info.value)
    with pytest.raises(ValidationFailed, match="locked at tenant:acme"):
        Edits.of(acme).settings.set(parse_scope("group:acme/sales"), "time.zone", "UTC")

    Edits.of(acme).settings.set(parse_scope("group:acme/support"), "language", "fr", lock=True)
    Edits.of(acme).settings.set(phone, "language", "de")  # not a member of support: allowed
    with pytest.raises(ValidationFailed, match="locked at group:acme/support"):
        Edits.of(acme).phones.update(
            MAC, groups=["sales", "support"]
        )  # joining would hide the phone's value
    with pytest.raises(ValidationFailed, match="locked at group:acme/sales"):
        Edits.of(acme).settings.set(parse_scope("group:acme/sales"), "language", "it", lock=True)
    with pytest.raises(InputError, match="only tenants and groups can lock"):
        Edits.of(acme).settings.set(phone, "language", "de", lock=True)
    # Unlocking at the tenant frees the lower scopes.
    Edits.of(acme).settings.set(tenant, "time.zone", "Europe/Berlin")
    Edits.of(acme).settings.set(phone, "time.zone", "UTC")
    assert acme.tenants.state("acme").phones[MAC].settings["time.zone"] == "UTC"


def test_settings_must_apply_to_the_phones_family(acme: Store) -> None:
    with pytest.raises(InputError, match="unknown raw namespace"):
        Edits.of(acme).settings.set(parse_scope(f"phone:{MAC}"), "raw.nosuch.x", "1")
    with pytest.raises(InputError, match="invalid raw parameter name"):
        Edits.of(acme).settings.set(parse_scope(f"phone:{MAC}"), "raw.polycom.bad name", "1")
    with pytest.raises(InputError, match="control character"):
        Edits.of(acme).settings.set(parse_scope(f"phone:{MAC}"), "raw.polycom.a.b", "x\ny")
    Edits.of(acme).settings.set(
        parse_scope(f"phone:{MAC}"),
        "raw.polycom.voIpProt.SIP.specialEvent.checkSync.alwaysReboot",
        "1",
    )


def test_platform_requirements(store: Store) -> None:
    with pytest.raises(
        ValidationFailed, match="platform ringcentral requires setting sip.outbound_proxy.host"
    ):
        Edits.of(store).tenants.add("rc", "rc.example.com", "ringcentral")
    Edits.of(store).tenants.add("ns", "ns.example.com")
    Edits.of(store).settings.set(
        parse_scope("tenant:ns"), "sip.outbound_proxy.host", "proxy.example.com"
    )
    Edits.of(store).tenants.update("ns", platform="netsapiens")
    with pytest.raises(ValidationFailed, match="requires setting sip.outbound_proxy.host"):
        Edits.of(store).settings.unset(parse_scope("tenant:ns"), "sip.outbound_proxy.host")


def test_values_keep_their_type(acme: Store) -> None:
    scope = parse_scope("tenant:acme")
    Edits.of(acme).settings.set(scope, "mwi.subscribe", True)
    Edits.of(acme).settings.set(scope, "network.vlan.id", 10)
    Edits.of(acme).settings.set(scope, "voicemail.number", "10")
    settings = acme.tenants.state("acme").settings
    assert settings == {"mwi.subscribe": True, "network.vlan.id": 10, "voicemail.number": "10"}


def test_snapshot_for_one_phone_still_has_the_tenant_directory(
    acme: Store, catalog: Catalog
) -> None:
    Edits.of(acme).phones.add("acme", "0004f2000002", "vvx410")
    Edits.of(acme).lines.add("0004f2000002", LineState(0, "300", display_name="Carol"))
    snap = acme.tenants.snapshot([MAC])
    assert [p.mac for p in snap.phones.values()] == [MAC]
    tenant_id = next(iter(snap.tenants))
    assert [e.user for e in snap.directory[tenant_id]] == ["201", "300"]


def test_seen_rows_upsert_and_stay_bounded(acme: Store) -> None:
    from provisioner.store import SeenRow

    def row(path: str, at: int, count: int = 1) -> SeenRow:
        return SeenRow(
            MAC,
            MAC,
            "10.0.0.5",
            "http",
            path,
            "UA",
            "polycom",
            "spip335",
            "4.0.1",
            "ok",
            True,
            count,
            at,
            at,
        )

    acme.seen.record([row("a.cfg", 10), row("b.cfg", 11)], max_rows=10)
    acme.seen.record([row("a.cfg", 20, count=2)], max_rows=10)
    rows = {r.path: r for r in acme.seen.latest()}
    assert (rows["a.cfg"].count, rows["a.cfg"].first_seen, rows["a.cfg"].last_seen) == (3, 10, 20)
    acme.seen.record([row(f"{n}.cfg", 100 + n) for n in range(20)], max_rows=10)
    assert len(acme.seen.latest()) == 10
    assert min(r.last_seen for r in acme.seen.latest()) == 110


def test_pending_devices(acme: Store) -> None:
    from provisioner.store import PendingDevice

    device = PendingDevice(
        "0004f2000099", "acme", "polycom", "vvx410", "5.9", "10.0.0.9", "UA", 1, 2
    )
    acme.seen.quarantine(device)
    acme.seen.quarantine(
        PendingDevice("0004f2000099", "acme", "polycom", "vvx410", "6.0", "10.0.0.9", "UA", 3, 4)
    )
    (stored,) = acme.seen.pending()
    assert (stored.firmware, stored.first_seen, stored.last_seen) == ("6.0", 1, 4)
    acme.seen.forget_pending("0004f2000099")
    assert acme.seen.pending() == []


def test_migrations_match_the_table_definitions(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = connect(db_url)
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), t.metadata)
    engine.dispose()
    assert diff == []


def test_heads_read_tenants_and_their_own_settings_only(acme: Store) -> None:
    Edits.of(acme).settings.set(parse_scope("tenant:acme"), "notify.delay_seconds", 9)
    Edits.of(acme).tenants.add("other", "other.example.com")
    (tenant_id,) = {tid for _, tid in acme.tenants.phones_for(tenant="acme")}
    heads = acme.tenants.heads([tenant_id])
    assert [t.name for t in heads.tenants.values()] == ["acme"]
    assert heads.values(ScopeKind.TENANT, tenant_id)["notify.delay_seconds"].value == 9
    assert (heads.phones, heads.groups, heads.lines) == ({}, {}, {})


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("00-04-F2-AA", [MAC]),  # part of a MAC, dashes, upper case
        ("0004.f2aa.bbcc", [MAC]),  # Cisco's spelling of the whole MAC
        ("aa:bb:cc", [MAC]),
        ("RECEPTION desk", [MAC]),  # description, any case
        ("201", [MAC]),  # a line's user
        ("alice", [MAC]),  # a line's display name
        ("50%", []),  # LIKE's wildcards are text here
        ("_", []),
        ("zz-zz", []),
    ],
)
def test_phone_page_searches_mac_description_line_user_and_display_name(
    acme: Store, text: str, found: list[str]
) -> None:
    Edits.of(acme).phones.add("acme", "805ec0112233", "t46s", description="Lobby")
    Edits.of(acme).phones.update(MAC, description="Reception desk")
    Edits.of(acme).lines.update(MAC, 1, display_name="Alice Example")
    rows, total = acme.tenants.phone_page(search=text)
    assert [phone.mac for _, phone in rows] == found
    assert total == len(found)


def test_a_search_pages_and_counts_every_match(acme: Store) -> None:
    for n in range(5):
        Edits.of(acme).phones.add("acme", f"805ec00000{n:02x}", "t46s", description=f"desk {n}")
    rows, total = acme.tenants.phone_page(search="DESK", limit=2, offset=2)
    assert total == 5
    assert [phone.mac for _, phone in rows] == ["805ec0000002", "805ec0000003"]
