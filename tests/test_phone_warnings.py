"""Warnings about settings a phone cannot follow: catalog data, shown by explain and render."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.cli import main
from provisioner.phone_warnings import phone_warnings
from provisioner.settings import Value

GOLDEN = Path(__file__).resolve().parent / "golden" / "cisco"
UNTRUSTED, TRUSTED = "0002fd000201", "0002fd000202"  # tests/golden/cisco/spa5xx/https


@pytest.mark.parametrize("key", ["cisco/spa5xx", "cisco/mpp"])
@pytest.mark.parametrize(
    ("url", "trusted", "warned"),
    [
        ("https://prov.example.com/", False, True),
        ("HTTPS://prov.example.com/", False, True),
        ("https://prov.example.com/", True, False),
        ("http://prov.example.com/", False, False),
        ("", False, False),
    ],
)
def test_https_profile_rule_warning(
    catalog: Catalog, key: str, url: str, trusted: bool, warned: bool
) -> None:
    family = catalog.families[key]
    values: dict[str, Value] = {"provisioning.server_url": url, "cisco.https_trusted": trusted}
    found = phone_warnings(family, values)
    assert bool(found) is warned
    if warned:
        assert "cisco.https_trusted is off" in found[0]


def test_other_families_declare_no_such_warning(catalog: Catalog) -> None:
    values = {"provisioning.server_url": "https://prov.example.com/"}
    assert phone_warnings(catalog.families["yealink/tseries"], values) == []


def test_explain_and_render_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = ["--data-dir", str(tmp_path / "var")]
    assert main([*data, "init"]) == 0
    assert main([*data, "apply", str(GOLDEN / "spa5xx" / "https" / "fleet.toml")]) == 0
    capsys.readouterr()

    assert main([*data, "explain", UNTRUSTED]) == 0
    assert "warning: provisioning.server_url is https://" in capsys.readouterr().out
    assert main([*data, "explain", TRUSTED]) == 0
    assert "warning:" not in capsys.readouterr().out
    assert main([*data, "explain", UNTRUSTED, "--json"]) == 0
    (text,) = json.loads(capsys.readouterr().out)["warnings"]
    assert "cisco.https_trusted is off" in text
    assert main([*data, "explain", TRUSTED, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []

    assert main([*data, "render", "--out", str(tmp_path / "tree")]) == 0
    err = capsys.readouterr().err
    assert f"warning: 1 phone(s) ({UNTRUSTED}): provisioning.server_url is https://" in err
    assert TRUSTED not in err
