"""cli/_serve_config.py: ``serve --config FILE``, its precedence and ``--print-config``.

In-process through :func:`resolve` with the real parser, plus one run of the
command itself. Precedence: flag > environment (the options every command
has) > file > ServeConfig's default.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import subprocess
import tomllib
from dataclasses import replace
from pathlib import Path

import pytest

from provisioner.cli import build_parser
from provisioner.cli._serve_config import SERVE_OPTIONS, Effective, format_config, resolve
from provisioner.errors import UsageError
from provisioner.serve import RESTART_ONLY, ServeConfig
from tests.serve_process import provisioner


def effective(tmp_path: Path, text: str | None, *flags: str, **env: str) -> Effective:
    """The configuration ``serve FLAGS`` runs with, ``text`` being its file (if any)."""
    options = list(flags)
    if text is not None:
        file = tmp_path / "provisioner.toml"
        file.write_text(text)
        options = ["--config", str(file), *options]
    return resolve(build_parser().parse_args(["serve", *options]), env)


def sources(result: Effective) -> dict[str, str]:
    return {name: source for name, (_, source) in result.values.items()}


def test_without_file_or_flags_every_value_is_servconfigs_default(tmp_path: Path) -> None:
    result = effective(tmp_path, None)
    defaults = ServeConfig(data_dir=Path("var"))
    for name, (_, source) in result.values.items():
        assert source == "default", name
        if hasattr(defaults, name) and name != "data_dir":
            assert getattr(result.config, name) == getattr(defaults, name), name
    assert result.config.data_dir == Path("var")


def test_a_flag_wins_over_the_file_and_the_file_over_the_default(tmp_path: Path) -> None:
    text = 'http_port = 80\ntftp_port = 69\nrealm = "acme"\naccess_log = true\n'
    result = effective(tmp_path, text, "--http-port", "8000", "--no-access-log")
    config = result.config
    assert (config.http_port, config.tftp_port, config.realm) == (8000, 69, "acme")
    assert (config.https_port, config.access_log) == (8443, False)
    found = sources(result)
    assert (found["http_port"], found["tftp_port"], found["realm"]) == ("flag", "file", "file")
    assert (found["https_port"], found["access_log"]) == ("default", "flag")


def test_the_environment_wins_over_the_file_for_the_common_options(tmp_path: Path) -> None:
    text = f'data_dir = "{tmp_path / "from-file"}"\ndb = "sqlite:////tmp/file.db"\n'
    result = effective(tmp_path, text, PROVISIONER_DATA_DIR=str(tmp_path / "from-env"))
    assert result.config.data_dir == tmp_path / "from-env"
    assert result.context.db_url == "sqlite:////tmp/file.db"
    found = sources(result)
    assert (found["data_dir"], found["db"]) == ("env PROVISIONER_DATA_DIR", "file")
    flagged = build_parser().parse_args(["--data-dir", str(tmp_path / "flag"), "serve"])
    assert resolve(flagged, {"PROVISIONER_DATA_DIR": "env"}).config.data_dir == tmp_path / "flag"


def test_relative_paths_in_the_file_are_taken_from_its_directory(tmp_path: Path) -> None:
    text = 'data_dir = "state"\nsite_templates = "site"\nlog_file = "logs/serve.log"\n'
    config = effective(tmp_path, text).config
    assert config.data_dir == tmp_path / "state"
    assert config.site_dir == tmp_path / "site"
    assert config.log_file == tmp_path / "logs" / "serve.log"


def test_networks_are_a_list_or_a_comma_separated_string(tmp_path: Path) -> None:
    text = (
        'metrics_allow = ["10.0.0.0/8", "::1/128"]\nban_exempt = "192.0.2.0/24, 198.51.100.0/24"\n'
    )
    config = effective(tmp_path, text).config
    assert config.metrics_allow == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    assert [str(n) for n in config.ban_exempt] == ["192.0.2.0/24", "198.51.100.0/24"]


def test_every_serve_option_may_be_in_the_file(tmp_path: Path) -> None:
    # --print-config's output is a valid file, naming every option: read back, it changes nothing.
    first = effective(tmp_path, None, "--ftp-passive-ports", "30000-30100", "--realm", "r")
    printed = format_config(first)
    second = effective(tmp_path, printed)
    assert second.config == replace(first.config, data_dir=first.config.data_dir.absolute())
    keys = set(tomllib.loads(printed))
    unset = {line.split()[1] for line in printed.splitlines() if " is not set " in line}
    parser_options = {
        a.dest for a in _serve_parser()._actions if a.dest not in ("help", "config", "print_config")
    }
    assert parser_options <= keys | unset | {"data_dir", "db", "site_templates", "firmware_store"}


def _serve_parser() -> argparse.ArgumentParser:
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    assert isinstance(commands.choices, dict)
    parser: argparse.ArgumentParser = commands.choices["serve"]
    return parser


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("http-port = 80\n", "unknown key 'http-port' (did you mean http_port?)"),
        ("[serve]\nhttp_port = 80\n", "unknown key 'serve'"),
        ('http_port = "80"\n', 'http_port = "80": expected a whole number'),
        ("http_port = 99999\n", "http_port = 99999: must be a port number from 0 (off) to 65535"),
        ("access_log = 1\n", "access_log = 1: expected true or false"),
        ("api_max_fleet_body = 1000\n", "api_max_fleet_body = 1000: must be bytes from 1048576"),
        ('log_format = "xml"\n', 'log_format = "xml": expected one of logfmt, json'),
        ('metrics_allow = ["10.0.0.1/8"]\n', "metrics_allow = "),
        ('ftp_passive_ports = "3000"\n', "expected a port range LOW-HIGH"),
        ("http_port = \n", "not valid TOML"),
    ],
)
def test_a_wrong_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(UsageError, match="provisioner.toml: ") as raised:
        effective(tmp_path, text)
    assert message in str(raised.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    args = build_parser().parse_args(["serve", "--config", str(tmp_path / "absent.toml")])
    with pytest.raises(UsageError, match="absent.toml: cannot read it"):
        resolve(args, {})


def test_print_config_shows_each_values_source_and_hides_the_password(tmp_path: Path) -> None:
    file = tmp_path / "serve.toml"
    file.write_text('tftp_port = 69\nmetrics_allow = ["10.0.0.0/8"]\n')
    env = {"PROVISIONER_DB_URL": "postgresql://prov:s3cret-pw@db.example/prov", "PATH": "/usr/bin"}
    command = provisioner(tmp_path / "data", "serve", "--config", str(file), "--print-config")
    result = subprocess.run(
        [*command, "--http-port", "80"], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split(" = ")[0]: line for line in result.stdout.splitlines() if " = " in line}
    assert re.fullmatch(r"http_port = 80 +# flag", lines["http_port"])
    assert lines["tftp_port"].endswith("# file")
    assert lines["metrics_allow"].startswith('metrics_allow = ["10.0.0.0/8"]')
    assert lines["https_port"].endswith("# default")
    assert lines["db"].endswith("# env PROVISIONER_DB_URL")
    assert "s3cret-pw" not in result.stdout
    assert not (tmp_path / "data").exists()  # nothing created, no database opened


def test_the_operations_guide_lists_every_option_and_when_a_change_applies() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "operations.md").read_text()
    applies = r"restart|SIGHUP|\(start only\)"
    rows = dict(re.findall(rf"^\| `(\w+)` \| [^|]+ \| ({applies}) \|$", text, re.M))
    expected = {name: "restart" if name in RESTART_ONLY else "SIGHUP" for name in SERVE_OPTIONS}
    expected |= {"data_dir": "restart", "db": "restart", "firmware_store": "restart"}
    expected |= {"site_templates": "SIGHUP", "print_dhcp": "(start only)"}
    assert rows == expected


def test_a_database_url_that_cannot_be_read_is_refused_without_repeating_it(
    tmp_path: Path,
) -> None:
    with pytest.raises(UsageError) as raised:
        effective(tmp_path, None, PROVISIONER_DB_URL="postgres:/no-host:s3cret@")
    assert str(raised.value).startswith("PROVISIONER_DB_URL: not a database URL")
    assert "s3cret" not in str(raised.value)
    with pytest.raises(UsageError, match=r"provisioner.toml: db: not a database URL"):
        effective(tmp_path, 'db = "::"\n')
