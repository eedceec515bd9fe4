"""One pipeline for ``render`` and the cache, with the error policy a parameter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from provisioner.cli import main
from provisioner.pipeline import ErrorPolicy, render_snapshot, render_tenants
from tests.test_render import MAC, make_site, one_phone

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo-fleet.toml"
POLYCOM = "0004f2123456"  # in the demo fleet


def test_render_tenants_groups_phones_and_errors_by_tenant(tmp_path: Path) -> None:
    catalog = make_site(tmp_path, "u = {{ lines[2].user }}\n")  # needs 3 lines: fails
    renders = render_tenants(catalog, one_phone("tc100"), lambda view, files: view.phone.mac)
    (tenant,) = renders.values()
    assert tenant.tenant.name == "t"
    assert tenant.phones == []
    assert [e.mac for e in tenant.errors] == [MAC]
    assert tenant.failed == {MAC: [f"{MAC}.txt"]}
    assert "time.zone" in tenant.settings


@pytest.mark.parametrize("policy", list(ErrorPolicy))
def test_all_or_nothing_drops_every_file_when_one_fails(
    tmp_path: Path, policy: ErrorPolicy
) -> None:
    catalog = make_site(tmp_path, "u = {{ lines[2].user }}\n")
    result = render_snapshot(catalog, one_phone("tc100"), policy=policy)
    assert result.phones == {}
    assert [e.mac for e in result.errors] == [MAC]
    # Keep-last-good keeps what rendered (the shared files); all-or-nothing keeps nothing.
    assert bool(result.shared) is (policy is ErrorPolicy.KEEP_LAST_GOOD)


def test_render_writes_nothing_when_a_phone_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "var", tmp_path / "tree"
    assert main(["--data-dir", str(data), "init"]) == 0
    assert main(["--data-dir", str(data), "apply", str(DEMO)]) == 0
    assert main(["--data-dir", str(data), "render", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    site = tmp_path / "site"
    (site / "polycom" / "ucs").mkdir(parents=True)
    (site / "polycom" / "ucs" / "master.cfg.j2").write_text("{{ s['no.such'] }}\n")
    capsys.readouterr()
    args = ["--data-dir", str(data), "--site-templates", str(site), "render", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert f"render error: {POLYCOM}" in err
    assert f"nothing written to {out}" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_explain_shows_the_files_or_why_they_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "var"
    assert main(["--data-dir", str(data), "init"]) == 0
    assert main(["--data-dir", str(data), "apply", str(DEMO)]) == 0
    capsys.readouterr()
    assert main(["--data-dir", str(data), "explain", POLYCOM]) == 0
    out = capsys.readouterr().out
    assert "its files as rendered now:" in out
    assert f"{POLYCOM}-settings.cfg" in out
    assert "render error" not in out

    site = tmp_path / "site"
    (site / "polycom" / "ucs").mkdir(parents=True)
    (site / "polycom" / "ucs" / "master.cfg.j2").write_text("{{ s['no.such'] }}\n")
    broken = ["--data-dir", str(data), "--site-templates", str(site), "explain", POLYCOM]
    assert main(broken) == 0
    out = capsys.readouterr().out
    assert f"render error: {POLYCOM}: polycom/ucs/master.cfg.j2:1:" in out
    assert "provisioner serve keeps serving tenant demo's previous files" in out
    assert main([*broken, "--json"]) == 0
    explained = json.loads(capsys.readouterr().out)
    assert explained["files"] == []
    assert [e.split(":")[0] for e in explained["render_errors"]] == [POLYCOM]
