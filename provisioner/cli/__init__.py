"""The ``provisioner`` command."""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from sqlalchemy.exc import DBAPIError

from provisioner import __version__
from provisioner.chars import SURROGATES, decode_utf8
from provisioner.cli._accounts import add_parsers as add_account_parsers
from provisioner.cli._admin import add_parsers as add_admin_parsers
from provisioner.cli._context import Context
from provisioner.cli._entities import (
    cmd_apply,
    cmd_export,
    cmd_group,
    cmd_init,
    cmd_line,
    cmd_models,
    cmd_phone,
    cmd_set,
    cmd_settings,
    cmd_tenant,
    cmd_unset,
)
from provisioner.cli._firmware import add_parser as add_firmware_parser
from provisioner.cli._phonebook import add_parser as add_phonebook_parser
from provisioner.cli._rollout import add_parser as add_rollout_parser
from provisioner.cli._sipxcom import add_parsers as add_sipxcom_parsers
from provisioner.errors import EncodingError, ProvisionerError, UsageError
from provisioner.problems import problem_of

__all__ = ["build_parser", "main"]

Handler = Callable[[Context, argparse.Namespace], int]

# Exit status of a usage error (argparse's, UsageError: a wrong option value, input not UTF-8).
USAGE = 2
INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

# The commands' modules that are imported only when one of their commands runs (_later).
_INSPECT = "provisioner.cli._inspect"
_NOTIFY = "provisioner.cli._notify"
_SERVE = "provisioner.cli._serve"


def _later(module: str, name: str) -> Handler:
    """The command ``name`` of ``module``, imported when it runs rather than at every start.

    Rendering, SIP and the web stack take a tenth of a second or more to
    import; a ``set`` or ``phone add`` need none of them
    (docs/performance-notes.md, "The command line's start").
    """

    def run(ctx: Context, args: argparse.Namespace) -> int:
        handler: Handler = getattr(importlib.import_module(module), name)
        return handler(ctx, args)

    return run


def _utf8_argument(text: str) -> str:
    """argparse's conversion of every argument without a ``type``: refuse bytes that were not UTF-8.

    Python hands such bytes over as lone surrogates (PEP 383); kept, they
    would reach the database driver, which cannot encode them.
    """
    if SURROGATES.search(text) is None:
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:  # a surrogate that no byte stands for
        raise argparse.ArgumentTypeError(
            f"U+{ord(text[exc.start]):04X} at position {exc.start} is a lone surrogate, "
            "not a character"
        ) from None
    try:
        decode_utf8(raw, "value")
    except EncodingError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _Parser(argparse.ArgumentParser):
    """An argument parser whose untyped arguments must be valid UTF-8.

    Sub-command parsers are made with the same class and argument groups share
    the registry, so this covers every argument, named in the error; arguments
    that are file names have ``type=Path``, which takes any bytes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("type", None, _utf8_argument)

    # typeshed spells out argparse's keyword arguments in two overloads; this passes them on.
    def add_subparsers(  # type: ignore[override]
        self, **kwargs: Any
    ) -> argparse._SubParsersAction[argparse.ArgumentParser]:
        """Sub-commands; their words are checked by the chosen command's own parser.

        argparse converts everything after the command word with this action's
        ``type`` too; left unset, the error would name ``COMMAND``.
        """
        commands = super().add_subparsers(**kwargs)
        commands.type = str
        return commands


def _add_line_fields(parser: argparse.ArgumentParser, *, required_user: bool) -> None:
    parser.add_argument(
        "--user", required=required_user, help="SIP user (the line's AOR user part)"
    )
    parser.add_argument("--auth-user", help="digest user name (default: the user)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--password", help="digest password (visible in the process list)")
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    parser.add_argument("--display-name", help="caller name shown by the phone")
    parser.add_argument("--label", help="line key label")


def _add_dry_run(parser: argparse.ArgumentParser) -> None:
    """The ``--dry-run`` option of the commands that change what phones are served."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="store nothing; print the phones whose files would change, with diffs",
    )


def _add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    from provisioner.cli._serve_options import serve_default  # the serving package: see serve

    parser.add_argument(
        "--bind", default=serve_default("bind"), help="address to listen on (default all)"
    )
    for name in ("http_port", "https_port", "tftp_port"):
        default = serve_default(name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            type=int,
            default=default,
            help=f"0 disables (default {default})",
        )


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options before the command word that take a value."""
    parser.add_argument(
        "--data-dir", type=Path, help="data directory (env PROVISIONER_DATA_DIR, default ./var)"
    )
    parser.add_argument(
        "--db", help="database URL (env PROVISIONER_DB_URL, default SQLite in the data directory)"
    )
    parser.add_argument(
        "--site-templates",
        type=Path,
        help="site template directory searched before the built-in one "
        "(env PROVISIONER_SITE_TEMPLATES)",
    )
    parser.add_argument(
        "--firmware-store",
        help="where firmware files live: local (default, in the data directory) or "
        "s3://bucket/prefix (env PROVISIONER_FIRMWARE_STORE; endpoint and keys from "
        "PROVISIONER_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
    )


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full argument parser (every command and sub-command has --help).

    With ``only``, the global options and that one command's parser, the
    same as in the full parser (when ``only`` names no command: the full
    parser). Building every command's parser took about 20 ms of each
    command's start (docs/performance-notes.md, "The command line's start").
    """
    parser = _Parser(
        prog="provisioner",
        description="Phone auto-provisioning and config generation (Polycom, Yealink, Cisco).",
    )
    parser.add_argument("--version", action="version", version=f"provisioner {__version__}")
    _add_global_options(parser)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def wanted(*names: str) -> bool:
        return only is None or only in names

    if wanted("init"):
        p = command("init", cmd_init, "create the data directory and database (or migrate it)")
        p.set_defaults(creates_database=True)

    if wanted("apply"):
        p = command("apply", cmd_apply, "make the database match a fleet file (JSON or TOML)")
        p.add_argument(
            "file", type=Path, help="fleet file; .toml is read as TOML, anything else as JSON"
        )
        p.add_argument(
            "--prune", action="store_true", help="also delete tenants the file does not list"
        )
        _add_dry_run(p)

    if wanted("export-fleet"):
        p = command("export-fleet", cmd_export, "write the database as a fleet file (JSON or TOML)")
        p.add_argument(
            "--out",
            type=Path,
            help="file to write (default: standard output); TOML if it ends in .toml, else JSON, "
            "as apply reads it",
        )
        p.add_argument("--format", choices=["json", "toml"], help="overrides the choice by --out")

    if wanted("models"):
        p = command("models", cmd_models, "list supported phone models")
        p.add_argument("--json", action="store_true", help="JSON output")
        p.add_argument("--vendor", help="only this vendor")

    if wanted("settings"):
        p = command("settings", cmd_settings, "list the settings schema")
        p.add_argument("--json", action="store_true", help="JSON output")
        p.add_argument("--family", help="common settings plus this family's (e.g. polycom/ucs)")

    if wanted("tenant"):
        p = command("tenant", cmd_tenant, "manage tenants")
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        a = actions.add_parser("add", help="create a tenant")
        a.add_argument("name")
        a.add_argument("--sip-domain", required=True)
        a.add_argument(
            "--platform", default="generic", help="a platform preset of the catalog (e.g. generic)"
        )
        a.add_argument("--description")
        a = actions.add_parser("list", help="list tenants")
        a.add_argument("--json", action="store_true")
        a = actions.add_parser("show", help="show a tenant")
        a.add_argument("name")
        a.add_argument("--show-secrets", action="store_true")
        a = actions.add_parser("set", help="change a tenant's fields")
        a.add_argument("name")
        a.add_argument("--sip-domain")
        a.add_argument("--platform")
        a.add_argument("--description")
        a = actions.add_parser(
            "rm", help="delete a tenant and everything under it (asks first, unless --yes)"
        )
        a.add_argument("name")
        a.add_argument("--yes", action="store_true", help="do not ask; required without a terminal")
        a = actions.add_parser(
            "token", help="serve the tenant under a new random URL prefix (/<token>/)"
        )
        a.add_argument("name")
        a.add_argument("--clear", action="store_true", help="remove the prefix")
        a.set_defaults(handler=_later(_SERVE, "cmd_token"))

    if wanted("group"):
        p = command("group", cmd_group, "manage phone groups (TENANT/NAME)")
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        a = actions.add_parser("add", help="create a group")
        a.add_argument("group", metavar="TENANT/NAME")
        a.add_argument("--weight", type=int, help="higher weight wins among a phone's groups")
        a.add_argument("--description")
        a = actions.add_parser("list", help="list groups, highest weight first")
        a.add_argument("--tenant")
        a = actions.add_parser("show", help="show a group")
        a.add_argument("group", metavar="TENANT/NAME")
        a.add_argument("--show-secrets", action="store_true")
        a = actions.add_parser("set", help="change a group's weight or description")
        a.add_argument("group", metavar="TENANT/NAME")
        a.add_argument("--weight", type=int)
        a.add_argument("--description")
        a = actions.add_parser("rm", help="delete a group (its phones leave it)")
        a.add_argument("group", metavar="TENANT/NAME")

    if wanted("phone"):
        p = command("phone", cmd_phone, "manage phones")
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        a = actions.add_parser("add", help="create a phone")
        a.add_argument("mac", metavar="MAC")
        a.add_argument("--tenant", required=True)
        a.add_argument(
            "--model", required=True, help="model id or alias (see `provisioner models`)"
        )
        a.add_argument("--description")
        a.add_argument("--group", action="append", help="group name in the tenant (repeatable)")
        a.add_argument(
            "--disabled", action="store_true", help="create it disabled (no files served)"
        )
        a = actions.add_parser("list", help="list phones")
        a.add_argument("--tenant")
        a.add_argument("--json", action="store_true")
        a = actions.add_parser("show", help="show a phone with its lines")
        a.add_argument("mac", metavar="MAC")
        a.add_argument("--show-secrets", action="store_true")
        a = actions.add_parser("set", help="change a phone's fields")
        a.add_argument("mac", metavar="MAC")
        a.add_argument("--model")
        a.add_argument("--description")
        a.add_argument("--groups", help="comma-separated group names (replaces the list)")
        toggle = a.add_mutually_exclusive_group()
        toggle.add_argument("--enable", action="store_true")
        toggle.add_argument("--disable", action="store_true")
        a = actions.add_parser("rm", help="delete a phone")
        a.add_argument("mac", metavar="MAC")

    if wanted("line"):
        p = command("line", cmd_line, "manage a phone's lines")
        actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
        a = actions.add_parser("add", help="add a line")
        a.add_argument("mac", metavar="MAC")
        a.add_argument("--position", type=int, help="line position (default: first free)")
        _add_line_fields(a, required_user=True)
        a = actions.add_parser("set", help="change a line")
        a.add_argument("mac", metavar="MAC")
        a.add_argument("position", type=int)
        _add_line_fields(a, required_user=False)
        a = actions.add_parser("rm", help="delete a line")
        a.add_argument("mac", metavar="MAC")
        a.add_argument("position", type=int)

    if wanted("set"):
        p = command("set", cmd_set, "set a setting at a scope")
        p.add_argument(
            "scope", metavar="SCOPE", help="tenant:NAME, group:TENANT/NAME, phone:MAC or line:MAC/N"
        )
        p.add_argument("setting", metavar="SETTING")
        p.add_argument("value", metavar="VALUE")
        p.add_argument(
            "--lock", action="store_true", help="lower scopes may not override it (tenant, group)"
        )
        _add_dry_run(p)

    if wanted("unset"):
        p = command("unset", cmd_unset, "remove a setting (and its lock) from a scope")
        p.add_argument("scope", metavar="SCOPE")
        p.add_argument("setting", metavar="SETTING")
        _add_dry_run(p)

    if wanted("explain"):
        p = command(
            "explain",
            _later(_INSPECT, "cmd_explain"),
            "show a phone's resolved settings and where each came from",
        )
        p.add_argument("mac", metavar="MAC")
        p.add_argument(
            "setting", metavar="SETTING", nargs="?", help="trace one setting through every layer"
        )
        p.add_argument("--json", action="store_true")
        p.add_argument("--show-secrets", action="store_true")

    if wanted("serve"):
        p = command(
            "serve",
            _later(_SERVE, "cmd_serve"),
            "serve phones over HTTP, HTTPS, TFTP and FTP",
        )
        p.set_defaults(creates_database=True)  # on first start, saying so
        # The serving package's configuration (its defaults are the options' help): imported
        # when this command's parser is built, not at every command's start.
        from provisioner.cli._serve_options import add_serve_options

        add_serve_options(p)

    if wanted("ban"):
        p = command(
            "ban",
            _later(_SERVE, "cmd_ban"),
            "list or lift bans of addresses (shared by every serve node)",
        )
        actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
        a = actions.add_parser("list", help="addresses banned now, and until when")
        a.add_argument("--json", action="store_true")
        a = actions.add_parser("rm", help="lift the ban of an address")
        a.add_argument("address", metavar="ADDRESS")

    if wanted("dhcp-snippet"):
        p = command(
            "dhcp-snippet",
            _later(_SERVE, "cmd_dhcp"),
            "print DHCP option 66/160/150 lines for this server",
        )
        _add_endpoint_options(p)
        p.add_argument("--address", help="IPv4 address phones reach the server at")
        p.add_argument("--token", help="a tenant URL prefix token to put in the URL")

    if wanted("identify"):
        p = command(
            "identify",
            _later(_SERVE, "cmd_identify"),
            "tell vendor, model, firmware and MAC of a request",
        )
        p.add_argument("--user-agent", required=True, metavar="UA")
        p.add_argument("--path", metavar="P", help="the requested path")
        p.add_argument("--json", action="store_true")

    if wanted("seen"):
        p = command(
            "seen",
            _later(_SERVE, "cmd_seen"),
            "list what phones asked for (newest first)",
        )
        p.add_argument(
            "--unknown", action="store_true", help="only unmanaged devices, and pending ones"
        )
        p.add_argument("--json", action="store_true")
        p.add_argument("--limit", type=int, default=200)

    if wanted("claim"):
        p = command(
            "claim",
            _later(_SERVE, "cmd_claim"),
            "turn a pending (quarantined) device into a managed phone",
        )
        p.add_argument("mac", metavar="MAC")
        p.add_argument("--tenant", help="default: the tenant it was quarantined in")
        p.add_argument("--model", help="default: the detected model")
        p.add_argument("--group", action="append", help="group name (repeatable)")
        p.add_argument("--description")

    if wanted("reject"):
        p = command(
            "reject",
            _later(_SERVE, "cmd_reject"),
            "reject a pending device: it is not held or registered again",
        )
        p.add_argument("mac", metavar="MAC")

    if wanted("forget"):
        p = command(
            "forget",
            _later(_SERVE, "cmd_forget"),
            "drop a pending or rejected device: its tenant's policy applies anew",
        )
        p.add_argument("mac", metavar="MAC")

    if wanted("firmware"):
        add_firmware_parser(command)
    if wanted("phonebook"):
        add_phonebook_parser(command)
    if wanted("import-csv", "export-csv"):
        add_sipxcom_parsers(command)
    if wanted("apikey", "audit"):
        add_admin_parsers(command)
    if wanted("user"):
        add_account_parsers(command)
    if wanted("rollout"):
        add_rollout_parser(command)

    if wanted("notify"):
        p = command(
            "notify",
            _later(_NOTIFY, "cmd_notify"),
            "send one check-sync NOTIFY to a phone now",
        )
        p.add_argument("mac", metavar="MAC")
        p.add_argument("--event", choices=["resync", "reboot"], default="resync")
        p.add_argument("--to", metavar="HOST:PORT", help="send here instead of the usual target")
        p.add_argument("--json", action="store_true")

    if wanted("send-profiles"):
        p = command(
            "send-profiles",
            _later(_NOTIFY, "cmd_send_profiles"),
            "queue check-sync NOTIFYs (sent, paced, by serve)",
        )
        which = p.add_mutually_exclusive_group(required=True)
        which.add_argument("--phone", metavar="MAC[,MAC...]")
        which.add_argument("--group", metavar="TENANT/NAME")
        which.add_argument("--tenant", metavar="NAME")
        which.add_argument("--model", metavar="MODEL")
        p.add_argument("--restart", action="store_true", help="reboot instead of resync")
        p.add_argument("--wait", action="store_true", help="show progress until the job is done")

    if wanted("jobs"):
        p = command(
            "jobs",
            _later(_NOTIFY, "cmd_jobs"),
            "list, show or cancel send-profiles jobs",
        )
        p.add_argument("--show", type=int, metavar="JOB", help="per-phone status of one job")
        p.add_argument("--cancel", type=int, metavar="JOB", help="cancel a running job")
        p.add_argument("--json", action="store_true")

    if wanted("render"):
        p = command(
            "render",
            _later(_INSPECT, "cmd_render"),
            "write the files phones fetch into a directory",
        )
        p.add_argument(
            "--out",
            type=Path,
            required=True,
            help="directory, replaced atomically as a whole: a new or empty one, or one render "
            "wrote before (it holds .provisioner-render)",
        )
        p.add_argument(
            "--replace",
            action="store_true",
            help="render even into a directory holding other files, deleting them",
        )
        p.add_argument("--mac", help="only this phone's files, updated in place")
        p.add_argument(
            "--group",
            help="let this group read the tree (files 0640, directories 0750), e.g. the group a "
            "TFTP daemon runs as; default: owner only (0600/0700), and with --mac: as the tree is",
        )
    if only is not None and not commands.choices:
        return build_parser()
    return parser


class _NotPlain(Exception):
    """The arguments are not a plain ``[global options] COMMAND …``: the full parser answers."""


class _Scan(argparse.ArgumentParser):
    """The global options and what follows them, to choose the one command's parser to build."""

    def error(self, message: str) -> NoReturn:
        """Leave every error (and ``-h``, ``--version``: unknown here) to the full parser."""
        raise _NotPlain(message)


def _command_word(argv: Sequence[str]) -> str | None:
    """The command word of ``argv``, read as the full parser would; None if that is not plain.

    The scan knows the global options that take a value (so a value is not
    taken for the command), and nothing else: ``-h``, ``--version``, a
    misspelt option, an abbreviation the full parser would find ambiguous
    are errors here, and the full parser then says what it always said.
    """
    scan = _Scan(prog="provisioner", add_help=False)
    _add_global_options(scan)
    scan.add_argument("rest", nargs=argparse.REMAINDER)
    try:
        rest: list[str] = scan.parse_args(argv).rest
    except _NotPlain:
        return None
    return rest[0] if rest and not rest[0].startswith("-") else None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``provisioner`` console script.

    Exit status: 0 done, 1 a runtime error, 2 a usage error; either error is
    one line on standard error, never a traceback.
    """
    # Whatever this process creates without choosing a mode is owner-only:
    # the data directory holds plaintext SIP passwords (docs/files-on-disk.md).
    # Code that means to share a file (render --group) sets its mode itself.
    # Restored on return for callers that run main() in-process (the tests).
    umask = os.umask(0o077)
    try:
        words = sys.argv[1:] if argv is None else list(argv)
        args = build_parser(only=_command_word(words)).parse_args(words)
        return _run(args)
    finally:
        os.umask(umask)


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; errors become one line and an exit status."""
    _escape_unprintable(sys.stdout)
    ctx: Context | None = None
    try:
        ctx = Context(args)
        handler: Handler = args.handler
        code = handler(ctx, args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _output_closed()
    except KeyboardInterrupt:  # Ctrl-C, e.g. during send-profiles --wait: the job goes on
        sys.stderr.write("\ninterrupted\n")
        return INTERRUPTED
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return USAGE
    except ProvisionerError as exc:
        # The same words and the same classification as the admin API's answers.
        problem = problem_of(exc)
        sys.stderr.write(f"error: {problem.detail}\n")
        return problem.exit_status
    except DBAPIError as exc:  # the database went away or refused a statement mid-command
        reason = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
        sys.stderr.write(f"error: database: {reason}\n")
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        sys.stderr.write(f"error: {where}{exc.strerror or exc}\n")
        return 1
    finally:
        if ctx is not None:
            ctx.close()


def _escape_unprintable(stream: TextIO) -> None:
    """Let ``stream`` print text that is not valid in its encoding, escaped.

    Names from the file system may hold bytes that are not UTF-8 (kept as lone
    surrogates); under a strict UTF-8 locale printing one would raise.
    """
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="backslashreplace")


def _output_closed() -> int:
    """Standard output was closed early (``provisioner phone list | head``): stop quietly.

    Like other command-line tools, nothing is said: the reader asked for no
    more. Standard output is pointed at /dev/null so the interpreter's final
    flush does not fail again.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return 1


if __name__ == "__main__":
    sys.exit(main())
