"""Template contexts: plain data computed in Python, never store objects.

What every per-phone template receives (documented for template authors in
docs/templates.md):

``phone``   mac, MAC, mac_colon, description, model, model_label, max_lines, vars,
            supports (per ``[supports]`` list setting, the items the model takes),
            key_count (key slots on the phone, docs/settings.md "Keys")
``tenant``  name, sip_domain
``s``       resolved phone-level settings by name (firmware-gated and server
            settings such as access credentials absent)
``lines``   per line: position, user, auth_user, password, display_name, label,
            address (user@sip_domain), registrar {host, port, transport},
            and ``s`` (resolved line settings)
``raw``     list of (parameter, value) for the family's raw namespace, sorted
``tz``      the time zone rule of ``s['time.zone']`` (see :func:`tz_context`)
``directory`` tenant directory entries (name, user), empty unless
            ``directory.tenant_lines`` is on
``phonebooks`` the tenant phonebooks the ``phonebooks`` setting gives the
            phone, in its order: name, description, entries (name,
            first_name, last_name, organisation, numbers: (kind, number)
            pairs, kinds work/mobile/home/other) — docs/phonebooks.md
``contacts`` the same entries one number at a time (name, first_name,
            last_name, organisation, kind, number), each number once (the
            first entry that has it wins) and none that ``directory``
            already lists: for formats with one number per item
``maps``    the family's value tables (used by the ``vmap`` filter)
``http_auth`` ``None``, or user and password the server asks this phone for
            (``access.http.user``, else the MAC, and ``access.http.password``):
            for a file that makes the phone fetch another of its own files
            with credentials (the Yealink remote phonebook); masked in
            previews like every secret
``firmware`` ``None``, or the image ``firmware.label`` selects: label, version,
            file (in the set), stem (file name without its extension),
            path (``fw/<vendor>/<label>/<file>``, relative to the server
            root), url (``provisioning.server_url`` + path; empty without
            a server URL) and root (image files are also at the root)
``unmanaged`` served paths of the unmanaged files ``firmware.unmanaged``
            selects, sorted
``keys``    the phone's placed keys (:mod:`provisioner.keylayout`), by slot:
            slot, number (in the keys list; 0 = automatic line key), type,
            value, label (as given), text (label, else value, else the
            line's label or user), line (the line it shows / acts on),
            line_label (that line's label),
            user and address (user@host) of a target (extension or SIP
            URI), uri (sip:address); empty when ``keys`` is empty
``key_slots`` the same keys by slot number (a template looping over every
            slot looks each up instead of scanning ``keys``)
``modules`` per attached expansion module: index (1 = first), kind,
            label, size (slots), page (slots per page, 0: one page),
            keys (as above) and slots (its keys by slot number)

Shared (per-model and per-family) files receive ``model``, ``models``,
``family`` and ``defaults`` (schema defaults): they are fetched before a
phone is known, so they never depend on a tenant.
"""

from __future__ import annotations

import functools
import posixpath
from typing import Any

from provisioner.catalog import Family, ModelDef
from provisioner.domain import DirectoryEntry, Phonebook
from provisioner.errors import InputError
from provisioner.keylayout import PlacedKey, phone_layout
from provisioner.mac import format_mac
from provisioner.resolve import PhoneView
from provisioner.settings import is_sip_uri, timezone

__all__ = ["model_context", "phone_context", "shared_context", "tz_context"]


@functools.cache
def tz_context(name: str) -> dict[str, Any]:
    """Describe an IANA zone for templates.

    ``offset_seconds`` is the standard offset east of UTC; ``offset`` is the
    same as ``+HH:MM``; ``dst`` is ``None`` or holds ``offset_seconds``,
    ``save_minutes`` and ``start``/``end`` each with ``month``, ``week``
    (5 = last), ``weekday`` (0 = Sunday), ``hour`` and ``seconds``.
    """
    rule = timezone.rule_for(name)
    dst = None
    if rule.dst is not None:
        dst = {
            "abbreviation": rule.dst.abbreviation,
            "offset_seconds": rule.dst.offset_seconds,
            "save_minutes": rule.dst_save_minutes,
            "start": _transition(rule.dst.start),
            "end": _transition(rule.dst.end),
        }
    return {
        "name": rule.name,
        "posix": rule.posix,
        "abbreviation": rule.abbreviation,
        "offset_seconds": rule.offset_seconds,
        "offset": _hhmm(rule.offset_seconds),
        "dst": dst,
    }


def _transition(t: timezone.Transition) -> dict[str, int]:
    return {
        "month": t.month,
        "week": t.week,
        "weekday": t.weekday,
        "hour": t.hour,
        "seconds": t.seconds,
    }


def _hhmm(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    minutes = abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def model_context(model: ModelDef) -> dict[str, Any]:
    """A model as template data."""
    return {
        "id": model.id,
        "label": model.label,
        "max_lines": model.max_lines,
        "vars": dict(model.vars),
    }


def phone_context(view: PhoneView, family: Family) -> dict[str, Any]:
    """Build the context of a per-phone file."""
    settings = view.settings
    excluded = view.gated | view.hidden
    mac = view.phone.mac
    sip_domain = view.tenant.sip_domain
    s = {name: r.value for name, r in settings.items() if name not in excluded}
    raw: list[tuple[str, object]] = []
    if family.raw is not None:
        prefix = f"raw.{family.raw.prefix}."
        raw = sorted(
            (name[len(prefix) :], r.value)
            for name, r in settings.items()
            if name.startswith(prefix)
        )
    lines = []
    for lv in view.lines:
        line = lv.line
        ls = {name: r.value for name, r in lv.settings.items() if name not in excluded}
        host, port, transport = lv.registrar(sip_domain)
        lines.append(
            {
                "position": line.position,
                "user": line.user,
                "auth_user": lv.auth_user,
                "password": line.password,
                "display_name": line.display_name,
                "label": line.label,
                "address": f"{line.user}@{sip_domain}",
                "registrar": {"host": host, "port": port, "transport": transport},
                "s": ls,
            }
        )
    return {
        "phone": {
            "mac": mac,
            "MAC": mac.upper(),
            "mac_colon": format_mac(mac, "colon"),
            "description": view.phone.description,
            "model": view.model.id,
            "model_label": view.model.label,
            "max_lines": view.model.max_lines,
            "key_count": view.model.keys,
            "vars": dict(view.model.vars),
            "supports": {
                name: view.model.supports.get(name, items)
                for name, items in family.supports.items()
            },
        },
        "tenant": {"name": view.tenant.name, "sip_domain": sip_domain},
        "s": s,
        "lines": lines,
        "raw": raw,
        "tz": tz_context(str(s["time.zone"])),
        "directory": view.directory,
        "phonebooks": view.phonebooks,
        "contacts": _contacts(view.phonebooks, view.directory),
        "maps": family.maps,
        "http_auth": _http_auth(view),
        "firmware": _firmware(view, str(s.get("provisioning.server_url", ""))),
        "unmanaged": list(view.unmanaged),
        **_keys(view, lines),
    }


def _http_auth(view: PhoneView) -> dict[str, str] | None:
    """The credentials the server asks of the phone (a server setting templates see only so)."""
    password = view.settings.get("access.http.password")
    if password is None or not password.value:
        return None
    user = view.settings.get("access.http.user")
    return {
        "user": str(user.value) if user is not None and user.value else view.phone.mac,
        "password": str(password.value),
    }


def _keys(view: PhoneView, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """``keys`` and ``modules``; a layout with problems is refused (validation names them)."""
    layout, problems = phone_layout(view)
    if problems:
        raise InputError("keys: " + "; ".join(problems))
    by_position = {line["position"]: line for line in lines}
    domain = view.tenant.sip_domain

    def key(placed: PlacedKey) -> dict[str, Any]:
        k = placed.key
        line = by_position.get(placed.line, {})
        value = k.value
        label = k.label
        user, address, uri = _target(value, domain) if value else ("", "", "")
        return {
            "slot": placed.slot,
            "number": placed.number,
            "type": k.type.value,
            "value": value,
            "label": label,
            "text": label or value or line.get("label") or line.get("user", ""),
            "line": placed.line,
            "line_label": line.get("label", ""),
            "user": user,
            "address": address,
            "uri": uri,
        }

    module = layout.module
    keys = [key(p) for p in layout.phone]
    modules = []
    for index, placed in enumerate(layout.modules, start=1):
        if module is None:
            continue
        on_module = [key(p) for p in placed]
        modules.append(
            {
                "index": index,
                "kind": module.kind,
                "label": module.label,
                "size": module.keys,
                "page": module.key_page,
                "keys": on_module,
                "slots": {k["slot"]: k for k in on_module},
            }
        )
    # By slot too: a template writes every slot of the phone and its modules,
    # and a lookup per slot keeps that linear in the slots (a scan of ``keys``
    # per slot made the keys sections the bulk of rendering, bench/render.py).
    return {"keys": keys, "key_slots": {k["slot"]: k for k in keys}, "modules": modules}


@functools.lru_cache(maxsize=4096)
def _target(value: str, domain: str) -> tuple[str, str, str]:
    """User, address (user@host) and SIP URI of a key's target (an extension or a SIP URI).

    Cached: a tenant's phones watch the same few extensions, and the URI
    match is most of the cost of a key's context.
    """
    address = value.split(":", 1)[1] if is_sip_uri(value) else f"{value}@{domain}"
    return address.split("@", 1)[0], address, f"sip:{address}"


# Flattened contacts by the identities of (directory, *phonebooks): a snapshot
# hands every phone of a tenant the same objects, so phones with the same
# books share one list, and no per-phone work grows with the books' size.
# The value keeps the key's objects alive, so their ids cannot be reused.
_CONTACTS: dict[tuple[int, ...], tuple[object, tuple[dict[str, str], ...]]] = {}
_CONTACTS_MAX = 256


def _contacts(
    books: tuple[Phonebook, ...], directory: tuple[DirectoryEntry, ...]
) -> tuple[dict[str, str], ...]:
    key = (id(directory), *map(id, books))
    hit = _CONTACTS.get(key)
    if hit is not None:
        return hit[1]
    seen = {entry.user for entry in directory}
    items: list[dict[str, str]] = []
    for book in books:
        for entry in book.entries:
            for kind, number in entry.numbers:
                if number in seen:
                    continue
                seen.add(number)
                items.append(
                    {
                        "name": entry.name,
                        "first_name": entry.first_name,
                        "last_name": entry.last_name,
                        "organisation": entry.organisation,
                        "kind": kind,
                        "number": number,
                    }
                )
    if len(_CONTACTS) >= _CONTACTS_MAX:
        _CONTACTS.clear()
    result = tuple(items)
    _CONTACTS[key] = ((directory, books), result)
    return result


def _firmware(view: PhoneView, server_url: str) -> dict[str, Any] | None:
    choice = view.firmware
    if choice is None:
        return None
    name = posixpath.basename(choice.file)
    return {
        "label": choice.label,
        "version": choice.version,
        "file": choice.file,
        "stem": name.rsplit(".", 1)[0] if "." in name else name,
        "path": choice.path,
        "url": f"{server_url.rstrip('/')}/{choice.path}" if server_url else "",
        "root": choice.root,
    }


def shared_context(
    family: Family, model: ModelDef | None, defaults: dict[str, Any]
) -> dict[str, Any]:
    """Build the context of a per-model (``model`` given) or per-family file."""
    return {
        "model": model_context(model) if model is not None else None,
        "models": [model_context(m) for m in family.models],
        "family": {"key": family.key, "vendor": family.vendor, "label": family.label},
        "defaults": defaults,
        "maps": family.maps,
    }
