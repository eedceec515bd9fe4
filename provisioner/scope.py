"""Scope references as admins type them: ``tenant:acme``, ``group:acme/sales``,
``phone:00:04:f2:aa:bb:cc``, ``line:0004f2aabbcc/2``."""

from __future__ import annotations

from dataclasses import dataclass

from provisioner.domain import ScopeKind
from provisioner.errors import InputError
from provisioner.mac import parse_mac

__all__ = ["ScopeRef", "parse_scope", "split_group"]


@dataclass(frozen=True, slots=True)
class ScopeRef:
    """A reference to one scope by its natural keys."""

    kind: ScopeKind
    tenant: str = ""
    group: str = ""
    mac: str = ""
    position: int = 0

    def __str__(self) -> str:
        if self.kind is ScopeKind.TENANT:
            return f"tenant:{self.tenant}"
        if self.kind is ScopeKind.GROUP:
            return f"group:{self.tenant}/{self.group}"
        if self.kind is ScopeKind.PHONE:
            return f"phone:{self.mac}"
        return f"line:{self.mac}/{self.position}"


_FORMS = "tenant:NAME, group:TENANT/NAME, phone:MAC or line:MAC/POSITION"


def parse_scope(text: str) -> ScopeRef:
    """Parse a scope reference; MACs are normalised.

    :raises InputError: naming the accepted forms.
    """
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise InputError(f"invalid scope {text!r}: expected {_FORMS}")
    if kind == "tenant":
        return ScopeRef(ScopeKind.TENANT, tenant=rest)
    if kind == "group":
        found = split_group(rest)
        if found is None:
            raise InputError(f"invalid group scope {text!r}: expected group:TENANT/NAME")
        return ScopeRef(ScopeKind.GROUP, tenant=found[0], group=found[1])
    if kind == "phone":
        return ScopeRef(ScopeKind.PHONE, mac=parse_mac(rest))
    if kind == "line":
        mac, slash, position = rest.rpartition("/")
        if not slash or not position.isdigit() or int(position) < 1:
            raise InputError(f"invalid line scope {text!r}: expected line:MAC/POSITION")
        return ScopeRef(ScopeKind.LINE, mac=parse_mac(mac), position=int(position))
    raise InputError(f"invalid scope {text!r}: expected {_FORMS}")


def split_group(text: str) -> tuple[str, str] | None:
    """``TENANT/NAME`` as (tenant, name), or ``None`` unless both parts are there."""
    tenant, slash, name = text.partition("/")
    if not slash or not tenant or not name:
        return None
    return tenant, name
