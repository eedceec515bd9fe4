"""CSV and vCard 3.0/4.0 phonebook files: exact parses, exact output, round trips, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioner.domain import NUMBER_KINDS, PhonebookEntry
from provisioner.errors import InputError, ValidationFailed
from provisioner.phonebook_files import (
    MAX_ENTRIES,
    MAX_NAME,
    normal_number,
    parse_csv,
    parse_vcard,
    write_csv,
    write_vcard,
)

ALICE = PhonebookEntry("Alice", "Smith", "ACME", (("work", "+15550102000"), ("mobile", "2001")))
HOSTILE = PhonebookEntry("Bob & <Co>", 'O\'Neil "x"', "a;b,c\\d", (("other", "*97#"),))
ORG_ONLY = PhonebookEntry("", "", "Pizza Place", (("home", "pizza@example.com"),))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "first_name,last_name,organisation,work,mobile,home,other\r\n"
            "Alice,Smith,ACME,+1 (555) 010-2000,2001,,\r\n",
            [ALICE],
        ),
        # Columns in any order, some absent, blank lines skipped, BOM tolerated.
        ("\ufefforganisation,home\n\nPizza Place,sip:pizza@example.com\n", [ORG_ONLY]),
        (
            "first_name,last_name,organisation,other\n"
            '"Bob & <Co>","O\'Neil ""x""","a;b,c\\d",*97#\n',
            [HOSTILE],
        ),
    ],
)
def test_csv_parses_exactly(text: str, expected: list[PhonebookEntry]) -> None:
    assert parse_csv(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty file"),
        ("first,last\n", "line 1: header 'first,last'"),
        ("first_name,work,work\n", "expected distinct columns"),
        ("first_name,work\nAlice\n", "line 2: 1 fields, the header has 2"),
        ("first_name,work\nAlice,\n", "line 2: 'Alice' has no number"),
        ("first_name,work\n,123\n", "line 2: an entry needs a first name"),
        ("first_name,work\nAlice,12x4\n", "line 2: '12x4' is not a number"),
        ("first_name,work\nA\x07lice,1\n", "line 2: first name: control character U+0007"),
        (f"first_name,work\n{'x' * (MAX_NAME + 1)},1\n", f"longer than {MAX_NAME}"),
    ],
)
def test_csv_refusals_name_the_line(text: str, problem: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_csv(text)
    assert problem in str(failure.value)


def test_csv_reports_every_bad_line_and_keeps_nothing() -> None:
    text = "first_name,work\nAlice,1\nBob,x\nCarol,2\nDave,\n"
    with pytest.raises(ValidationFailed) as failure:
        parse_csv(text)
    assert [p.location for p in failure.value.problems] == ["line 3", "line 5"]


def test_csv_limit_of_entries() -> None:
    text = "first_name,work\n" + "a,1\n" * (MAX_ENTRIES + 1)
    with pytest.raises(ValidationFailed, match=f"a phonebook holds {MAX_ENTRIES}"):
        parse_csv(text)


def test_csv_output_is_exact() -> None:
    assert write_csv([ALICE, HOSTILE]) == (
        "first_name,last_name,organisation,work,mobile,home,other\r\n"
        "Alice,Smith,ACME,+15550102000,2001,,\r\n"
        'Bob & <Co>,"O\'Neil ""x""","a;b,c\\d",,,,*97#\r\n'
    )


VCARD3 = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "N:Smith;Alice;;;\r\n"
    "FN:Alice Smith\r\n"
    "ORG:ACME;Sales\r\n"
    "TEL;TYPE=WORK,VOICE:+1 (555) 010-2000\r\n"
    "item1.TEL;type=CELL:2001\r\n"
    "EMAIL:alice@example.com\r\n"
    "END:VCARD\r\n"
)
VCARD4 = (
    "BEGIN:VCARD\n"
    "VERSION:4.0\n"
    'N:O\'Neil "x";Bob & <Co>;;;\n'
    "FN:Bob\n"
    "ORG:a\\;b\\,c\\\\d\n"
    'TEL;VALUE=uri;TYPE="voice":tel:*97#\n'
    "END:VCARD\n"
    "BEGIN:VCARD\n"
    "VERSION:4.0\n"
    "FN:Pizza\n"
    "  Place\n"  # folded: unfolding drops the line break and one space
    "ORG:Pizza Place\n"
    "TEL;VALUE=uri;TYPE=home:sip:pizza@example.com\n"
    "END:VCARD\n"
)


def test_vcard3_parses_exactly() -> None:
    assert parse_vcard(VCARD3) == [ALICE]


def test_vcard4_parses_exactly() -> None:
    # A card whose FN is its ORG is the organisation's entry.
    assert parse_vcard(VCARD4) == [HOSTILE, ORG_ONLY]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("hello\n", "line 1: not a vCard property"),
        ("", "not a vCard file"),
        ("BEGIN:VCARD\nVERSION:2.1\nEND:VCARD\n", "only vCard 3.0 and 4.0"),
        ("BEGIN:VCARD\nFN:x\nTEL:1\nEND:VCARD\n", "card at line 1: no VERSION"),
        ("BEGIN:VCARD\nVERSION:3.0\nFN:x\nTEL:1\n", "no END:VCARD"),
        ("BEGIN:VCARD\nVERSION:3.0\nFN:x\nEND:VCARD\n", "'x' has no number"),
        (
            "BEGIN:VCARD\nVERSION:3.0\nFN:x\nTEL;TYPE=work:1\nTEL;TYPE=work:2\nEND:VCARD\n",
            "card at line 1, line 5: a second work number",
        ),
        (
            "BEGIN:VCARD\nVERSION:3.0\nFN:x\nTEL;ENCODING=QUOTED-PRINTABLE:1\nEND:VCARD\n",
            "vCard 2.1",
        ),
        ("FN:x\n", "FN outside BEGIN:VCARD"),
    ],
)
def test_vcard_refusals_name_card_and_line(text: str, problem: str) -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_vcard(text)
    assert problem in str(failure.value)


def test_vcard4_output_is_exact() -> None:
    assert write_vcard([HOSTILE, ORG_ONLY]) == (
        "BEGIN:VCARD\r\nVERSION:4.0\r\n"
        'N:O\'Neil "x";Bob & <Co>;;;\r\n'
        'FN:Bob & <Co> O\'Neil "x"\r\n'
        "ORG:a\\;b\\,c\\\\d\r\n"
        "TEL;VALUE=uri;TYPE=voice:tel:*97#\r\n"
        "END:VCARD\r\n"
        "BEGIN:VCARD\r\nVERSION:4.0\r\n"
        "N:;;;;\r\n"
        "FN:Pizza Place\r\n"
        "ORG:Pizza Place\r\n"
        "TEL;VALUE=uri;TYPE=home:sip:pizza@example.com\r\n"
        "END:VCARD\r\n"
    )


def test_vcard3_output_is_exact() -> None:
    assert write_vcard([ALICE], "3.0") == (
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Smith;Alice;;;\r\nFN:Alice Smith\r\nORG:ACME\r\n"
        "TEL;TYPE=work:+15550102000\r\nTEL;TYPE=cell:2001\r\nEND:VCARD\r\n"
    )


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+49 (30) 123-45.67", "+49301234567"),
        ("tel:+1-555-0100", "+15550100"),
        ("SIP:alice@pbx.example.com", "alice@pbx.example.com"),
        ("*97", "*97"),
    ],
)
def test_numbers_are_normalised(raw: str, stored: str) -> None:
    assert normal_number(raw) == stored


@pytest.mark.parametrize("raw", ["", "abc", "1 2 x", "a b@c", "+" + "1" * 64])
def test_bad_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InputError):
        normal_number(raw)


# Names without leading/trailing spaces (import strips them) and without the
# characters the character rule refuses.
_TEXT = st.text(
    st.characters(
        blacklist_categories=("Cc", "Cs", "Cn", "Zl", "Zp"), blacklist_characters="\ufeff"
    ),
    max_size=MAX_NAME,
).map(str.strip)
_NUMBER = st.one_of(
    st.from_regex(r"\+?[0-9*#]{1,20}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,10}@[a-z0-9]{1,10}\.example", fullmatch=True),
)


@st.composite
def _entries(draw: st.DrawFn) -> PhonebookEntry:
    first, last, org = draw(_TEXT), draw(_TEXT), draw(_TEXT)
    if not (first or last or org):
        org = "x"
    kinds = draw(st.lists(st.sampled_from(NUMBER_KINDS), min_size=1, unique=True))
    numbers = tuple((k, draw(_NUMBER)) for k in NUMBER_KINDS if k in kinds)
    return PhonebookEntry(first, last, org, numbers)


@settings(max_examples=50)
@given(st.lists(_entries(), min_size=1, max_size=5))
def test_export_then_import_gives_the_same_entries(entries: list[PhonebookEntry]) -> None:
    assert parse_csv(write_csv(entries)) == entries
    assert parse_vcard(write_vcard(entries, "4.0")) == entries
    assert parse_vcard(write_vcard(entries, "3.0")) == entries
