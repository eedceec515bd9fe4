"""``serve``'s configuration: flags over the environment over a TOML file over defaults.

Every ``serve`` option can also be set in a TOML file given with ``--config``:
``name = value`` with the option's name in snake case (``http_port = 80``
for ``--http-port 80``), networks as a list or a comma-separated string,
relative paths taken from the file's own directory. A key that is not an
option is an error naming it. The options every command has (``data_dir``,
``db``, ``site_templates``, ``firmware_store``) may be set there too, and
keep their environment variables, which win over the file.

Precedence, for every option: a flag given on the command line, then the
environment (those four only), then the file, then the default. Defaults
are :class:`~provisioner.serve.ServeConfig`'s (and :class:`Context`'s for the
four): the parser's own defaults are ``None`` so that a flag that was given
can be told from one that was not, and its help shows ServeConfig's.
:func:`resolve` runs again on SIGHUP with the same flags; ``--print-config``
prints what it found and where each value came from.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import ipaddress
import json
import socket
import tomllib
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlalchemy.exc import ArgumentError

from provisioner.cli._context import Context
from provisioner.cli._serve_options import field_default
from provisioner.errors import InputError, UsageError
from provisioner.serve import ServeConfig, config_problems
from provisioner.serve._model import Network
from provisioner.settings import parse_networks

__all__ = ["SERVE_OPTIONS", "Effective", "check_usable", "format_config", "resolve", "where"]

# ServeConfig fields that are not options of their own: the data and site
# directories come from the options every command has; the seen records are
# written every poll interval.
_NOT_OPTIONS = frozenset({"data_dir", "site_dir", "seen_interval", "seen_max_rows"})
SERVE_OPTIONS = tuple(f.name for f in fields(ServeConfig) if f.name not in _NOT_OPTIONS)
_GLOBALS = {
    "data_dir": "PROVISIONER_DATA_DIR",
    "db": "PROVISIONER_DB_URL",
    "site_templates": "PROVISIONER_SITE_TEMPLATES",
    "firmware_store": "PROVISIONER_FIRMWARE_STORE",
}
# What serve does at start besides serving; not part of ServeConfig.
_EXTRAS = {"print_dhcp": False}
_ALL = (*_GLOBALS, *SERVE_OPTIONS, *_EXTRAS)


@dataclass(frozen=True, slots=True)
class _Given:
    """One option's raw value and where it came from, before conversion."""

    raw: Any
    source: str  # "flag", "env NAME", "file" or "default"
    where: str  # how to name it in a message: "--http-port 99999", "FILE: http_port = 99999"


@dataclass(frozen=True, slots=True)
class Effective:
    """The configuration ``serve`` runs with, and where each value came from."""

    config: ServeConfig
    context: Context  # data directory, database, site templates, firmware store
    print_dhcp: bool
    file: Path | None
    values: dict[str, tuple[Any, str]]  # option -> (value, source), in display order


def resolve(args: argparse.Namespace, environ: Mapping[str, str]) -> Effective:
    """The effective configuration of ``serve`` for ``args`` (parsed flags) and ``environ``.

    :raises UsageError: naming the flag, file key or variable at fault.
    """
    file: Path | None = args.config
    in_file = _read(file) if file is not None else {}
    given = {name: _given(name, args, environ, in_file, file) for name in _ALL}
    hints = typing.get_type_hints(ServeConfig)
    values = {name: _convert(hints[name], given[name]) for name in SERVE_OPTIONS}
    context_args = copy.copy(args)
    for name in _GLOBALS:  # Context applies the default; the file and ``environ`` are ours
        if given[name].source != "flag" and given[name].source != "default":
            convert = _path if name in ("data_dir", "site_templates") else _str
            setattr(context_args, name, _convert_with(convert, given[name]))
    context = Context(context_args)
    config = ServeConfig(
        data_dir=context.data_dir,
        site_dir=context.site_dir,
        seen_interval=values["poll_interval"],
        **values,
    )
    for name, problem in config_problems(config):
        raise UsageError(f"{given[name].where}: {problem}")
    print_dhcp = _convert(bool, given["print_dhcp"])
    shown = {
        "data_dir": context.data_dir,
        "db": _safe_db_url(context, given["db"], file),
        "site_templates": context.site_dir,
        "firmware_store": context.firmware_store,
    }
    report = {name: (shown[name], given[name].source) for name in _GLOBALS}
    report |= {name: (getattr(config, name), given[name].source) for name in SERVE_OPTIONS}
    report["print_dhcp"] = (print_dhcp, given["print_dhcp"].source)
    return Effective(config, context, print_dhcp, file, report)


def _safe_db_url(context: Context, given: _Given, file: Path | None) -> str:
    """The database URL with its password hidden; one that cannot be read is refused.

    The message names where the URL came from but never repeats it: it may
    hold a password.
    """
    try:
        return context.safe_db_url()
    except ArgumentError:
        source = {"flag": "--db", "file": f"{file}: db"}.get(given.source, given.source[4:])
        raise UsageError(
            f"{source}: not a database URL (e.g. postgresql://user@host/name)"
        ) from None


def check_usable(effective: Effective) -> None:
    """Refuse what the values name but cannot be used: TLS files, the address to bind.

    Run before serving (and on SIGHUP); the message names the option as it was given.
    """
    config = effective.config
    from provisioner.serve import tls_file_problems  # cryptography: only when checking

    found = tls_file_problems(config.tls_cert, config.tls_key, config.client_ca, config.client_crl)
    if not _bindable(config.bind):
        found.insert(0, ("bind", _NOT_BINDABLE))
    for name, problem in found:
        raise UsageError(f"{where(effective, name)}: {problem}")


def where(effective: Effective, name: str) -> str:
    """How the admin gave option ``name``: ``--data-dir x``, ``FILE: data_dir = "x"``, …"""
    value, source = effective.values[name]
    if source == "file":
        return f"{effective.file}: {name} = {_toml(value)}"
    if source.startswith("env "):
        return f"{source.removeprefix('env ')}={value}"
    return f"{_flag(name)} {value}" if value is not None else _flag(name)


_NOT_BINDABLE = (
    "not an IP address, nor a name this host resolves; "
    "give one of this host's addresses, or 0.0.0.0 or :: for all"
)


def _bindable(host: str) -> bool:
    """Whether ``host`` is an IP address or a name that resolves (not whether it is ours)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            socket.getaddrinfo(host, None, flags=socket.AI_PASSIVE)
        except (OSError, UnicodeError):
            return False
    return True


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _read(file: Path) -> dict[str, Any]:
    """The file's keys, each of them an option."""
    try:
        text = file.read_bytes().decode("utf-8")
        table = tomllib.loads(text)
    except OSError as exc:
        raise UsageError(f"--config {file}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{file}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{file}: not valid TOML ({exc})") from None
    for key in table:
        if key not in _ALL:
            close = difflib.get_close_matches(key.replace("-", "_"), _ALL, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{file}: unknown key {key!r}{hint}; `serve --help` lists the options")
    return table


def _given(
    name: str,
    args: argparse.Namespace,
    environ: Mapping[str, str],
    in_file: Mapping[str, Any],
    file: Path | None,
) -> _Given:
    flag = getattr(args, name, None)
    if flag is not None:
        shown = "" if isinstance(flag, bool) else f" {flag}"
        flag_name = _flag(name) if flag is not False else "--no-" + _flag(name)[2:]
        return _Given(flag, "flag", f"{flag_name}{shown}")
    variable = _GLOBALS.get(name)
    if variable is not None and environ.get(variable):
        return _Given(environ[variable], f"env {variable}", f"{variable}={environ[variable]}")
    if name in in_file:
        return _Given(in_file[name], "file", f"{file}: {name} = {_toml(in_file[name])}")
    return _Given(_default(name), "default", f"{name} (default)")


def _default(name: str) -> Any:
    if name in _EXTRAS:
        return _EXTRAS[name]
    if name in _GLOBALS:
        return None  # Context applies its own default
    return field_default(name)


# --- values ------------------------------------------------------------------------


def _convert(hint: Any, given: _Given) -> Any:
    """``given``'s raw value as the ServeConfig field typed ``hint`` wants it."""
    if given.source == "default":
        return given.raw
    return _convert_with(_CONVERTERS[hint], given)


def _convert_with(converter: Callable[[Any, _Given], Any], given: _Given) -> Any:
    try:
        return converter(given.raw, given)
    except InputError as exc:
        raise UsageError(f"{given.where}: {exc}") from None


def _int(raw: object, given: _Given) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InputError("expected a whole number")
    return raw


def _float(raw: object, given: _Given) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise InputError("expected a number")
    return float(raw)


def _bool(raw: object, given: _Given) -> bool:
    if not isinstance(raw, bool):
        raise InputError("expected true or false")
    return raw


def _str(raw: object, given: _Given) -> str:
    if not isinstance(raw, str):
        raise InputError("expected a string")
    return raw


def _path(raw: object, given: _Given) -> Path:
    """A path; one written in the file is taken from the file's directory."""
    path = raw if isinstance(raw, Path) else Path(_str(raw, given))
    if given.source == "file" and not path.is_absolute():
        file = given.where.split(": ", 1)[0]
        return Path(file).parent / path
    return path


def _networks(raw: object, given: _Given) -> tuple[Network, ...]:
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        raw = ",".join(raw)
    if not isinstance(raw, str):
        raise InputError('expected networks, e.g. ["10.0.0.0/8", "fd00::/8"]')
    return tuple(parse_networks(raw))


def _port_range(raw: object, given: _Given) -> range:
    text = _str(raw, given)
    low, _, high = text.partition("-")
    if not (low.isdigit() and high.isdigit()) or int(low) > int(high):
        raise InputError("expected a port range LOW-HIGH, e.g. 30000-30100")
    return range(int(low), int(high) + 1)


_CONVERTERS: dict[Any, Callable[[Any, _Given], Any]] = {
    int: _int,
    float: _float,
    bool: _bool,
    str: _str,
    str | None: _str,
    Path | None: _path,
    tuple[Network, ...]: _networks,
    range | None: _port_range,
}


# --- --print-config ----------------------------------------------------------------


def format_config(effective: Effective) -> str:
    """The effective configuration as a TOML file, each value's source in a comment.

    Options without a value are shown commented out. The output is a valid
    configuration file to start from (the database password is hidden).
    """
    lines = ["# provisioner serve: the effective configuration"]
    lines.append("# precedence: flag > environment > file > default")
    if effective.file is not None:
        lines.append(f"# file: {effective.file}")
    for name, (value, source) in effective.values.items():
        if isinstance(value, Path):
            value = value.absolute()  # as the server sees it, wherever the file is put
        text = f"{name} = {_toml(value)}" if value is not None else f"# {name} is not set"
        lines.append(f"{text:<48} # {source}")
    return "\n".join(lines) + "\n"


def _toml(value: object) -> str:
    """``value`` written as TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, range):
        return json.dumps(f"{value[0]}-{value[-1]}")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(json.dumps(str(item)) for item in value) + "]"
    return json.dumps(str(value))
