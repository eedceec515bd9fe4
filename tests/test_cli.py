"""The command line: every command through main(), as an admin would type it."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from provisioner.cli import main

ROOT = Path(__file__).resolve().parent.parent
MAC = "0004f2123456"


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Run:
    assert main(["--data-dir", str(tmp_path / "var"), "init"]) == 0
    capsys.readouterr()

    def invoke(*args: str) -> tuple[int, str, str]:
        code = main(["--data-dir", str(tmp_path / "var"), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def test_help_on_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["--help"],
        ["apply", "--help"],
        ["phone", "add", "--help"],
        ["explain", "--help"],
    ):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 0
        assert "usage: provisioner" in capsys.readouterr().out


def test_demo_flow(run: Run, tmp_path: Path) -> None:
    assert run("init")[0] == 0
    code, out, _ = run("apply", str(ROOT / "examples" / "demo-fleet.toml"))
    assert code == 0
    assert out.startswith("tenant demo: created\ngroup demo/lobby: created\n")
    assert f"phone {MAC}: created (vvx410)\n" in out
    assert "phone created: 6\n" in out  # and the count of each kind of change
    assert run("apply", str(ROOT / "examples" / "demo-fleet.toml"))[1] == "no changes\n"

    code, out, _ = run("explain", "00:04:F2:12:34:56")
    assert code == 0
    assert "time.zone" in out
    assert "tenant demo (locked)" in out
    assert "network.vlan.id" in out
    assert "group demo/lobby (locked)" in out
    assert "device.admin_password            ********" in out

    code, out, _ = run("explain", MAC, "language")
    assert code == 0
    assert "group demo/office" in out
    assert "wins" in out

    code, out, err = run("set", f"phone:{MAC}", "time.zone", "UTC")
    assert code == 1
    assert f"phone:{MAC}: setting time.zone is locked at tenant:demo" in err

    code, out, err = run("set", f"phone:{MAC}", "network.vlan.id", "abc")
    assert code == 1
    assert "setting network.vlan.id at phone:" in err
    assert "allowed: an integer in [0, 4094]" in err

    code, out, _ = run("render", "--out", str(tmp_path / "tree"))
    assert code == 0
    assert (tmp_path / "tree" / f"{MAC}.cfg").is_file()
    assert (tmp_path / "tree" / "000000000000.cfg").is_file()

    code, out, _ = run("export-fleet")
    exported = json.loads(out)
    assert exported["tenants"][0]["name"] == "demo"


def test_entity_commands(run: Run) -> None:
    assert run("tenant", "add", "t1", "--sip-domain", "t1.example.com")[0] == 0
    assert run("group", "add", "t1/g", "--weight", "3")[0] == 0
    assert (
        run(
            "phone",
            "add",
            "00-04-F2-00-00-01",
            "--tenant",
            "t1",
            "--model",
            "vvx410",
            "--group",
            "g",
        )[0]
        == 0
    )
    code, out, _ = run("line", "add", "0004f2000001", "--user", "100", "--password", "pw-100")
    assert (code, out) == (0, "line 0004f2000001/1 created\n")
    code, out, _ = run("phone", "show", "0004f2000001")
    assert "pw-100" not in out
    assert "********" in out
    code, out, _ = run("phone", "list", "--json")
    assert json.loads(out)[0]["groups"] == ["g"]
    assert run("set", "group:t1/g", "language", "fr", "--lock")[0] == 0
    code, out, _ = run("explain", "0004f2000001", "language")
    assert "group t1/g (locked)" in out
    assert run("unset", "group:t1/g", "language")[0] == 0
    assert run("phone", "set", "0004f2000001", "--disable")[0] == 0
    assert run("line", "rm", "0004f2000001", "1")[0] == 0
    assert run("phone", "rm", "0004f2000001")[0] == 0
    assert run("group", "rm", "t1/g")[0] == 0
    assert run("tenant", "rm", "t1", "--yes")[0] == 0
    code, out, _ = run("tenant", "list")
    assert out.splitlines() == ["NAME  SIP DOMAIN  PLATFORM  GROUPS  PHONES"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["phone", "show", "00:11"], "invalid MAC address '00:11'"),
        (["set", "bogus", "language", "de"], "invalid scope 'bogus'"),
        (["explain", "0004f2999999"], "no phone with MAC 0004f2999999"),
        (["apply", "/nonexistent.json"], "cannot read /nonexistent.json"),
    ],
)
def test_errors_are_one_clear_line(run: Run, args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 1
    assert err.startswith("error: ")
    assert message in err


def test_models_json(run: Run) -> None:
    _code, out, _ = run("models", "--json")
    models = json.loads(out)
    entry = next(m for m in models if m["id"] == "spip335")
    assert entry == {
        "id": "spip335",
        "vendor": "polycom",
        "family": "ucs",
        "label": "Polycom SoundPoint IP 335",
        "max_lines": 2,
        "aliases": ["polycom335"],
    }


def test_settings_listing(run: Run) -> None:
    _code, out, _ = run("settings", "--json")
    listed = {s["name"]: s for s in json.loads(out)}
    assert {"time.zone", "polycom.line_keys"} <= listed.keys()
    # The lowest scope each may be set at (docs/settings.md).
    assert listed["access.ftp.enabled"]["scope"] == "tenant"
    assert listed["language"]["scope"] == "phone"
    assert listed["voicemail.number"]["scope"] == "line"
    assert listed["access.ftp.enabled"]["allowed"] == "true or false"
    _code, out, _ = run("settings")
    (row,) = [line.split() for line in out.splitlines() if line.startswith("access.ftp.enabled ")]
    assert row[:4] == ["access.ftp.enabled", "bool", "false", "tenant"]


def test_identify_claim_and_dhcp(run: Run, tmp_path: Path) -> None:
    code, out, _ = run(
        "identify", "--user-agent", "Yealink SIP-T46S 66.85.0.5 80:5e:c0:11:22:33", "--json"
    )
    assert json.loads(out) == {
        "vendor": "yealink",
        "model": "t46s",
        "firmware": "66.85.0.5",
        "mac": "805ec0112233",
    }
    assert run("tenant", "add", "t1", "--sip-domain", "t1.example.com")[0] == 0
    from provisioner.catalog import Catalog
    from provisioner.store import PendingDevice, Store, default_url

    store = Store.open(default_url(tmp_path / "var"), Catalog.load())
    store.seen.quarantine(
        PendingDevice("805ec0112233", "t1", "yealink", "t46s", "66.85.0.5", "10.0.0.7", "UA", 1, 1)
    )
    store.close()
    code, out, _ = run("seen", "--unknown", "--json")
    assert json.loads(out)["pending"][0]["mac"] == "805ec0112233"
    code, out, _ = run("claim", "80:5e:c0:11:22:33")
    assert (code, out) == (0, "phone 805ec0112233 claimed into tenant t1 as t46s\n")
    assert json.loads(run("seen", "--unknown", "--json")[1])["pending"] == []
    code, out, _ = run("tenant", "token", "t1")
    assert code == 0
    token = out.split("/")[1]
    code, out, _ = run("dhcp-snippet", "--address", "10.0.0.5", "--token", token)
    assert f'dhcp-option=160,"http://10.0.0.5:8080/{token}/"' in out
    assert "dhcp-option=150,10.0.0.5" in out


def test_reject_is_remembered_until_claimed_or_forgotten(run: Run, tmp_path: Path) -> None:
    from provisioner.catalog import Catalog
    from provisioner.store import PendingDevice, Store, default_url

    assert run("tenant", "add", "t1", "--sip-domain", "t1.example.com")[0] == 0
    store = Store.open(default_url(tmp_path / "var"), Catalog.load())
    device = PendingDevice(
        "805ec0112233", "t1", "yealink", "t46s", "66.85.0.5", "10.0.0.7", "UA", 1, 1
    )

    def listed() -> list[dict[str, object]]:
        pending: list[dict[str, object]] = json.loads(run("seen", "--unknown", "--json")[1])[
            "pending"
        ]
        return pending

    try:
        assert store.seen.quarantine(device)
        code, out, _ = run("reject", "80:5e:c0:11:22:33")
        assert (code, out) == (
            0,
            "device 805ec0112233 rejected (tenant t1); undo with claim or forget\n",
        )
        code, _, err = run("reject", "805ec0112233")
        assert code != 0
        assert "already rejected by cli " in err
        assert not store.seen.quarantine(device)  # it asks again: still rejected, not pending
        assert not store.seen.quarantine(device)
        (entry,) = listed()
        assert (entry["state"], str(entry["rejected_by"])[:4]) == ("rejected", "cli ")
        code, out, _ = run("seen", "--unknown")
        assert "rejected by cli " in out
        assert run("forget", "805ec0112233")[1] == "rejected device 805ec0112233 forgotten\n"
        assert listed() == []
        assert store.seen.quarantine(device)  # forgotten: held anew
        assert run("reject", "805ec0112233")[0] == 0
        code, out, _ = run("claim", "805ec0112233")  # claiming undoes a reject too
        assert (code, out) == (0, "phone 805ec0112233 claimed into tenant t1 as t46s\n")
        assert listed() == []
        code, _, err = run("forget", "805ec0112233")
        assert code != 0
        assert "no pending or rejected device 805ec0112233" in err
        actions = [
            e["action"]
            for e in json.loads(run("audit", "--phone", "805ec0112233", "--json")[1])["items"]
        ]
        assert sorted(actions) == sorted(
            ["device.reject", "device.forget", "device.reject", "phone.create", "device.claim"]
        )
    finally:
        store.close()


def test_seen_flags_firmware_by_the_version_rule(run: Run, tmp_path: Path) -> None:
    # `seen` and rollouts use one rule (firmware.version_matches): a Yealink
    # reporting 66.86.0.20 runs 86.0.20; a Polycom reporting 5.9.1.0615 does
    # not run "5.9".
    from provisioner.catalog import Catalog
    from provisioner.store import SeenRow, Store, default_url

    yealink, polycom = "805ec0112233", MAC
    assert run("tenant", "add", "t1", "--sip-domain", "t1.example.com")[0] == 0
    assert run("phone", "add", yealink, "--tenant", "t1", "--model", "t46s")[0] == 0
    assert run("phone", "add", polycom, "--tenant", "t1", "--model", "vvx410")[0] == 0
    assert run("set", f"phone:{yealink}", "firmware.version", "86.0.20")[0] == 0
    assert run("set", f"phone:{polycom}", "firmware.version", "5.9")[0] == 0
    store = Store.open(default_url(tmp_path / "var"), Catalog.load())
    rows = [
        SeenRow(mac, mac, "10.0.0.7", "http", f"{mac}.cfg", "UA", "", "", fw, "200", True, 1, 1, 1)
        for mac, fw in ((yealink, "66.86.0.20"), (polycom, "5.9.1.0615"))
    ]
    store.seen.record(rows, 100)
    store.close()
    code, out, _ = run("seen", "--json")
    flagged = {row["mac"]: row["firmware_mismatch"] for row in json.loads(out)}
    assert (code, flagged) == (0, {yealink: False, polycom: True})


def test_serve_options_take_their_defaults_from_serve_config(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # One place for a default: change ServeConfig's, and `serve` follows.
    import ipaddress
    from dataclasses import MISSING, fields

    from provisioner.cli import build_parser
    from provisioner.cli._serve_config import resolve
    from provisioner.serve import ServeConfig

    options = vars(build_parser().parse_args(["serve"]))
    others = {"command", "handler", "db", "data_dir", "firmware_store", "site_templates"}
    others.add("creates_database")  # not an option: serve may create the database
    others |= {"config", "print_config", "print_dhcp"}
    shared = [f for f in fields(ServeConfig) if f.name in options and f.name not in others]
    assert {f.name for f in shared} == set(options) - others
    network = ipaddress.ip_network("10.9.8.0/24")
    for field in shared:
        kind = type(field.default if field.default is not MISSING else ())
        changed = {bool: True, int: 4321, float: 43.5, tuple: (network,)}.get(kind, "changed")
        special = {
            "log_level": "error",
            "log_format": "json",
            "ftp_passive_ports": range(40000, 40010),
            "api_max_fleet_body": 4321 << 10,  # bytes, at least 1 MiB
        }
        changed = special.get(field.name, changed)
        monkeypatch.setattr(field, "default", changed)
        monkeypatch.setattr(field, "default_factory", MISSING)
        args = build_parser().parse_args(["--data-dir", str(tmp_path), "serve"])
        assert getattr(args, field.name) is None, field.name  # not given: the default applies
        if field.name in ("tls_cert", "tls_key", "client_crl", "api_tls_cert", "api_tls_key"):
            continue  # each needs another option: a default alone would be refused
        value = getattr(resolve(args, {}).config, field.name)
        assert value == changed or str(value) == str(changed), field.name


def test_render_refuses_a_directory_it_did_not_write(run: Run, tmp_path: Path) -> None:
    # The case: everything else in DIR used to be deleted without a word.
    assert run("apply", str(ROOT / "examples" / "demo-fleet.toml"))[0] == 0
    out = tmp_path / "scratch"
    (out / "sub").mkdir(parents=True)
    (out / "important.txt").write_text("keep me\n")
    for extra in ([], ["--mac", MAC]):
        code, stdout, err = run("render", "--out", str(out), *extra)
        assert (code, stdout) == (1, "")
        assert err == (
            f"error: {out} holds files that provisioner did not render (important.txt, sub), "
            "and a render replaces everything in it: render into a new or empty directory, "
            "or give --replace to delete what is there\n"
        )
        assert sorted(p.name for p in out.iterdir()) == ["important.txt", "sub"]
    code, stdout, _ = run("render", "--out", str(out), "--replace")
    assert code == 0
    assert not (out / "important.txt").exists()
    assert (out / ".provisioner-render").is_file()
    assert run("render", "--out", str(out))[0] == 0  # rendered before: its own
    assert run("render", "--out", str(out), "--mac", MAC)[0] == 0


def test_export_fleet_writes_the_format_apply_reads_by_the_name(run: Run, tmp_path: Path) -> None:
    assert run("apply", str(ROOT / "examples" / "demo-fleet.toml"))[0] == 0
    # Text TOML must escape: quotes, backslashes, a tab, and characters beyond ASCII.
    tricky = 'Empfang "vorne" \\ Büro\tÖst ✓'
    assert run("line", "set", MAC, "1", "--display-name", tricky)[0] == 0
    toml_out, json_out = tmp_path / "all.toml", tmp_path / "all.json"
    assert run("export-fleet", "--out", str(toml_out))[0] == 0
    assert run("export-fleet", "--out", str(json_out))[0] == 0
    as_toml = tomllib.loads(toml_out.read_text("utf-8"))
    assert as_toml == json.loads(json_out.read_text("utf-8"))
    assert tricky in {line.get("display_name") for p in as_toml["phones"] for line in p["lines"]}
    assert run("apply", str(toml_out))[1] == "no changes\n"
    code, out, _ = run("export-fleet", "--format", "toml")
    assert code == 0
    assert tomllib.loads(out) == as_toml
    other = tmp_path / "all.TOML.json"
    assert run("export-fleet", "--out", str(other), "--format", "toml")[0] == 0
    assert tomllib.loads(other.read_text("utf-8")) == as_toml


def test_tenant_rm_asks_first_and_needs_yes_without_a_terminal(
    run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run("apply", str(ROOT / "examples" / "demo-fleet.toml"))[0] == 0
    code, out, err = run("tenant", "rm", "demo")  # standard input is not a terminal here
    assert (code, out) == (1, "")
    assert err == (
        "error: tenant rm deletes tenant demo with its 6 phone(s) and 2 group(s): "
        "give --yes to confirm\n"
    )
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    for answer in ("", "n", "no way"):
        monkeypatch.setattr("builtins.input", lambda prompt, a=answer: a)
        assert run("tenant", "rm", "demo")[2] == "error: tenant demo not removed\n"
    assert run("tenant", "list")[1].splitlines()[1].startswith("demo  ")
    prompts: list[str] = []

    def yes(prompt: str) -> str:
        prompts.append(prompt)
        return "y"

    monkeypatch.setattr("builtins.input", yes)
    assert run("tenant", "rm", "demo") == (0, "tenant demo removed\n", "")
    assert prompts == ["delete tenant demo with its 6 phone(s) and 2 group(s)? [y/N] "]
    assert run("tenant", "rm", "demo", "--yes")[2] == "error: no tenant named 'demo'\n"
