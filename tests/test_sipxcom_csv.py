"""sipXcom's CSV import and export below the front ends, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json

import pytest
from lxml import etree
from sqlalchemy import func, select

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.errors import NotFoundError, ValidationFailed
from provisioner.masking import MASK
from provisioner.pipeline import render_snapshot
from provisioner.sip_users import get_user, list_users
from provisioner.sipxcom_csv import HEADER, KEPT, export_csv, import_csv, parse_csv
from provisioner.store import Store
from provisioner.store import _tables as t

# The header as the manual prints it (seed 003 §7.5.4, "All CSV header fields as
# of 20.04"), its PDF line breaks (↵) as they are.
MANUAL = """\
User name,PIN,Voicemail PIN,SIP password,First name,Last name,User alias,EMail ↵
address,User group,Phone serial number,Phone model,Phone group,Phone description,Im ↵
Id,Salutation,Manager,EmployeeId,Job Title,Job department,Company name,Assistant ↵
name,Cell phone number,Home phone number,Assistant phone number,Fax number,Did ↵
number,Alternate email,Alternate im,Location,Home street,Home city,Home state,Home ↵
country,Home zip,Office street,Office city,Office state,Office country,Office zip, ↵
Office mail stop,Twitter,Linkedin,Facebook,Xing,Active greeting,Email voicemail, ↵
notification,Email format,Email attach audio,Alternate email voicemail notification, ↵
Alternate email format,Alternate email attach audio,Internal Voicemail Server, ↵
Caller ID,Block Caller ID,Additional phone settings,Additional line settings,Auth ↵
Account Name,EMail address aliases,Custom 1,Custom 2,Custom 3"""
MANUAL_LINE = MANUAL.replace(" ↵\n", " ")
HEADER_LINE = ",".join(HEADER)


def _file(rows: list[dict[str, str]], *, header: str = HEADER_LINE, end: str = "\r\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=end)
    for row in rows:
        writer.writerow([row.get(c, "") for c in HEADER])
    return (header + end + out.getvalue()).encode()


def _row(user: str = "", serial: str = "", **fields: str) -> dict[str, str]:
    names = {
        "password": "SIP password",
        "first": "First name",
        "last": "Last name",
        "alias": "User alias",
        "model": "Phone model",
        "group": "Phone group",
        "user_group": "User group",
        "description": "Phone description",
        "auth": "Auth Account Name",
        "pin": "Voicemail PIN",
        "email": "EMail address",
    }
    row = {"User name": user, "Phone serial number": serial}
    row.update({names.get(k, k): v for k, v in fields.items()})
    return row


@pytest.fixture
def acme(store: Store) -> Store:
    edits = Edits.of(store)
    edits.tenants.add("acme", "acme.example.com")
    edits.tenants.add("other", "other.example.com")
    edits.phones.add("other", "805ec0999999", "t46s")
    return store


def _import(store: Store, data: bytes) -> dict[str, int]:
    return import_csv(store, Edits.of(store), "acme", data).changes


def _counts(store: Store) -> tuple[int, ...]:
    with store.engine.connect() as conn:
        return tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (t.phones, t.lines, t.groups, t.sip_users)
        )


def test_the_header_is_the_manuals() -> None:
    # The manual's "Email voicemail, notification" is one column in sipXconfig
    # (its line break fell after the word); every other name is the manual's.
    manual = [n.strip() for n in MANUAL_LINE.split(",")]
    joined = manual.index("Email voicemail")
    assert manual[joined + 1] == "notification"
    manual[joined : joined + 2] = ["Email voicemail notification"]
    assert tuple(manual) == HEADER
    assert len(HEADER) == 61


def test_a_file_with_the_manuals_header_verbatim_imports(acme: Store) -> None:
    body = "bob,,,pw-1,Bob,,,,,0004f2000001,polycomVVX410" + "," * 51
    changes = _import(acme, f"{MANUAL_LINE}\r\n{body}\r\n".encode())
    assert changes["phone created"] == 1
    bad = "bob,,,,,,,,,0004f2000001" + "," * 37 + "x" + "," * 15
    with pytest.raises(ValidationFailed, match='row 2, column "notification": the manual'):
        _import(acme, f"{MANUAL_LINE}\n{bad}\n".encode())


def _full_row(i: int, serial: int, model: str) -> dict[str, str]:
    """A row with every column filled."""
    row = {c: f"{c.split()[0]}-{i}" for c in KEPT}
    row.update(
        _row(
            f"u{i:04d}",
            f"0004f2{serial:06x}",
            password=f"pw-{i}",
            first=f"First{i}",
            last=f"Last {i}",
            alias=f"a{i} b{i}",
            model=model,
            group="floor1 floor2",
            user_group="staff",
            description=f"desk {serial}",
            auth=f"auth{i}",
        )
    )
    row["PIN"], row["Voicemail PIN"] = str(1000 + i), str(2000 + i)
    row["Home street"] = f"{i} Main St,\nApt 2"  # a quoted field over two lines
    return row


def test_a_thousand_rows_with_every_column_round_trip(acme: Store, catalog: Catalog) -> None:
    # 600 phones: 400 with one line, 200 with three (two of them the same user).
    rows = []
    for i in range(1000):
        phone = i if i < 400 else 400 + (i - 400) // 3
        rows.append(_full_row(i, phone, "polycomVVX410" if phone % 2 else "vvx410"))
    data = _file(rows)
    assert len(HEADER) == len(next(csv.reader(io.StringIO(data.decode()))))
    report = import_csv(acme, Edits.of(acme), "acme", data)
    assert report.rows == 1000
    assert report.changes["phone created"] == 600
    assert report.changes["line created"] == 1000
    assert report.changes["sip user created"] == 1000
    assert report.groups_created == ["floor1", "floor2", "staff"]
    assert report.kept == list(KEPT)
    state = acme.tenants.state("acme")
    assert [ln.user for ln in state.phones["0004f2000190"].lines] == ["u0400", "u0401", "u0402"]
    bob = get_user(acme, "acme", "u0007")
    assert (bob.password, bob.display_name, bob.aliases) == ("pw-7", "First7 Last 7", ("a7", "b7"))
    assert bob.attributes["Home street"] == "7 Main St,\nApt 2"
    assert bob.attributes["Voicemail PIN"] == "2007"
    exported = export_csv(acme, "acme")
    # Export, import: no change; and the same bytes again.
    assert _import(acme, exported.encode()) == {}
    assert export_csv(acme, "acme") == exported
    # Into an empty tenant elsewhere: the same file comes out.
    Edits.of(acme).tenants.remove("acme")
    Edits.of(acme).tenants.add("acme", "acme.example.com")
    _import(acme, exported.encode())
    assert export_csv(acme, "acme") == exported
    parsed = parse_csv(exported.encode(), catalog)
    assert len(parsed.rows) == 1000


def test_empty_fields_do_not_overwrite(acme: Store) -> None:
    full = _full_row(1, 1, "vvx410")
    _import(acme, _file([full]))
    before = (acme.tenants.state("acme"), list_users(acme, "acme"))
    assert _import(acme, _file([_row("u0001", "0004f2000001")])) == {}
    assert (acme.tenants.state("acme"), list_users(acme, "acme")) == before
    # A value given overwrites; the rest stays.
    _import(acme, _file([_row("u0001", "", last="Smith", email="new@example.com")]))
    user = get_user(acme, "acme", "u0001")
    assert (user.first_name, user.last_name) == ("First1", "Smith")
    assert user.attributes["EMail address"] == "new@example.com"
    assert user.attributes["Voicemail PIN"] == "2001"
    (line,) = acme.tenants.state("acme").phones["0004f2000001"].lines
    assert (line.display_name, line.password) == ("First1 Smith", "pw-1")


def test_multi_line_phones_add_lines_in_order(acme: Store) -> None:
    serial = "0004f2000001"
    rows = [_row("bob", serial, model="vvx410", password="b-pw"), _row("carol", serial)]
    _import(acme, _file(rows))
    _import(acme, _file([_row("dave", serial), _row("carol", serial, first="Carol")]))
    lines = acme.tenants.state("acme").phones[serial].lines
    assert [(ln.position, ln.user, ln.display_name) for ln in lines] == [
        (1, "bob", ""),
        (2, "carol", "Carol"),
        (3, "dave", ""),
    ]
    assert lines[0].password == "b-pw"
    # A user's change reaches its lines on phones the file does not name.
    _import(acme, _file([_row("bob", "0004f2000002", model="vvx410", password="n3w")]))
    state = acme.tenants.state("acme")
    assert state.phones[serial].lines[0].password == "n3w"
    assert state.phones["0004f2000002"].lines[0].password == "n3w"


def test_a_phone_in_a_one_line_model_refuses_a_second_line_and_stores_nothing(
    acme: Store,
) -> None:
    counts = _counts(acme)
    rows = [_row("bob", "0004f2000001", model="polycomVVX101"), _row("carol", "0004f2000001")]
    rows.insert(0, _row("zed", "", first="Zed"))
    with pytest.raises(ValidationFailed, match='row 4, column "User name"'):
        _import(acme, _file(rows))
    assert _counts(acme) == counts
    assert acme.sip_users.get("acme", "zed") is None


def test_bad_files_name_row_and_column(acme: Store) -> None:
    rows = [
        _row("bob", "0004f2000001", model="nosuchphone"),
        _row("carol", "00:04:f2:zz:00:01", model="vvx410"),
        _row("dave", "0004f2000003", model="vvx410", password='a"b'),
        _row("", "", first="Nobody"),
        _row("erin", "0004f2000004", model="vvx410", alias="erin"),
        _row("frank", "0004f2000005", model="vvx410", group="bad/group"),
    ]
    with pytest.raises(ValidationFailed) as raised:
        _import(acme, _file(rows))
    where = [p.location for p in raised.value.problems]
    assert where == [
        'row 2, column "Phone model"',
        'row 3, column "Phone serial number"',
        'row 4, column "SIP password"',
        'row 5, column "User name"',
        'row 6, column "User alias"',
        'row 7, column "Phone group"',
    ]
    assert "did you mean" in str(raised.value) or "unknown model 'nosuchphone'" in str(raised.value)
    assert 'a"b' not in str(raised.value)  # a password is never echoed
    with pytest.raises(ValidationFailed, match='row 1, column "Surname": not a column'):
        _import(acme, (HEADER_LINE + ",Surname\r\n").encode())
    with pytest.raises(ValidationFailed, match="row 2: 63 fields; the header has 61"):
        _import(acme, (HEADER_LINE + "\r\n" + "," * 62 + "x\r\n").encode())
    with pytest.raises(ValidationFailed, match='column "Phone serial number": missing'):
        _import(acme, b"User name,PIN\r\nbob,1\r\n")
    with pytest.raises(ValidationFailed, match="the file is empty"):
        _import(acme, b"\xef\xbb\xbf\r\n")


def test_duplicate_serials_and_other_tenants_phones(acme: Store) -> None:
    rows = [
        _row("bob", "0004f2000001", model="vvx410", description="desk"),
        _row("carol", "0004F2000001", model="t46s"),
        _row("dave", "0004f2000001", description="hall"),
        _row("erin", "805ec0999999", model="t46s"),
        _row("fay", "0004f2000002"),
    ]
    with pytest.raises(ValidationFailed) as raised:
        _import(acme, _file(rows))
    # The file's own problems and the store's, all at once, in row order.
    assert [str(p) for p in raised.value.problems] == [
        'row 3, column "Phone model": phone 0004f2000001 has another value at row 2',
        'row 4, column "Phone description": phone 0004f2000001 has another value at row 2',
        'row 5, column "Phone serial number": phone 805ec0999999 belongs to tenant other',
        'row 6, column "Phone model": phone 0004f2000002 is new: its model is needed',
    ]
    with pytest.raises(ValidationFailed) as raised:
        _import(acme, _file(rows[:1] + rows[3:]))
    assert [str(p) for p in raised.value.problems] == [
        'row 3, column "Phone serial number": phone 805ec0999999 belongs to tenant other',
        'row 4, column "Phone model": phone 0004f2000002 is new: its model is needed',
    ]
    conflicting = [_row("bob", "", password="one"), _row("bob", "", password="two")]
    with pytest.raises(ValidationFailed, match='row 3, column "SIP password": user bob has'):
        _import(acme, _file(conflicting))
    taken = [_row("bob", "", alias="200"), _row("carol", "", alias="200")]
    with pytest.raises(ValidationFailed, match="'200' is both a name or alias of user bob"):
        _import(acme, _file(taken))


HOSTILE = {
    "first": '<b>"Bob" & Co</b>',
    "last": "O'Neil, ]]> --",
    "description": '=HYPERLINK("http://evil"),\'; DROP TABLE phones;--',
    "email": "x@y.z\r\nBcc: all@example.com",
}


def test_hostile_names_are_kept_exactly_and_render_escaped(acme: Store, catalog: Catalog) -> None:
    _import(acme, _file([_row("bob", "0004f2000001", model="vvx410", **HOSTILE)]))
    user = get_user(acme, "acme", "bob")
    assert user.display_name == '<b>"Bob" & Co</b> O\'Neil, ]]> --'
    assert user.attributes["EMail address"] == HOSTILE["email"]
    phone = acme.tenants.state("acme").phones["0004f2000001"]
    assert phone.description == HOSTILE["description"]
    exported = export_csv(acme, "acme")
    assert _import(acme, exported.encode()) == {}
    assert export_csv(acme, "acme") == exported
    result = render_snapshot(catalog, acme.tenants.snapshot())
    assert not result.errors
    files = {f.path: f.data for f in result.phones["0004f2000001"]}
    xml = [d for d in files.values() if d.lstrip().startswith(b"<")]
    assert xml
    values = set()
    for data in xml:
        root = etree.fromstring(data)  # well-formed: the name was escaped
        values |= {v for element in root.iter() for v in element.attrib.values()}
    assert user.display_name in values
    # A control character where none can go, or a NUL anywhere, is refused by name.
    with pytest.raises(ValidationFailed, match='row 2, column "First name": first name: control'):
        _import(acme, _file([_row("eve", "", first="a\x07b")]))
    with pytest.raises(ValidationFailed, match='row 2, column "Custom 1": value: control'):
        _import(acme, _file([_row("eve", "", **{"Custom 1": "a\x00b"})]))


def test_bom_crlf_and_lf(acme: Store) -> None:
    rows = [_row("bob", "0004f2000001", model="vvx410"), _row("carol", "0004f2000002")]
    rows[1]["Phone model"] = "t46s"
    _import(acme, b"\xef\xbb\xbf" + _file(rows))
    assert sorted(acme.tenants.state("acme").phones) == ["0004f2000001", "0004f2000002"]
    assert _import(acme, _file(rows, end="\n")) == {}


def test_dry_run_stores_nothing_and_shows_masked_diffs(acme: Store) -> None:
    counts = _counts(acme)
    data = _file([_row("bob", "0004f2000001", model="vvx410", password="s3cret-pw")])
    report = import_csv(acme, Edits.of(acme), "acme", data, dry_run=True)
    assert report.dry_run
    assert report.changes["phone created"] == 1
    assert [p.mac for p in report.phones] == ["0004f2000001"]
    text = json.dumps([f.diff_current for p in report.phones for f in p.files])
    assert "s3cret-pw" not in text
    assert MASK in text
    assert _counts(acme) == counts
    # A refused file in a dry run comes back as problems, stored nowhere.
    bad = _file([_row("bob", "0004f2000001", model="polycomVVX101"), _row("x", "0004f2000001")])
    report = import_csv(acme, Edits.of(acme), "acme", bad, dry_run=True)
    assert report.problems
    assert _counts(acme) == counts


def test_masked_export_keeps_secrets_on_import(acme: Store) -> None:
    row = _row("bob", "0004f2000001", model="vvx410", password="s3cret-pw", pin="4711")
    _import(acme, _file([row]))
    masked = export_csv(acme, "acme", reveal_secrets=False)
    assert "s3cret-pw" not in masked
    assert "4711" not in masked
    assert _import(acme, masked.encode()) == {}
    assert get_user(acme, "acme", "bob").password == "s3cret-pw"


def test_one_audit_entry_without_secrets(acme: Store) -> None:
    row = _row("bob", "0004f2000001", model="vvx410", password="s3cret-pw", pin="4711")
    _import(acme, _file([row]))
    with acme.engine.connect() as conn:
        entries = conn.execute(
            select(t.audit_log.c.action, t.audit_log.c.before, t.audit_log.c.after).where(
                t.audit_log.c.action.like("csv.%")
            )
        ).all()
    assert [e.action for e in entries] == ["csv.import"]
    after = json.loads(entries[0].after)
    assert after["users.bob.password"] == "(set)"
    assert after["users.bob.attributes.Voicemail PIN"] == "(set)"
    assert after["phones.0004f2000001.lines[1].password"] == "(set)"
    assert "s3cret-pw" not in entries[0].after
    assert "4711" not in entries[0].after


def test_an_unknown_tenant_is_refused(acme: Store) -> None:
    with pytest.raises(NotFoundError, match="no tenant named 'nope'"):
        import_csv(acme, Edits.of(acme), "nope", _file([_row("bob", "")]))
