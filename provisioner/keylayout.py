"""Where a phone's keys go: slots on the phone and on its expansion modules.

One vendor-neutral placement, used by validation (:mod:`provisioner.check`)
and by rendering (the ``keys`` / ``modules`` template context), so what is
checked is what is written. Families only map the placed keys to their own
parameters (``family.toml`` + templates).

Rules (docs/settings.md "Keys"):

- an empty ``keys`` list places nothing: the family leaves the phone's own
  key layout alone;
- a list that names no ``line`` key gets one line key per line of the
  phone in front of it, so a tenant-wide list of BLF keys never takes a
  phone's own line appearances away;
- keys are placed in list order; ``module`` M puts a key on the M-th
  expansion module, ``page`` P at the first free slot from page P on,
  otherwise the next free slot of its target;
- every problem (a type the family cannot express, a line the phone lacks,
  a watched target outside the tenant, a module or page the phone lacks, no
  free slot) is reported, naming the key by its number in the list.

- the keys of a layout policy (``keys.policy``, resolved per phone by
  :class:`provisioner.resolve.Resolver`) come after the list: each at the
  next free slot of the phone from key ``keys.policy.after`` + 1 on (from
  the first free one on a ``sequential`` family, which leaves no gaps), then of
  module 1, 2, … (every page of each); those that fit nowhere are left out
  and counted (``Layout.dropped``), never a problem, so adding a line to the
  tenant can never make another phone invalid.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from provisioner.catalog import Family, ModelDef, ModuleDef
from provisioner.resolve import PhoneView
from provisioner.settings import WATCHED_TYPES, Key, KeyType, as_int, is_sip_uri

__all__ = ["Layout", "PlacedKey", "attached_modules", "phone_layout", "place_keys"]


@dataclass(frozen=True, slots=True)
class PlacedKey:
    """A key on a slot (1-based) of the phone (``module`` 0) or of module ``module``.

    ``number`` is the key's position in the keys list (0: an automatic line
    key); ``line`` the phone line it shows or acts on (the first line unless
    the key names one).
    """

    slot: int
    module: int
    number: int
    key: Key
    line: int
    policy: bool = False  # given by the layout policy, not the keys list


@dataclass(frozen=True, slots=True)
class Layout:
    """Placed keys: on the phone, and per attached module (module 1 first)."""

    phone: tuple[PlacedKey, ...]
    modules: tuple[tuple[PlacedKey, ...], ...]
    module: ModuleDef | None
    dropped: int = 0  # policy keys that fit nowhere


def phone_layout(view: PhoneView) -> tuple[Layout, list[str]]:
    """The resolved phone's layout (its ``keys``, ``modules.count`` and ``modules.kind``)."""
    s = view.settings
    count = as_int(s["modules.count"].value)
    module, problems = attached_modules(
        view.model, view.family, count, str(s["modules.kind"].value)
    )
    keys = s["keys"].value
    layout, more = place_keys(
        [k for k in keys if isinstance(k, Key)] if isinstance(keys, tuple) else [],
        model=view.model,
        family=view.family,
        lines=[lv.line.position for lv in view.lines],
        module=module,
        module_count=count if module else 0,
        policy=view.policy_keys,
        policy_from=as_int(s["keys.policy.after"].value) + 1 if view.policy_keys else 1,
    )
    return layout, problems + more


def attached_modules(
    model: ModelDef, family: Family, count: int, kind: str
) -> tuple[ModuleDef | None, list[str]]:
    """The kind of the phone's ``count`` modules (``kind`` "" = the model's first), or problems."""
    if count == 0:
        return None, []
    if not model.modules:
        return None, [f"a {model.label} takes no expansion modules"]
    chosen = kind or model.modules[0]
    problems = []
    if chosen not in model.modules:
        problems.append(
            f"a {model.label} takes no {chosen!r} modules (it takes {', '.join(model.modules)})"
        )
    if count > model.max_modules:
        problems.append(f"a {model.label} takes at most {model.max_modules} expansion modules")
    if problems:
        return None, problems
    return family.keys.modules[chosen], []


def place_keys(
    keys: Sequence[Key],
    *,
    model: ModelDef,
    family: Family,
    lines: Sequence[int],
    module: ModuleDef | None,
    module_count: int,
    users: Collection[str] | None = None,
    policy: Collection[Key] = (),
    policy_from: int = 1,
) -> tuple[Layout, list[str]]:
    """Place ``keys`` for a phone with lines at ``lines`` (positions); return the problems too.

    ``users`` are the tenant's line users (extensions) a BLF or park key may
    watch; ``None`` skips that check (rendering: validation has done it).
    ``policy`` keys follow, from the phone's slot ``policy_from`` on (module
    docstring).
    """
    problems: list[str] = []
    if not keys and not policy:
        return Layout((), (), module), problems
    numbered: list[tuple[int, Key]] = list(enumerate(keys, start=1))
    if not any(k.type is KeyType.LINE for k in keys):
        auto = [(0, Key({"type": "line", "line": p})) for p in sorted(lines)]
        numbered = auto + numbered
    first_line = min(lines, default=1)
    slots: list[dict[int, PlacedKey]] = [{} for _ in range(module_count + 1)]
    free = [1] * (module_count + 1)  # per target: every slot below it is taken
    for number, key in numbered:
        where = f"key {number}" if number else "automatic line key"
        found = _problems_of(key, where, model, family, lines, users)
        if found:
            problems.extend(found)
            continue
        target = key.module
        if target > module_count:
            have = f"{module_count} expansion module" + ("" if module_count == 1 else "s")
            problems.append(f"{where}: module {target}, but the phone has {have}")
            continue
        if target and module is not None and module.types and key.type not in module.types:
            problems.append(f"{where}: a {module.label} module cannot have {key.type} keys")
            continue
        size, page = _size(model, module, target)
        start = 1
        if key.page:
            pages = -(-size // page) if page else 1
            if key.page > pages:
                problems.append(
                    f"{where}: page {key.page}, but {_target(model, module, target)} "
                    f"has {pages} page{'' if pages == 1 else 's'}"
                )
                continue
            start = (key.page - 1) * page + 1
        # Slots below free[target] are all taken: start the search there at the earliest.
        taken = slots[target]
        slot = next((n for n in range(max(start, free[target]), size + 1) if n not in taken), None)
        if slot is None:
            problems.append(f"{where}: no free key left on {_target(model, module, target)}")
            continue
        line = key.line or first_line
        taken[slot] = PlacedKey(slot, target, number, key, line)
        if start <= free[target]:
            free[target] = slot + 1
    dropped = _place_policy(
        policy, len(keys), slots, model, family, module, policy_from, first_line
    )
    placed = [tuple(sorted(s.values(), key=lambda p: p.slot)) for s in slots]
    if family.keys.sequential and not problems:
        problems.extend(_sequential_problems(model, module, placed, lines))
    shown = [p.line for p in placed[0] if p.key.type is KeyType.LINE]
    if family.keys.single_line_keys and len(shown) != len(set(shown)):
        problems.append(f"a {model.label} shows each line on one key only (a line key registers)")
    return Layout(placed[0], tuple(placed[1:]), module, dropped), problems


def _place_policy(
    policy: Collection[Key],
    numbered: int,
    slots: list[dict[int, PlacedKey]],
    model: ModelDef,
    family: Family,
    module: ModuleDef | None,
    start: int,
    line: int,
) -> int:
    """Put the policy's keys on the free slots, phone first; how many fit nowhere."""
    if not policy or KeyType.BLF not in family.keys.types:
        # A family without BLF keys gets none (explain counts them as left out).
        return len(policy)
    free: list[tuple[int, int]] = []
    for target, taken in enumerate(slots):
        size, _ = _size(model, module, target)
        if target and module is not None and module.types and KeyType.BLF not in module.types:
            continue
        # A family numbering keys one after the other cannot leave keys empty: no gap.
        first = start if target == 0 and not family.keys.sequential else 1
        free.extend((target, n) for n in range(first, size + 1) if n not in taken)
    for n, (key, (target, slot)) in enumerate(zip(policy, free, strict=False), start=1):
        slots[target][slot] = PlacedKey(slot, target, numbered + n, key, line, policy=True)
    return max(0, len(policy) - len(free))


def _sequential_problems(
    model: ModelDef,
    module: ModuleDef | None,
    placed: list[tuple[PlacedKey, ...]],
    lines: Sequence[int],
) -> list[str]:
    """The rules of a family that numbers keys one after the other (``[keys] sequential``)."""
    sizes = [model.keys] + [module.keys if module else 0] * (len(placed) - 1)
    flat: list[PlacedKey | None] = []
    for size, keys in zip(sizes, placed, strict=True):
        by_slot = {p.slot: p for p in keys}
        flat.extend(by_slot.get(n) for n in range(1, size + 1))
    while flat and flat[-1] is None:
        flat.pop()
    problems = []
    if None in flat:
        gap = flat.index(None) + 1
        problems.append(
            f"a {model.label} numbers its keys one after the other onto its modules: "
            f"key position {gap} is empty before a later key"
        )
    order = [p.line for p in flat if p is not None and p.key.type is KeyType.LINE]
    kinds = [p.key.type is KeyType.LINE for p in flat if p is not None]
    if kinds != sorted(kinds, reverse=True) or order != sorted(order):
        problems.append(f"a {model.label} shows line keys first, in line order")
    missing = sorted(set(lines) - set(order))
    if missing:
        problems.append(
            f"a {model.label} needs a line key for every line; none for line(s) "
            + ", ".join(map(str, missing))
        )
    return problems


def _problems_of(
    key: Key,
    where: str,
    model: ModelDef,
    family: Family,
    lines: Sequence[int],
    users: Collection[str] | None,
) -> list[str]:
    found = []
    if key.type not in family.keys.types:
        # A family that maps no keys says why ([unsupported] in its family.toml).
        why = "" if family.keys.types else f": {family.unsupported.get('keys', '')}"
        found.append(f"{where}: a {model.label} ({family.key}) cannot have {key.type} keys{why}")
    if key.line and key.line not in lines:
        have = ", ".join(map(str, sorted(lines))) or "none"
        found.append(f"{where}: line {key.line} is not a line of this phone (lines: {have})")
    if (
        users is not None
        and key.type in WATCHED_TYPES
        and not is_sip_uri(key.value)
        and key.value not in users
    ):
        found.append(
            f"{where}: {key.type} target {key.value!r} is neither a line user (extension) "
            "of the tenant nor a SIP URI"
        )
    return found


def _size(model: ModelDef, module: ModuleDef | None, target: int) -> tuple[int, int]:
    if target == 0 or module is None:
        return model.keys, model.key_page
    return module.keys, module.key_page


def _target(model: ModelDef, module: ModuleDef | None, target: int) -> str:
    if target == 0 or module is None:
        return f"the {model.label} ({model.keys} keys)"
    return f"module {target} ({module.label}, {module.keys} keys)"
