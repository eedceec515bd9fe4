"""Commands that read and change tenants, groups, phones, lines and settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from provisioner.chars import decode_utf8
from provisioner.cli._context import Context
from provisioner.cli._output import MASK, print_json, print_table, show_value, write_private
from provisioner.cli._preview import preview
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import LABEL_SETTING, label_note
from provisioner.fleet import export_fleet, fleet_text, load_fleet, parse_fleet
from provisioner.fleet_apply import apply_fleet
from provisioner.mac import parse_mac
from provisioner.scope import parse_scope, split_group
from provisioner.settings import SettingSpec
from provisioner.state import LineState, Part, TenantState
from provisioner.store import Changes

__all__ = [
    "cmd_apply",
    "cmd_export",
    "cmd_group",
    "cmd_init",
    "cmd_line",
    "cmd_models",
    "cmd_phone",
    "cmd_set",
    "cmd_settings",
    "cmd_tenant",
    "cmd_unset",
]


def _report(changes: Changes) -> None:
    if not changes:
        print("no changes")
        return
    for what, count in sorted(changes.items()):
        print(f"{what}: {count}")


def _group_ref(text: str) -> tuple[str, str]:
    found = split_group(text)
    if found is None:
        raise InputError(f"invalid group {text!r}: expected TENANT/NAME")
    return found


def cmd_init(ctx: Context, args: argparse.Namespace) -> int:
    """Create the data directory and database (migrations run on every start)."""
    ctx.prepare_data_dir()
    ctx.store  # noqa: B018  (opening the store migrates it)
    print(f"data directory: {ctx.data_dir.resolve()}")
    print(f"database: {ctx.safe_db_url()} (schema up to date)")
    return 0


def cmd_apply(ctx: Context, args: argparse.Namespace) -> int:
    """Make the database match a fleet file."""
    path = Path(args.file)
    states = parse_fleet(load_fleet(path), ctx.catalog, base=path.parent)
    if args.dry_run:
        return preview(ctx, lambda edits: apply_fleet(ctx.store, edits, states, prune=args.prune))
    applied = apply_fleet(ctx.store, ctx.edits, states, prune=args.prune)
    for line in applied.described:
        print(line)
    _report(applied.changes)
    for warning in applied.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    return 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> int:
    """Write the fleet file describing the database (with ``--out``: owner-only, atomically).

    The format is ``--format``, else the one ``apply`` reads a file of that
    name as: TOML for ``.toml``, JSON otherwise.
    """
    toml = (args.format or _format_of(args.out)) == "toml"
    states = ctx.store.tenants.all_states()
    text = fleet_text(export_fleet(states, ctx.store.phonebooks.books()), toml=toml)
    write_private(args.out, text)  # it holds SIP passwords
    return 0


def _format_of(out: Path | None) -> str:
    """The fleet format ``apply`` reads a file called ``out`` in (JSON for standard output)."""
    return "toml" if out is not None and out.suffix.lower() == ".toml" else "json"


def cmd_models(ctx: Context, args: argparse.Namespace) -> int:
    """List the model catalog."""
    rows: list[dict[str, Any]] = []
    for family in ctx.catalog.families.values():
        if args.vendor and family.vendor != args.vendor:
            continue
        for model in family.models:
            rows.append(
                {
                    "id": model.id,
                    "vendor": family.vendor,
                    "family": family.name,
                    "label": model.label,
                    "max_lines": model.max_lines,
                    "aliases": list(model.aliases),
                }
            )
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["ID", "VENDOR", "FAMILY", "LABEL", "LINES", "ALIASES"],
            [
                [
                    r["id"],
                    r["vendor"],
                    r["family"],
                    r["label"],
                    r["max_lines"],
                    ",".join(r["aliases"]),
                ]
                for r in rows
            ],
        )
    return 0


def cmd_settings(ctx: Context, args: argparse.Namespace) -> int:
    """List the settings schema (common, and each family's own)."""
    specs: Iterable[SettingSpec] = ctx.catalog.settings.values()
    if args.family:
        if args.family not in ctx.catalog.families:
            raise NotFoundError(f"no family {args.family!r}; see `provisioner models`")
        specs = ctx.catalog.specs_for(args.family).values()
    rows = [
        {
            "name": spec.name,
            "type": str(spec.type),
            "default": spec.default if not spec.generated else None,
            "scope": _scope_of(spec),
            "owner": spec.owner or "common",
            "allowed": spec.allowed(),
            "label": spec.label,
        }
        for spec in sorted(specs, key=lambda s: s.name)
    ]
    if args.json:
        print_json(rows)
    else:
        print_table(
            ["NAME", "TYPE", "DEFAULT", "SCOPE", "OWNER", "LABEL"],
            [
                [
                    r["name"],
                    r["type"],
                    "(generated)" if r["default"] is None else show_value(r["default"]),
                    r["scope"],
                    r["owner"],
                    r["label"],
                ]
                for r in rows
            ],
        )
    return 0


def _scope_of(spec: SettingSpec) -> str:
    """The lowest scope a setting may be set at: line, phone (and above) or tenant only."""
    return "tenant" if spec.tenant_only else "line" if spec.line else "phone"


def _settings_rows(
    settings: dict[str, Any], locked: set[str], reveal: bool, ctx: Context
) -> list[list[str]]:
    rows = []
    for name, value in sorted(settings.items()):
        try:
            secret = ctx.catalog.spec(name).secret
        except InputError:
            secret = False
        rows.append(
            [
                name,
                show_value(value, secret=secret, reveal=reveal),
                "locked" if name in locked else "",
            ]
        )
    return rows


def cmd_tenant(ctx: Context, args: argparse.Namespace) -> int:
    """tenant add|list|show|set|rm."""
    store = ctx.store
    if args.action == "add":
        ctx.edits.tenants.add(args.name, args.sip_domain, args.platform, args.description or "")
        print(f"tenant {args.name} created")
    elif args.action == "list":
        states = store.tenants.all_states()
        rows = [[s.name, s.sip_domain, s.platform, len(s.groups), len(s.phones)] for s in states]
        if args.json:
            print_json(
                [
                    dict(
                        zip(["name", "sip_domain", "platform", "groups", "phones"], r, strict=True)
                    )
                    for r in rows
                ]
            )
        else:
            print_table(["NAME", "SIP DOMAIN", "PLATFORM", "GROUPS", "PHONES"], rows)
    elif args.action == "show":
        state = store.tenants.state(args.name)
        print(f"tenant {state.name}: SIP domain {state.sip_domain}, platform {state.platform}")
        if state.description:
            print(f"description: {state.description}")
        print(f"groups: {', '.join(sorted(state.groups)) or '-'}; phones: {len(state.phones)}")
        if state.settings:
            print_table(
                ["SETTING", "VALUE", ""],
                _settings_rows(state.settings, state.locked, args.show_secrets, ctx),
            )
    elif args.action == "set":
        _report(
            ctx.edits.tenants.update(
                args.name,
                sip_domain=args.sip_domain,
                platform=args.platform,
                description=args.description,
            )
        )
    elif args.action == "rm":
        _confirm_tenant_rm(store.tenants.state(args.name), args.yes)
        ctx.edits.tenants.remove(args.name)
        print(f"tenant {args.name} removed")
    return 0


def _confirm_tenant_rm(state: TenantState, yes: bool) -> None:
    """Ask before deleting a tenant and everything under it, unless ``yes``.

    Without a terminal to ask on (a script, a pipe) ``--yes`` is required:
    nothing is deleted on a guess.
    """
    what = (
        f"tenant {state.name} with its {len(state.phones)} phone(s) and "
        f"{len(state.groups)} group(s)"
    )
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(f"tenant rm deletes {what}: give --yes to confirm")
    try:
        answer = input(f"delete {what}? [y/N] ")
    except EOFError:  # Ctrl-D: no answer is no
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise InputError(f"tenant {state.name} not removed")


def cmd_group(ctx: Context, args: argparse.Namespace) -> int:
    """group add|list|show|set|rm."""
    store = ctx.store
    if args.action == "list":
        states = [store.tenants.state(args.tenant)] if args.tenant else store.tenants.all_states()
        rows = []
        for state in states:
            members: dict[str, int] = {}
            for phone in state.phones.values():
                for member_of in phone.groups:
                    members[member_of] = members.get(member_of, 0) + 1
            for group in sorted(state.groups.values(), key=lambda g: (-g.weight, g.name)):
                rows.append(
                    [
                        f"{state.name}/{group.name}",
                        group.weight,
                        members.get(group.name, 0),
                        group.description,
                    ]
                )
        print_table(["GROUP", "WEIGHT", "PHONES", "DESCRIPTION"], rows)
        return 0
    tenant, name = _group_ref(args.group)
    if args.action == "add":
        ctx.edits.groups.add(tenant, name, args.description or "", args.weight or 0)
        print(f"group {tenant}/{name} created")
    elif args.action == "show":
        state = store.tenants.state(tenant, Part(groups=frozenset({name})))  # and its members
        found = state.groups.get(name)
        if found is None:
            raise NotFoundError(f"no group {tenant}/{name}")
        print(f"group {tenant}/{name}: weight {found.weight}")
        if found.description:
            print(f"description: {found.description}")
        macs = sorted(m for m, p in state.phones.items() if name in p.groups)
        print(f"phones: {', '.join(macs) or '-'}")
        if found.settings:
            print_table(
                ["SETTING", "VALUE", ""],
                _settings_rows(found.settings, found.locked, args.show_secrets, ctx),
            )
    elif args.action == "set":
        _report(
            ctx.edits.groups.update(tenant, name, description=args.description, weight=args.weight)
        )
    elif args.action == "rm":
        ctx.edits.groups.remove(tenant, name)
        print(f"group {tenant}/{name} removed")
    return 0


def cmd_phone(ctx: Context, args: argparse.Namespace) -> int:
    """phone add|list|show|set|rm."""
    store = ctx.store
    if args.action == "list":
        states = [store.tenants.state(args.tenant)] if args.tenant else store.tenants.all_states()
        rows: list[dict[str, Any]] = []
        for state in states:
            for phone in state.phones.values():
                rows.append(
                    {
                        "mac": phone.mac,
                        "tenant": state.name,
                        "model": phone.model,
                        "enabled": phone.enabled,
                        "groups": phone.groups,
                        "lines": len(phone.lines),
                        "description": phone.description,
                    }
                )
        if args.json:
            print_json(rows)
        else:
            print_table(
                ["MAC", "TENANT", "MODEL", "ENABLED", "GROUPS", "LINES", "DESCRIPTION"],
                [
                    [
                        r["mac"],
                        r["tenant"],
                        r["model"],
                        "yes" if r["enabled"] else "no",
                        ",".join(r["groups"]),
                        r["lines"],
                        r["description"],
                    ]
                    for r in rows
                ],
            )
        return 0
    mac = parse_mac(args.mac)
    if args.action == "add":
        ctx.edits.phones.add(
            args.tenant,
            mac,
            args.model,
            description=args.description or "",
            groups=args.group or [],
            enabled=not args.disabled,
        )
        print(f"phone {mac} created")
    elif args.action == "show":
        _show_phone(ctx, mac, args.show_secrets)
    elif args.action == "set":
        groups = None if args.groups is None else [g for g in args.groups.split(",") if g]
        enabled = True if args.enable else False if args.disable else None
        _report(
            ctx.edits.phones.update(
                mac, model=args.model, description=args.description, groups=groups, enabled=enabled
            )
        )
    elif args.action == "rm":
        ctx.edits.phones.remove(mac)
        print(f"phone {mac} removed")
    return 0


def _show_phone(ctx: Context, mac: str, reveal: bool) -> None:
    tenant = ctx.store.tenants.tenant_of(mac)
    state: TenantState = ctx.store.tenants.state(tenant, Part(frozenset({mac})))
    phone = state.phones[mac]
    model = ctx.catalog.model(phone.model)
    status = "enabled" if phone.enabled else "disabled"
    print(f"phone {mac}: {model.label} ({model.id}), tenant {tenant}, {status}")
    if phone.description:
        print(f"description: {phone.description}")
    print(f"groups: {', '.join(phone.groups) or '-'}")
    if phone.settings:
        print_table(["SETTING", "VALUE", ""], _settings_rows(phone.settings, set(), reveal, ctx))
    rows = []
    for line in phone.lines:
        password = line.password if reveal else (MASK if line.password else "")
        extra = ", ".join(f"{k}={show_value(v)}" for k, v in sorted(line.settings.items()))
        rows.append(
            [
                line.position,
                line.user,
                line.auth_user,
                password,
                line.display_name,
                line.label,
                extra,
            ]
        )
    if rows:
        print_table(
            ["LINE", "USER", "AUTH USER", "PASSWORD", "DISPLAY NAME", "LABEL", "SETTINGS"], rows
        )


def _password(args: argparse.Namespace) -> str | None:
    if getattr(args, "password_stdin", False):
        # Bytes, decoded strictly: sys.stdin may be set to "surrogateescape".
        line = sys.stdin.buffer.readline()
        return decode_utf8(line, "standard input (--password-stdin)").rstrip("\r\n")
    value: str | None = args.password
    return value


def cmd_line(ctx: Context, args: argparse.Namespace) -> int:
    """line add|set|rm."""
    mac = parse_mac(args.mac)
    if args.action == "add":
        line = LineState(
            position=args.position or 0,
            user=args.user,
            auth_user=args.auth_user or "",
            password=_password(args) or "",
            display_name=args.display_name or "",
            label=args.label or "",
        )
        position = ctx.edits.lines.add(mac, line)
        print(f"line {mac}/{position} created")
    elif args.action == "set":
        fields = {
            "user": args.user,
            "auth_user": args.auth_user,
            "password": _password(args),
            "display_name": args.display_name,
            "label": args.label,
        }
        _report(
            ctx.edits.lines.update(
                mac, args.position, **{k: v for k, v in fields.items() if v is not None}
            )
        )
    elif args.action == "rm":
        ctx.edits.lines.remove(mac, args.position)
        print(f"line {mac}/{args.position} removed")
    return 0


def cmd_set(ctx: Context, args: argparse.Namespace) -> int:
    """Set (and optionally lock) a setting at a scope."""
    scope = parse_scope(args.scope)
    if args.dry_run:
        return preview(
            ctx,
            lambda edits: edits.settings.set(
                scope, args.setting, args.value, lock=args.lock, from_text=True
            ),
        )
    ctx.edits.settings.set(scope, args.setting, args.value, lock=args.lock, from_text=True)
    print(f"{args.setting} set at {scope}{' (locked)' if args.lock else ''}")
    if args.setting == LABEL_SETTING:
        _warn_labels(ctx, [args.value])
    return 0


def _warn_labels(ctx: Context, labels: Iterable[str]) -> None:
    """Warn about firmware labels that point phones at no active set (docs/firmware.md)."""
    sets = ctx.store.firmware.sets()
    for label in sorted(set(labels)):
        note = label_note(sets, label)
        if note is not None:
            sys.stderr.write(f"warning: {note}\n")


def cmd_unset(ctx: Context, args: argparse.Namespace) -> int:
    """Remove a setting (and its lock) from a scope."""
    scope = parse_scope(args.scope)
    if args.dry_run:
        return preview(ctx, lambda edits: edits.settings.unset(scope, args.setting))
    ctx.edits.settings.unset(scope, args.setting)
    print(f"{args.setting} unset at {scope}")
    return 0
