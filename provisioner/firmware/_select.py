"""Which file of a firmware set a phone runs, where it is served, what version it is.

Pure functions over plain data (the family's :class:`FirmwareDef`, a model's
variables, a set's file paths); the resolver and the upload command use
them, the gateway serves what :func:`served_path` names.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from provisioner.catalog import FirmwareDef
from provisioner.domain import FirmwareSet
from provisioner.firmware._version import common_suffix
from provisioner.settings import VERSION_PATTERN

__all__ = [
    "FW_PREFIX",
    "LABEL",
    "LABEL_SETTING",
    "UNMANAGED_SETTING",
    "FirmwareChoice",
    "choose_image",
    "derive_version",
    "label_note",
    "served_path",
]

FW_PREFIX = "fw"
# The settings that select sets: per vendor, the label of the firmware set
# phones run and of the unmanaged set they read first.
LABEL_SETTING = "firmware.label"
UNMANAGED_SETTING = "firmware.unmanaged"
# Labels appear in URLs, TFTP and FTP paths and configuration values: keep
# them to characters that need no escaping anywhere.
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")
_VERSION = re.compile(VERSION_PATTERN)


@dataclass(frozen=True, slots=True)
class FirmwareChoice:
    """The image a phone is pointed at."""

    vendor: str
    label: str
    version: str  # the set's version ("" when unknown)
    file: str  # the image's path in the set, or what the family writes instead
    path: str  # where it is served, relative to the server root: fw/<vendor>/<label>/<file>
    root: bool  # the family fetches image files from the root as well


def served_path(vendor: str, label: str, file: str) -> str:
    """The path a set's file is served at (besides the root, for root families)."""
    return f"{FW_PREFIX}/{vendor}/{label}/{file}"


def _pattern(match: str, variables: Mapping[str, object]) -> re.Pattern[str] | None:
    missing = False

    def value(m: re.Match[str]) -> str:
        nonlocal missing
        if m.group(1) not in variables:
            missing = True
            return ""
        return re.escape(str(variables[m.group(1)]))

    expanded = _PLACEHOLDER.sub(value, match)
    return None if missing else re.compile(expanded)


def choose_image(
    firmware: FirmwareDef, variables: Mapping[str, object], files: Iterable[str]
) -> str | None:
    """The file a model runs from a set with ``files``, or ``None`` when none fits.

    The family's image rules are tried in order; within a rule the first
    matching path in sorted order wins. A rule with ``use`` writes that
    name in place of the matched file's (its directory kept).
    """
    paths = sorted(files)
    for rule in firmware.images:
        pattern = _pattern(rule.match, variables)
        if pattern is None:
            continue  # the model lacks a variable the rule needs
        for path in paths:
            if pattern.fullmatch(path):
                if not rule.use:
                    return path
                directory = posixpath.dirname(path)
                return f"{directory}/{rule.use}" if directory else rule.use
    return None


def derive_version(
    definitions: Iterable[FirmwareDef], files: Iterable[str], read: Callable[[str], bytes]
) -> str:
    """The version phones will report for a set, when its files tell; else ``""``.

    A family's ``version_file`` (Polycom ``sip.ver``) is read first; then its
    ``version_from_name`` pattern is applied to every file name. Images for
    several hardware platforms may differ in their first component (Yealink
    ``66.85.0.5`` and ``96.85.0.5``): the version is then the components
    they share at the end (``85.0.5``), which :func:`version_matches`
    compares from the end.
    """
    paths = sorted(files)
    for definition in definitions:
        name = definition.version_file
        found = [p for p in paths if name and (p == name or p.endswith("/" + name))]
        if found:
            # The shallowest one: a release zip may nest its files one level down.
            raw = read(min(found, key=lambda p: (p.count("/"), p)))
            text = raw.decode("ascii", "replace").strip()
            first = text.splitlines()[0].strip() if text else ""
            if _VERSION.fullmatch(first):
                return first
    for definition in definitions:
        if not definition.version_from_name:
            continue
        pattern = re.compile(definition.version_from_name)
        found = [m.group("version") for p in paths if (m := pattern.search(p))]
        if found:
            return common_suffix(found)
    return ""


def label_note(sets: Iterable[FirmwareSet], label: str) -> str | None:
    """Why ``firmware.label = label`` points no phone at firmware yet, or ``None`` if it does.

    Not an error: a label may be chosen before its set is uploaded (a fleet
    file applied to a new database, a pin prepared ahead). But a mistyped one
    would otherwise go unnoticed, so callers print this as a warning.
    """
    if not label:
        return None
    firmware = [s for s in sets if s.kind == "firmware"]
    named = [s for s in firmware if s.label == label]
    if any(s.active for s in named):
        return None
    if named:
        vendors = ", ".join(sorted(s.vendor for s in named))
        return (
            f"the firmware set labelled {label!r} ({vendors}) is not active: phones are pointed "
            f"at it once it is (`provisioner firmware activate VENDOR {label}`)"
        )
    known = ", ".join(sorted({s.label for s in firmware})) or "none yet"
    return (
        f"no firmware set is labelled {label!r} (labels: {known}); phones are told to change "
        "firmware only once a set of that label is uploaded and activated"
    )
