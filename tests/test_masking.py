"""Masked files never carry a secret, in any spelling, for every family's format.

Each family's first model renders a phone whose line passwords and admin
password are hostile (``&``, ``<``, quotes, ``%``, spaces, backslashes);
the masked files (:func:`provisioner.phone_files.phone_files`, what
``GET /phones/{mac}/files`` and the previews show) must hold none of the
ways a renderer or template could spell it, and must not depend on the
secret at all. The unmasked render is checked to carry the secret, so each
case can fail.
"""

from __future__ import annotations

import html
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioner.catalog import Catalog
from provisioner.domain import DirectoryEntry, Line, Phone, ScopeKind, Snapshot, StoredValue, Tenant
from provisioner.masking import MASK
from provisioner.phone_files import phone_files

MAC = "0004f2aabbcc"
ADMIN = "device.admin_password"
HOSTILE = [
    "a&b<c>d\"e'f%g h",
    "p%41ss word+x",
    'say "hi"\\there',
    "]]><!-- &amp; -->",
    "x' or '1'='1",
    "pässwörd €&#39;",
    "tab\\tand;semi=colon#hash",
    "  padded  ",
]


def snapshot(catalog: Catalog, model: str, secret: str, user: str = "100") -> Snapshot:
    snap = Snapshot(device_key=b"k" * 32)
    snap.tenants[1] = Tenant(1, "t", "t.example.com", "generic", "")
    snap.phones[1] = Phone(1, 1, MAC, model, "", True, ())
    snap.lines[1] = [Line(10, 1, 1, user, "", secret, "Name", "L")]
    snap.settings[(ScopeKind.PHONE, 1)] = {ADMIN: StoredValue(secret)}
    return snap


def spellings(secret: str) -> set[str]:
    """Every way the renderers and templates could write ``secret``."""
    xml_entities = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
    quotes = [{'"': "&quot;", "'": "&apos;"}, {'"': "&#34;", "'": "&#39;"}, {"'": "&#x27;"}]
    forms = {
        secret,
        html.escape(secret),
        html.escape(secret, quote=False),
        urllib.parse.quote(secret),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        secret.replace("\\", "\\\\").replace('"', '\\"'),
        secret.replace('"', '""'),
        secret.replace('"', "'"),  # Cisco SIP 7940/7960 key: "value" files (their q())
    }
    for extra in quotes:
        forms.add("".join({**xml_entities, **extra}.get(c, c) for c in secret))
    return {form for form in forms if form.strip()}


def rendered(catalog: Catalog, model: str, secret: str, *, reveal: bool) -> dict[str, str]:
    files, errors = phone_files(catalog, snapshot(catalog, model, secret), MAC, reveal=reveal)
    assert errors == []
    return {f.path: f.data.decode("utf-8", "replace") for f in files}


def models(catalog: Catalog) -> list[str]:
    return [family.models[0].id for family in catalog.families.values()]


@pytest.mark.parametrize("secret", HOSTILE)
def test_no_spelling_of_a_secret_is_left_in_any_familys_files(
    catalog: Catalog, secret: str
) -> None:
    for model in models(catalog):
        real = rendered(catalog, model, secret, reveal=True)
        masked = rendered(catalog, model, secret, reveal=False)
        assert masked.keys() == real.keys()
        carried = [p for p, text in real.items() if any(s in text for s in spellings(secret))]
        assert carried, f"{model}: no file carries the password, so nothing is checked"
        for path in carried:
            assert MASK in masked[path], (model, path)
        for path, text in masked.items():
            leaked = [s for s in spellings(secret) if s in text]
            assert not leaked, (model, path, leaked)


SECRETS = st.text(
    alphabet=st.sampled_from("&<>\"'%+ \\;=#/?abcXYZ09é€"), min_size=6, max_size=24
).map(lambda s: "Zq" + s)  # a prefix no template text has, so it masks nothing else


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=SECRETS, second=SECRETS)
def test_masked_files_do_not_depend_on_the_secret(
    catalog: Catalog, first: str, second: str
) -> None:
    for model in models(catalog):
        assert rendered(catalog, model, first, reveal=False) == rendered(
            catalog, model, second, reveal=False
        ), model


def test_a_secret_equal_to_other_text_masks_that_text_too(catalog: Catalog) -> None:
    masked = rendered(catalog, "t46s", "line-user-7", reveal=False)
    real = rendered(catalog, "t46s", "line-user-7", reveal=True)
    assert any("line-user-7" in text for text in real.values())
    files = phone_files(catalog, snapshot(catalog, "t46s", "u-7x", user="u-7x"), MAC)[0]
    assert not any(b"u-7x" in f.data for f in files)
    assert not any("line-user-7" in text for text in masked.values())


def test_the_http_password_a_phonebook_fetch_sends_is_masked(catalog: Catalog) -> None:
    snap = snapshot(catalog, "t46s", "pw-line-1")
    snap.settings[(ScopeKind.TENANT, 1)] = {
        "access.http.password": StoredValue("Zq-http&pw-9"),
        "directory.tenant_lines": StoredValue(True),
        "provisioning.server_url": StoredValue("https://prov.example.com/"),
    }
    snap.directory = {1: (DirectoryEntry("Name", "100"),)}
    real = phone_files(catalog, snap, MAC, reveal=True)[0]
    masked = phone_files(catalog, snap, MAC, reveal=False)[0]
    real_cfg = next(f.data.decode() for f in real if f.path == f"{MAC}.cfg")
    masked_cfg = next(f.data.decode() for f in masked if f.path == f"{MAC}.cfg")
    assert "remote_phonebook.data.1.password = Zq-http&pw-9\n" in real_cfg
    assert f"remote_phonebook.data.1.username = {MAC}\n" in real_cfg
    assert f"remote_phonebook.data.1.password = {MASK}\n" in masked_cfg
    assert not any(b"Zq-http" in f.data for f in masked)
