"""The desired state of a tenant, keyed by natural keys.

Both ways of changing the store go through this model: a fleet file is
parsed into :class:`TenantState` objects, and a single command-line write
loads the tenant's current state, changes it in memory and hands it back.
Either way :func:`provisioner.check.check_tenant` validates the whole result
and the store writes only the difference, in one transaction.

``where`` fields locate an entity for error messages: a path into the fleet
file (``phones[3]``) or a scope reference (``phone:0004f2aabbcc``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from provisioner.settings import Value

__all__ = ["GroupState", "LineState", "PhoneState", "TenantState", "copy_tenant"]


@dataclass(slots=True)
class LineState:
    """A line; ``settings`` are line-scope values."""

    position: int
    user: str
    auth_user: str = ""
    password: str = ""
    display_name: str = ""
    label: str = ""
    settings: dict[str, Value] = field(default_factory=dict)
    where: str = ""


@dataclass(slots=True)
class PhoneState:
    """A phone; ``groups`` are group names in the same tenant."""

    mac: str
    model: str
    description: str = ""
    enabled: bool = True
    groups: list[str] = field(default_factory=list)
    settings: dict[str, Value] = field(default_factory=dict)
    lines: list[LineState] = field(default_factory=list)
    where: str = ""


@dataclass(slots=True)
class GroupState:
    """A phone group; ``locked`` names settings in ``settings`` that are locked."""

    name: str
    description: str = ""
    weight: int = 0
    settings: dict[str, Value] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    where: str = ""


@dataclass(slots=True)
class TenantState:
    """A tenant with everything under it."""

    name: str
    sip_domain: str
    platform: str = "generic"
    description: str = ""
    settings: dict[str, Value] = field(default_factory=dict)
    locked: set[str] = field(default_factory=set)
    groups: dict[str, GroupState] = field(default_factory=dict)
    phones: dict[str, PhoneState] = field(default_factory=dict)
    where: str = ""


def copy_tenant(state: TenantState) -> TenantState:
    """A copy of ``state`` sharing nothing mutable with it (values are immutable scalars).

    What ``copy.deepcopy`` gives, written out: a single edit copies its
    tenant before changing it, and the generic copy took most of an edit's
    time in a tenant of 10,000 phones.
    """
    return TenantState(
        state.name,
        state.sip_domain,
        state.platform,
        state.description,
        dict(state.settings),
        set(state.locked),
        {
            name: GroupState(
                g.name, g.description, g.weight, dict(g.settings), set(g.locked), g.where
            )
            for name, g in state.groups.items()
        },
        {mac: _copy_phone(p) for mac, p in state.phones.items()},
        state.where,
    )


def _copy_phone(p: PhoneState) -> PhoneState:
    lines = [
        LineState(
            ln.position,
            ln.user,
            ln.auth_user,
            ln.password,
            ln.display_name,
            ln.label,
            dict(ln.settings),
            ln.where,
        )
        for ln in p.lines
    ]
    return PhoneState(
        p.mac, p.model, p.description, p.enabled, list(p.groups), dict(p.settings), lines, p.where
    )
