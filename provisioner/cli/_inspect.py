"""Commands that look at the pipeline's output: explain and render."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table, show_value
from provisioner.errors import InputError, NotFoundError
from provisioner.explain import explain_phone, phone_view, rendered, transports
from provisioner.keylayout import phone_layout
from provisioner.mac import parse_mac
from provisioner.pipeline import ErrorPolicy, render_snapshot, view_warnings
from provisioner.render import RenderedFile, RenderError, TreeAccess, update_files, write_tree
from provisioner.resolve import LineView, PhoneView, Resolved, Resolver

__all__ = ["cmd_explain", "cmd_render"]


def _view(ctx: Context, mac: str) -> tuple[Resolver, PhoneView]:
    return phone_view(ctx.catalog, ctx.store.tenants.snapshot([mac]), mac)


def _note(view: PhoneView, name: str) -> str:
    return " (not rendered: outside its firmware bounds)" if name in view.gated else ""


def cmd_explain(ctx: Context, args: argparse.Namespace) -> int:
    """Print each resolved setting of a phone and where it came from."""
    mac = parse_mac(args.mac)
    resolver, view = _view(ctx, mac)
    if args.setting:
        return _explain_one(ctx, resolver, view, args.setting, args.show_secrets)
    if args.json:
        print_json(explain_phone(ctx.catalog, resolver.snapshot, mac, args.show_secrets))
        return 0
    secret = {name for name in view.settings if ctx.catalog.spec(name).secret}

    def shown(name: str, resolved: Resolved) -> str:
        return show_value(resolved.value, secret=name in secret, reveal=args.show_secrets)

    line_names = {name for lv in view.lines for name in lv.settings}
    files, errors = rendered(ctx.catalog, resolver, view)
    groups = ", ".join(f"{g.name} (weight {g.weight})" for g in reversed(view.groups)) or "none"
    print(f"phone {mac}: {view.model.label}, tenant {view.tenant.name}, groups: {groups}")
    print_table(
        ["SETTING", "VALUE", "SOURCE"],
        [
            [name, shown(name, r), f"{r.source}{_note(view, name)}"]
            for name, r in sorted(view.settings.items())
            if name not in line_names
        ],
    )
    print("\nthe phone's own files over each transport:")
    print_table(
        ["TRANSPORT", "VERDICT"],
        [
            [
                name,
                "served (after the checks of each request)"
                if reason is None
                else f"refused: {reason}",
            ]
            for name, reason in transports(view).items()
        ],
    )
    _print_keys(view)
    for lv in view.lines:
        print(f"\nline {lv.line.position} ({lv.line.user}):")
        print_table(
            ["SETTING", "VALUE", "SOURCE"],
            [
                [name, shown(name, r), f"{r.source}{_note(view, name)}"]
                for name, r in sorted(lv.settings.items())
            ],
        )
    warnings = view_warnings(view)
    if warnings:
        print("\nwarnings:")
        for text in warnings:
            print(f"  warning: {text}")
    _print_files(view, files, errors)
    return 0


def _print_keys(view: PhoneView) -> None:
    """The placed keys (docs/settings.md "Keys"), with where the list came from."""
    layout, problems = phone_layout(view)
    placed = [*layout.phone, *(p for module in layout.modules for p in module)]
    if not placed and not problems:
        return
    policy = view.settings["keys.policy"]
    rule = f"; policy {policy.value} from {policy.source}" if view.policy_keys else ""
    print(f"\nkeys (from {view.settings['keys'].source}{rule}):")
    print_table(
        ["WHERE", "KEY", "TYPE", "VALUE", "LABEL", "LINE"],
        [
            [
                f"module {p.module} key {p.slot}" if p.module else f"key {p.slot}",
                ("policy " if p.policy else "") + (str(p.number) if p.number else "auto"),
                str(p.key.type),
                p.key.value,
                p.key.label,
                str(p.line),
            ]
            for p in placed
        ],
    )
    if layout.dropped:
        print(f"  {layout.dropped} line(s) of the key policy fit on no free key: left out")
    for problem in problems:
        print(f"  problem: {problem}")


def _print_files(view: PhoneView, files: list[RenderedFile], errors: list[RenderError]) -> None:
    if not view.phone.enabled:
        print("\nthe phone is disabled: none of its files is served")
        return
    if errors:
        print("\nits files do not render:")
        for error in errors:
            print(f"  render error: {error}")
        print(
            f"provisioner serve keeps serving tenant {view.tenant.name}'s previous files "
            "until this is fixed (a failing phone holds back its whole tenant's change)"
        )
        return
    print("\nits files as rendered now:")
    print_table(["FILE", "BYTES"], [[f.path, str(len(f.data))] for f in files])


def _explain_one(ctx: Context, resolver: Resolver, view: PhoneView, name: str, reveal: bool) -> int:
    spec = ctx.catalog.spec(name)
    if not ctx.catalog.applies_to(name, view.family):
        raise InputError(f"setting {name} does not apply to {view.family.key} phones")
    targets: list[tuple[str, LineView | None]] = [(f"phone {view.phone.mac}", None)]
    if spec.line:
        targets = [
            (f"line {lv.line.position} ({lv.line.user})", lv) for lv in view.lines
        ] or targets
    for title, line in targets:
        print(f"{name} for {title}{_note(view, name)}:")
        steps = resolver.trace(view, name, line)
        print_table(
            ["SOURCE", "VALUE", "OUTCOME"],
            [
                [str(s.source), show_value(s.value, secret=spec.secret, reveal=reveal), s.outcome]
                for s in steps
            ],
        )
    return 0


def _warn(warnings: dict[str, list[str]]) -> None:
    """One line per distinct warning, with how many phones and which (the first few)."""
    by_text: dict[str, list[str]] = {}
    for mac in sorted(warnings):
        for text in warnings[mac]:
            by_text.setdefault(text, []).append(mac)
    for text, macs in by_text.items():
        shown = ", ".join(macs[:3]) + (", …" if len(macs) > 3 else "")
        sys.stderr.write(f"warning: {len(macs)} phone(s) ({shown}): {text}\n")


def cmd_render(ctx: Context, args: argparse.Namespace) -> int:
    """Write the tree of files phones fetch (all, or one phone's files in place).

    The tree is owner-only unless ``--group`` shares it (docs/files-on-disk.md).
    """
    out = Path(args.out)
    access = TreeAccess.shared(args.group) if args.group else None
    mac = parse_mac(args.mac) if args.mac else None
    snapshot = ctx.store.tenants.snapshot([mac] if mac else None)
    if mac is not None and not snapshot.phones:
        raise NotFoundError(f"no phone with MAC {mac}")
    # All or nothing: a tree missing some phones' files (or holding stale ones
    # next to fresh ones) is worse for the server reading it than the old tree.
    result = render_snapshot(
        ctx.catalog, snapshot, shared=mac is None, policy=ErrorPolicy.ALL_OR_NOTHING
    )
    for error in result.errors:
        sys.stderr.write(f"render error: {error}\n")
    _warn(result.warnings)
    if result.errors:
        sys.stderr.write(f"nothing written to {out}: {len(result.errors)} file(s) failed\n")
        return 1
    if mac is not None:
        count = update_files(out, result.files(), access, replace=args.replace)
    else:
        count = write_tree(out, result.files(), [], access or TreeAccess(), replace=args.replace)
    print(f"wrote {count} files for {len(result.phones)} phones to {out}")
    return 0
