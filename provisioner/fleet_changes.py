"""What applying tenant states changes, entity by entity, in words for the admin.

The store counts the rows it writes (``Changes``); this names the tenants,
groups, phones, lines and phonebooks behind those counts, so ``apply`` can say what it
did. It compares the same fields the store's difference writer compares,
and never shows a value: a line's password is "password changed", a
setting is named, not quoted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set

from provisioner.domain import Phonebook
from provisioner.settings import Value
from provisioner.state import GroupState, LineState, PhoneState, TenantState

__all__ = ["describe_changes"]

_LINE_FIELDS = ("user", "auth_user", "password", "display_name", "label")


def describe_changes(
    before: Iterable[TenantState],
    after: Iterable[TenantState],
    *,
    prune: bool = False,
    books: Mapping[str, Mapping[str, Phonebook]] | None = None,
) -> list[str]:
    """One line per tenant, group, phone, line or phonebook ``after`` changes, stable order.

    ``before`` is every stored tenant; ``after`` the tenants being applied
    (others are left alone, or removed with ``prune``). ``books`` are the
    stored phonebooks by tenant and name, compared with those of an
    ``after`` state that gives its books.
    """
    old = {state.name: state for state in before}
    new = {state.name: state for state in after}
    owner = {mac: s.name for s in old.values() for mac in s.phones}
    kept = {mac for state in new.values() for mac in state.phones}
    lines = [
        f"tenant {name}: removed, with its {len(old[name].phones)} phone(s)"
        for name in sorted(old.keys() - new.keys() if prune else ())
    ]
    for name, state in sorted(new.items()):
        lines += _tenant(old.get(name), state)
        for mac, phone in sorted(state.phones.items()):
            came_from = owner.get(mac)
            if came_from is None:
                lines.append(f"phone {mac}: created ({phone.model})")
            elif came_from != name:
                lines.append(f"phone {mac}: moved from tenant {came_from} to {name}")
            else:
                lines += _phone(old[name].phones[mac], phone)
        gone = old[name].phones.keys() - kept if name in old else set()
        lines += [f"phone {mac}: removed" for mac in sorted(gone)]
        if state.phonebooks is not None:
            lines += _phonebooks(name, (books or {}).get(name, {}), state.phonebooks)
    return lines


def _phonebooks(
    tenant: str, stored: Mapping[str, Phonebook], wanted: Mapping[str, Phonebook]
) -> list[str]:
    lines = []
    for name in sorted(stored.keys() | wanted.keys()):
        old, new = stored.get(name), wanted.get(name)
        where = f"phonebook {tenant}/{name}"
        if new is None:
            lines.append(f"{where}: removed")
        elif old is None:
            lines.append(f"{where}: created ({len(new.entries)} entries)")
        else:
            what = ["description changed"] if old.description != new.description else []
            if old.entries != new.entries:
                what.append(f"entries changed ({len(old.entries)} → {len(new.entries)})")
            lines += [f"{where}: {', '.join(what)}"] if what else []
    return lines


def _tenant(prior: TenantState | None, state: TenantState) -> list[str]:
    if prior is None:
        return [f"tenant {state.name}: created"] + [
            f"group {state.name}/{g}: created" for g in sorted(state.groups)
        ]
    what = [
        f"{key} changed"
        for key in ("sip_domain", "platform", "description")
        if getattr(prior, key) != getattr(state, key)
    ]
    what += _settings(prior.settings, state.settings, prior.locked, state.locked)
    lines = [f"tenant {state.name}: {', '.join(what)}"] if what else []
    for name in sorted(prior.groups.keys() | state.groups.keys()):
        lines += _group(state.name, name, prior.groups.get(name), state.groups.get(name))
    return lines


def _group(tenant: str, name: str, prior: GroupState | None, group: GroupState | None) -> list[str]:
    if group is None:
        return [f"group {tenant}/{name}: removed"]
    if prior is None:
        return [f"group {tenant}/{name}: created"]
    what = [
        f"{key} changed"
        for key in ("description", "weight")
        if getattr(prior, key) != getattr(group, key)
    ]
    what += _settings(prior.settings, group.settings, prior.locked, group.locked)
    return [f"group {tenant}/{name}: {', '.join(what)}"] if what else []


def _phone(prior: PhoneState, phone: PhoneState) -> list[str]:
    what = [
        f"{key} changed"
        for key in ("model", "description")
        if getattr(prior, key) != getattr(phone, key)
    ]
    if prior.enabled != phone.enabled:
        what.append("enabled" if phone.enabled else "disabled")
    if set(prior.groups) != set(phone.groups):
        what.append(f"groups now {','.join(sorted(phone.groups)) or 'none'}")
    what += _settings(prior.settings, phone.settings)
    old_lines = {line.position: line for line in prior.lines}
    new_lines = {line.position: line for line in phone.lines}
    for position in sorted(old_lines.keys() | new_lines.keys()):
        what += _line(position, old_lines.get(position), new_lines.get(position))
    return [f"phone {phone.mac}: {', '.join(what)}"] if what else []


def _line(position: int, prior: LineState | None, line: LineState | None) -> list[str]:
    if line is None:
        return [f"line {position} removed"]
    if prior is None:
        return [f"line {position} created ({line.user})"]
    fields = [key for key in _LINE_FIELDS if getattr(prior, key) != getattr(line, key)]
    fields += [f"setting {s}" for s in _changed_names(prior.settings, line.settings)]
    return [f"line {position} changed ({', '.join(fields)})"] if fields else []


def _settings(
    old: Mapping[str, Value],
    new: Mapping[str, Value],
    old_locked: Set[str] = frozenset(),
    new_locked: Set[str] = frozenset(),
) -> list[str]:
    """``setting X set``, ``… changed``, ``… removed``, ``… locked``/``unlocked``."""
    result = [f"setting {name} removed" for name in sorted(old.keys() - new.keys())]
    for name in sorted(new):
        if name not in old:
            result.append(f"setting {name} set")
        elif _differs(old[name], new[name]):
            result.append(f"setting {name} changed")
        elif (name in old_locked) != (name in new_locked):
            result.append(f"setting {name} {'locked' if name in new_locked else 'unlocked'}")
    return result


def _changed_names(old: Mapping[str, Value], new: Mapping[str, Value]) -> list[str]:
    names = old.keys() | new.keys()
    return sorted(n for n in names if n not in old or n not in new or _differs(old[n], new[n]))


def _differs(a: Value, b: Value) -> bool:
    # As the store compares: 1 and True are different values of different types.
    return a != b or type(a) is not type(b)
