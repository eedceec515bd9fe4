"""The character rule for stored text: boundaries, XML 1.0, every write, every family renders."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.catalog import Catalog, Family
from provisioner.chars import CONTROL_CHARS, check_text, decode_utf8
from provisioner.check import check_tenant
from provisioner.edits import Edits
from provisioner.errors import EncodingError, InputError, ValidationFailed
from provisioner.render import Renderer, RenderFailed
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import Store
from tests.test_render import MAC, one_phone, render_one

# (code point, accepted where controls are refused, accepted in display names and labels)
BOUNDARIES = [
    (0x0000, False, False),  # PostgreSQL text cannot hold it
    (0x0001, False, True),
    (0x0008, False, True),
    (0x0009, False, True),  # TAB: an XML Char, but it would split a key/value column
    (0x000A, False, True),
    (0x000D, False, True),
    (0x001F, False, True),
    (0x0020, True, True),
    (0x007F, False, True),
    (0x009F, False, True),
    (0x00A0, True, True),
    (0x2028, False, True),
    (0xD7FF, True, True),
    (0xD800, False, False),
    (0xDFFF, False, False),
    (0xE000, True, True),
    (0xFFFD, True, True),
    (0xFFFE, False, False),
    (0xFFFF, False, False),
    (0x10000, True, True),
    (0x10FFFF, True, True),
]


def accepts(text: str, *, controls: bool = False) -> bool:
    try:
        check_text(text, "field", controls=controls)
    except InputError:
        return False
    return True


@pytest.mark.parametrize(("code", "strict", "lenient"), BOUNDARIES, ids=lambda v: f"{v:04X}")
def test_boundary_code_points(code: int, strict: bool, lenient: bool) -> None:
    text = f"ab{chr(code)}c"
    assert accepts(text) is strict
    assert accepts(text, controls=True) is lenient
    if not strict:
        with pytest.raises(InputError) as info:
            check_text(text, "display name")
        assert str(info.value).startswith("display name: ")
        assert f"U+{code:04X} at position 2 is not allowed" in str(info.value)


def xml_char(code: int) -> bool:
    """XML 1.0 (Fifth Edition) §2.2, production [2] Char, as written in the spec."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def test_the_rule_is_the_xml_production_minus_what_the_renderer_cleans() -> None:
    # Every code point: refused values are exactly the non-Chars the renderer
    # cannot replace, NUL, and (outside display names and labels) the controls.
    wrong = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        control = CONTROL_CHARS.match(char) is not None
        if accepts(char, controls=True) != ((xml_char(code) or control) and code != 0):
            wrong.append(code)
        if accepts(char) != (xml_char(code) and not control):
            wrong.append(code)
    assert wrong == []


def test_invalid_utf8_names_the_byte() -> None:
    assert decode_utf8("Zoë".encode(), "x") == "Zoë"
    with pytest.raises(EncodingError, match=r"^input is not valid UTF-8 at byte 2 \(0xFF: "):
        decode_utf8(b"ab\xffc", "input")


def tenant_with_everything() -> TenantState:
    line = LineState(1, "201", "a201", "pw-201", "Alice", "A", {"voicemail.number": "*97"})
    phone = PhoneState("0004f2000001", "vvx410", "desk", groups=["g"], lines=[line])
    group = GroupState("g", "sales", settings={"language": "de"})
    return TenantState(
        "acme",
        "acme.example.com",
        description="Acme",
        settings={"raw.polycom.up.welcome": "hi"},
        groups={"g": group},
        phones={phone.mac: phone},
    )


def text_fields(tenant: TenantState) -> list[tuple[object, str]]:
    """(object, field name) for every text field of the tenant, its groups, phones and lines."""
    group = tenant.groups["g"]
    phone = tenant.phones["0004f2000001"]
    found: list[tuple[object, str]] = []
    for obj in (tenant, group, phone, phone.lines[0]):
        for field in dataclasses.fields(obj):
            if field.name != "where" and isinstance(getattr(obj, field.name), str):
                found.append((obj, field.name))
    return found


# Fields that name something (a platform preset, a model, the MAC the phone
# is filed under) are refused as unknown or malformed instead.
REFERENCES = {"platform", "model", "mac"}


def test_every_text_field_of_every_entity_is_checked(catalog: Catalog) -> None:
    assert check_tenant(catalog, tenant_with_everything()) == []
    fields = text_fields(tenant_with_everything())
    assert {"display_name", "label", "password", "sip_domain", "description"} <= {
        name for _, name in fields
    }
    for index, (_, name) in enumerate(fields):
        tenant = tenant_with_everything()
        obj, same = text_fields(tenant)[index]
        assert same == name
        setattr(obj, name, getattr(obj, name) + "\uffff")
        problems = check_tenant(catalog, tenant)
        assert problems, f"{type(obj).__name__}.{name} accepted U+FFFF"
        if name not in REFERENCES:
            assert "U+FFFF" in str(problems[0]), (name, problems)


@pytest.mark.parametrize("where", ["tenant", "group", "phone", "line"])
def test_every_setting_value_is_checked(catalog: Catalog, where: str) -> None:
    tenant = tenant_with_everything()
    phone = tenant.phones["0004f2000001"]
    scope = {
        "tenant": tenant.settings,
        "group": tenant.groups["g"].settings,
        "phone": phone.settings,
        "line": phone.lines[0].settings,
    }[where]
    name = "voicemail.number" if where == "line" else "raw.polycom.up.welcome"
    scope[name] = "x\ud800"
    problems = check_tenant(catalog, tenant)
    assert len(problems) == 1
    assert f"setting {name}" in problems[0].message
    assert "U+D800 at position 1 is not allowed" in problems[0].message


# Characters near every boundary, markup and key/value syntax, and the rest of Unicode
# (surrogates included, which hypothesis leaves out by default).
_ANY = st.one_of(
    st.sampled_from([chr(code) for code, _, _ in BOUNDARIES] + list("<>&\"'\\#;=: ")),
    st.characters(exclude_categories=()),
)


def texts(*, controls: bool) -> st.SearchStrategy[str]:
    """Text the rule accepts (it judges character by character)."""
    return st.text(_ANY.filter(lambda c: accepts(c, controls=controls)), max_size=60)


def raw_name(family: Family) -> str:
    assert family.raw is not None
    return f"raw.{family.raw.prefix}.provtest"


def line_count(files: dict[str, bytes]) -> dict[str, int]:
    return {path: data.count(b"\n") for path, data in files.items()}


@pytest.fixture(scope="module")
def renderer(catalog: Catalog) -> Renderer:
    return Renderer(catalog)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(free=texts(controls=True), value=texts(controls=False))
def test_accepted_text_renders_for_every_family(
    catalog: Catalog, renderer: Renderer, free: str, value: str
) -> None:
    for family in catalog.families.values():
        model = family.models[0]
        raw = raw_name(family)
        # What a write would say about these values: nothing.
        line = LineState(1, "100", password="pw", display_name=free, label=free)
        phone = PhoneState(MAC, model.id, settings={raw: value}, lines=[line])
        tenant = TenantState("t", "t.example.com", phones={MAC: phone})
        assert check_tenant(catalog, tenant) == []
        try:
            files = render_one(catalog, one_phone(model.id, free, free, **{raw: value}), renderer)
        except RenderFailed as exc:  # pragma: no cover - the failure is the finding
            pytest.fail(f"{family.key}: {exc}")
        # XML files were parsed by the renderer; key/value files gain no line.
        plain = render_one(catalog, one_phone(model.id, "x", "x", **{raw: "x"}), renderer)
        assert line_count(files) == line_count(plain), family.key


@pytest.mark.parametrize(
    ("field", "text", "character"),
    [("label", "a\x00b", "U+0000"), ("display_name", "a\ud800b", "U+D800")],
)
def test_what_the_database_cannot_hold_is_refused_before_it(
    store: Store, field: str, text: str, character: str
) -> None:
    # PostgreSQL text cannot hold NUL, and no driver can encode a surrogate:
    # both used to end in a driver error (a traceback) instead of a problem.
    tenant = tenant_with_everything()
    setattr(tenant.phones["0004f2000001"].lines[0], field, text)
    with pytest.raises(ValidationFailed, match=re.escape(f"{character} at position 1 is not")):
        store.tenants.apply([tenant])
    assert store.tenants.all_states() == []
    store.tenants.apply([tenant_with_everything()])
    with pytest.raises(ValidationFailed, match=re.escape(character)):
        Edits.of(store).lines.update("0004f2000001", 1, **{field: text})
    assert store.tenants.all_states() == [tenant_with_everything()]
