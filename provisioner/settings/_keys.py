"""Programmable keys: the value type of the ``keys`` setting (docs/settings.md, "Keys").

A phone's keys are an ordered list of vendor-neutral records ``{type, value,
label, line, module, page}``. Each family maps them to its own parameters
(``family.toml`` + templates); placement onto key slots and the checks that
need the phone, its model or its tenant live in :mod:`provisioner.keylayout`.

A :class:`Key` is a read-only ``dict`` holding only the fields that were
given (``type`` always): so a ``keys`` value is JSON as it is — the store,
audit, ``explain``, fleet export and the API print it without conversion —
and equal keys compare and hash equal.
"""

from __future__ import annotations

import json
import re
from enum import StrEnum
from typing import Any, NoReturn

from provisioner.chars import check_text
from provisioner.errors import InputError

__all__ = [
    "MAX_KEYS",
    "TARGET_TYPES",
    "WATCHED_TYPES",
    "Key",
    "KeyType",
    "is_sip_uri",
    "parse_keys",
]

MAX_KEYS = 512  # more than any phone with every module it takes (Polycom 48 + 3 × 40 …)
MAX_LABEL = 64
MAX_INDEX = 64  # line, module and page numbers
_FIELDS = ("type", "value", "label", "line", "module", "page")
# An extension: a SIP user as lines have (provisioner.validate._SIP_USER).
_EXTENSION = re.compile(r"[A-Za-z0-9._\-+*!~$%&=,?/()]{1,128}")
_SIP_URI = re.compile(
    r"sips?:[A-Za-z0-9._\-+*!~$%&=,?/()]{1,128}@[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?"
)
_DTMF = re.compile(r"[0-9*#A-Da-d]{1,64}")
_URL = re.compile(r"https?://[^\s\"'<>]{1,1000}")


class KeyType(StrEnum):
    """What a key does."""

    LINE = "line"  # an appearance of one of the phone's lines (``line``)
    BLF = "blf"  # busy lamp field of an extension or SIP URI (``value``)
    SPEED_DIAL = "speed_dial"  # dials ``value``
    PARK = "park"  # a call-park orbit, with its lamp (``value``)
    INTERCOM = "intercom"  # intercom call to ``value``
    DTMF = "dtmf"  # sends the digits ``value`` during a call
    URL = "url"  # opens / requests the http(s) URL ``value``
    NONE = "none"  # an empty key (keeps a slot free)


# By value: a dict lookup, where calling the enum costs several times more
# (Key.type is read for every key of every phone rendered).
_TYPE_OF = {str(t.value): t for t in KeyType}

# Types whose value is a dialable target: an extension or a SIP URI.
TARGET_TYPES = frozenset({KeyType.BLF, KeyType.SPEED_DIAL, KeyType.PARK, KeyType.INTERCOM})
# Types whose target must be a line of the tenant or a SIP URI (they subscribe to it).
WATCHED_TYPES = frozenset({KeyType.BLF, KeyType.PARK})


class Key(dict[str, str | int]):
    """One key; a read-only mapping of the given fields (see the module docstring)."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(tuple(sorted(self.items())))

    def __reduce__(self) -> tuple[type[Key], tuple[dict[str, str | int]]]:
        # copy, deepcopy and pickle rebuild through the constructor, never by item assignment.
        return (Key, (dict(self),))

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a Key is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    @property
    def type(self) -> KeyType:
        """What the key does."""
        found = _TYPE_OF.get(self["type"])  # type: ignore[arg-type]  # an int finds nothing
        return found if found is not None else KeyType(str(self["type"]))

    @property
    def value(self) -> str:
        """Target, digits or URL ("" when the type takes none)."""
        return str(self.get("value", ""))

    @property
    def label(self) -> str:
        """Text beside the key ("": the family's default, usually the value)."""
        return str(self.get("label", ""))

    @property
    def line(self) -> int:
        """The phone line the key shows (``line``) or acts on (others); 0: not given."""
        return int(self.get("line", 0))

    @property
    def module(self) -> int:
        """0: on the phone; M: on the phone's M-th expansion module."""
        return int(self.get("module", 0))

    @property
    def page(self) -> int:
        """0: the next free slot; P: the first free slot from page P on."""
        return int(self.get("page", 0))


def parse_keys(raw: object, *, from_text: bool = False) -> tuple[Key, ...]:
    """Validate a list of key objects (or, from the command line, its JSON text)."""
    if from_text and isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except json.JSONDecodeError as exc:
            raise InputError(f"expected a JSON array of keys ({exc.msg})") from None
    if not isinstance(raw, list | tuple):
        raise InputError(f"expected a list of keys, got {type(raw).__name__}")
    if len(raw) > MAX_KEYS:
        raise InputError(f"{len(raw)} keys is more than {MAX_KEYS}")
    return tuple(_parse_key(item, n) for n, item in enumerate(raw, start=1))


def _parse_key(item: object, n: int) -> Key:
    where = f"key {n}"
    if not isinstance(item, dict):
        raise InputError(f"{where}: expected an object, got {type(item).__name__}")
    unknown = sorted(set(item) - set(_FIELDS))
    if unknown:
        raise InputError(f"{where}: unknown field(s) {', '.join(map(str, unknown))}")
    kind = item.get("type")
    if kind not in KeyType.__members__.values():
        choices = ", ".join(KeyType)
        raise InputError(f"{where}: type {kind!r} is not one of {choices}")
    key_type = KeyType(str(kind))
    fields: dict[str, Any] = {"type": key_type.value}
    value = _text(item, "value", where, 1000)
    label = _text(item, "label", where, MAX_LABEL)
    for name in ("line", "module", "page"):
        number = item.get(name)
        if number is None:
            continue
        if not isinstance(number, int) or isinstance(number, bool) or not 0 <= number <= MAX_INDEX:
            raise InputError(f"{where}: {name} must be an integer in [0, {MAX_INDEX}]")
        if number:
            fields[name] = number
    _check_value(key_type, value, where)
    if key_type is KeyType.LINE and "line" not in fields:
        raise InputError(f"{where}: a line key names the phone's line (line: 1, 2, …)")
    if value:
        fields["value"] = value
    if label:
        fields["label"] = label
    return Key({name: fields[name] for name in _FIELDS if name in fields})


def _text(item: dict[Any, Any], name: str, where: str, limit: int) -> str:
    text = item.get(name, "")
    if not isinstance(text, str):
        raise InputError(f"{where}: {name} must be text, got {type(text).__name__}")
    check_text(text, f"{where} {name}")
    if len(text) > limit:
        raise InputError(f"{where}: {name} is longer than {limit} characters")
    return text


def _check_value(key_type: KeyType, value: str, where: str) -> None:
    if key_type in (KeyType.LINE, KeyType.NONE):
        if value:
            raise InputError(f"{where}: a {key_type} key takes no value")
        return
    if not value:
        raise InputError(f"{where}: a {key_type} key needs a value")
    if key_type in TARGET_TYPES:
        if _EXTENSION.fullmatch(value) is None and _SIP_URI.fullmatch(value) is None:
            raise InputError(
                f"{where}: {value!r} is neither an extension nor a SIP URI (sip:user@host)"
            )
    elif key_type is KeyType.DTMF:
        if _DTMF.fullmatch(value) is None:
            raise InputError(f"{where}: {value!r} is not DTMF digits (0-9, *, #, A-D)")
    elif _URL.fullmatch(value) is None:
        raise InputError(f"{where}: {value!r} is not an http or https URL")


def is_sip_uri(value: str) -> bool:
    """True for a ``sip:``/``sips:`` URI target (rather than an extension)."""
    return _SIP_URI.fullmatch(value) is not None
