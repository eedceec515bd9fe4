"""The phone selectors shared by send-profiles and rollouts: --phone, --group, --tenant, --model."""

from __future__ import annotations

import argparse

from provisioner.cli._context import Context
from provisioner.errors import InputError, NotFoundError
from provisioner.mac import parse_mac
from provisioner.scope import split_group

__all__ = ["selected_phones"]


def selected_phones(ctx: Context, args: argparse.Namespace) -> tuple[list[tuple[str, int]], str]:
    """Enabled phones (MAC, tenant id) the arguments name, and how to describe them.

    A group or tenant that does not exist is an error of its own, not an
    empty selection.
    """
    store = ctx.store
    if getattr(args, "phone", None):
        macs = [parse_mac(m) for m in args.phone.split(",")]
        return store.tenants.phones_for(macs=macs), f"phone {','.join(macs)}"
    if args.group:
        group = split_group(args.group)
        if group is None:
            raise InputError(f"invalid --group {args.group!r}: expected TENANT/NAME")
        phones = store.tenants.phones_for(group=group)
        if not phones and group[1] not in store.tenants.state(group[0]).groups:
            raise NotFoundError(f"no group {args.group} (see `provisioner group list`)")
        return phones, f"group {args.group}"
    if args.tenant:
        phones = store.tenants.phones_for(tenant=args.tenant)
        if not phones:
            store.tenants.state(args.tenant)  # says so if there is no such tenant
        return phones, f"tenant {args.tenant}"
    model = ctx.catalog.model(args.model).id
    return store.tenants.phones_for(model=model), f"model {model}"
