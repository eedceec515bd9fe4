"""``provisioner firmware``: upload, list, show, activate, deactivate and remove sets."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from provisioner.actor import Actor
from provisioner.cli._context import Context
from provisioner.cli._output import print_json, print_table
from provisioner.domain import FirmwareSet
from provisioner.errors import InputError, NotFoundError
from provisioner.firmware import served_path

__all__ = ["cmd_firmware"]


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB"):
        size /= 1024
        if size < 1024 or unit == "GiB":
            break
    return f"{size:.1f} {unit}"


def _set_dict(s: FirmwareSet) -> dict[str, Any]:
    return {
        "vendor": s.vendor,
        "label": s.label,
        "kind": s.kind,
        "description": s.description,
        "version": s.version,
        "active": s.active,
        "upload_name": s.upload_name,
        "upload_sha256": s.upload_sha256,
        "total_bytes": s.total_bytes,
        "created_at": s.created_at,
        "files": [
            {
                "path": f.path,
                "served_at": served_path(s.vendor, s.label, f.path),
                "size": f.size,
                "sha256": f.sha256,
            }
            for f in s.files
        ],
    }


def cmd_firmware(ctx: Context, args: argparse.Namespace) -> int:
    """firmware upload|list|show|activate|deactivate|rm."""
    actions = {"upload": _upload, "list": _list, "show": _show}
    return actions.get(args.action, _switch)(ctx, args)


def _upload(ctx: Context, args: argparse.Namespace) -> int:
    library = ctx.firmware
    source = Path(args.file)
    if not source.is_file():
        raise InputError(f"{args.file}: no such file")
    uploaded = library.upload(
        source,
        source.name,
        vendor=args.vendor,
        label=args.label,
        description=args.description or "",
        kind="unmanaged" if args.unmanaged else "firmware",
        version=args.fw_version or "",
        actor=Actor.cli(),
    )
    version = uploaded.version or "unknown (give --version for rollouts)"
    print(
        f"{uploaded.vendor} set {uploaded.label}: {len(uploaded.files)} file(s), "
        f"{_size(uploaded.total_bytes)}, version {version}, inactive "
        f"(upload SHA-256 {uploaded.upload_sha256})"
    )
    if args.activate:
        library.activate(uploaded.vendor, uploaded.label, Actor.cli())
        print(f"{uploaded.vendor} set {uploaded.label} activated")
    return 0


def _list(ctx: Context, args: argparse.Namespace) -> int:
    sets = ctx.store.firmware.sets(vendor=args.vendor)
    if args.json:
        print_json([_set_dict(s) for s in sets])
        return 0
    print_table(
        [
            "VENDOR",
            "LABEL",
            "KIND",
            "VERSION",
            "ACTIVE",
            "FILES",
            "SIZE",
            "UPLOADED",
            "DESCRIPTION",
        ],
        [
            [
                s.vendor,
                s.label,
                s.kind,
                s.version or "-",
                "yes" if s.active else "no",
                len(s.files),
                _size(s.total_bytes),
                time.strftime("%Y-%m-%d %H:%M", time.gmtime(s.created_at)),
                s.description,
            ]
            for s in sets
        ],
    )
    return 0


def _show(ctx: Context, args: argparse.Namespace) -> int:
    found = ctx.store.firmware.sets(vendor=args.vendor, label=args.label)
    if not found:
        raise NotFoundError(f"no {args.vendor} firmware set labelled {args.label!r}")
    data = _set_dict(found[0])
    data["selected_by"] = ctx.store.firmware.references(args.label)
    if args.json:
        print_json(data)
        return 0
    s = found[0]
    print(
        f"{s.vendor} set {s.label} ({s.kind}, {'active' if s.active else 'inactive'}), "
        f"version {s.version or '-'}, uploaded as {s.upload_name} "
        f"(SHA-256 {s.upload_sha256})"
    )
    if s.description:
        print(f"description: {s.description}")
    print(f"selected by: {', '.join(data['selected_by']) or '-'}")
    print_table(
        ["SERVED AT", "SIZE", "SHA-256"],
        [[f["served_at"], f["size"], f["sha256"]] for f in data["files"]],
    )
    return 0


def _switch(ctx: Context, args: argparse.Namespace) -> int:
    """activate, deactivate or rm."""
    library = ctx.firmware
    if args.action == "activate":
        changed = library.activate(args.vendor, args.label, Actor.cli())
        print(f"{args.vendor} set {args.label} {'activated' if changed else 'was already active'}")
        return 0
    if args.action == "deactivate":
        changed = library.deactivate(args.vendor, args.label, Actor.cli())
        state = "deactivated" if changed else "was not active"
        print(f"{args.vendor} set {args.label} {state}")
        return 0
    references = library.remove(args.vendor, args.label, Actor.cli())
    print(f"{args.vendor} set {args.label} removed")
    if references:
        sys.stderr.write(
            f"note: firmware settings still name {args.label!r} at: {', '.join(references)}\n"
        )
    return 0


def add_parser(command: Any) -> None:
    """The ``firmware`` command and its actions."""
    p = command("firmware", cmd_firmware, "manage firmware and unmanaged device files")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser(
        "upload",
        help="check and store an archive (.zip, .tar.gz, .tgz, .tar) or one image as a new set",
    )
    a.add_argument("file", type=Path)
    a.add_argument(
        "--vendor", required=True, help="a vendor of the catalog, as `provisioner models` lists"
    )
    a.add_argument("--label", required=True, help="the set's name, e.g. 6.4.6 or 2026-q4")
    a.add_argument("--description")
    a.add_argument(
        "--version",
        dest="fw_version",
        help="version phones report when running it (default: read from the set if possible)",
    )
    a.add_argument(
        "--unmanaged", action="store_true", help="custom device files rather than firmware"
    )
    a.add_argument("--activate", action="store_true", help="activate it right away")
    a = actions.add_parser("list", help="list sets")
    a.add_argument("--vendor")
    a.add_argument("--json", action="store_true")
    for name, text in (
        ("show", "one set: files, checksums, where it is selected"),
        ("activate", "serve a set and let phones be pointed at it"),
        ("deactivate", "stop serving a set"),
        ("rm", "delete an inactive set and its files"),
    ):
        a = actions.add_parser(name, help=text)
        a.add_argument("vendor")
        a.add_argument("label")
        if name == "show":
            a.add_argument("--json", action="store_true")
