"""The phone selectors shared by send-profiles and rollouts: --phone, --group, --tenant, --model."""

from __future__ import annotations

import argparse

from provisioner.cli._context import Context
from provisioner.selection import select_phones

__all__ = ["selected_phones"]


def selected_phones(ctx: Context, args: argparse.Namespace) -> tuple[list[tuple[str, int]], str]:
    """Enabled phones (MAC, tenant id) the arguments name (:func:`select_phones`)."""
    listed = getattr(args, "phone", None)
    return select_phones(
        ctx.store,
        ctx.catalog,
        phones=listed.split(",") if listed else None,
        group=args.group,
        tenant=args.tenant,
        model=args.model,
    )
