"""Plain data describing phone families, models and the files they fetch."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from provisioner.settings import SettingSpec, Value

__all__ = [
    "CheckSync",
    "Family",
    "FileDef",
    "FilePer",
    "KeysDef",
    "ModelDef",
    "ModuleDef",
    "OutputFormat",
    "Preset",
    "RawNamespace",
    "UploadDef",
    "UserAgentRule",
]


class OutputFormat(StrEnum):
    """How a file's values are escaped (see docs/escaping.md)."""

    XML = "xml"  # XML-escaped, then checked well-formed with lxml
    KV = "kv"  # key = value / key: value lines; values can never add a line


class FilePer(StrEnum):
    """How many copies of a file exist."""

    PHONE = "phone"  # one per phone; path contains {mac} or {MAC}
    MODEL = "model"  # one per model (may be shared by models with equal path)
    FAMILY = "family"  # one for the whole family


@dataclass(frozen=True, slots=True)
class FileDef:
    """One file a phone of the family fetches.

    ``path`` is a pattern: ``{mac}`` / ``{MAC}`` stand for the lower/upper-case
    MAC, ``{name}`` for a model variable (e.g. ``{code}`` for Yealink). A
    request path is matched against these patterns; it is never joined onto a
    filesystem path. ``secrets`` marks files that carry credentials.
    ``uses`` (per-phone files only) names the only context entries the
    template sees (from :data:`SHAREABLE_CONTEXT`): phones given the same
    data then share one rendering (a phonebook file of thousands of entries
    is rendered once, not once per phone). Empty: the whole phone context.
    """

    path: str
    template: str
    format: OutputFormat
    per: FilePer
    secrets: bool
    content_type: str
    uses: tuple[str, ...] = ()


# Per-phone context entries that are the same object for every phone given
# the same data (provisioner/render/_context.py), so a file using only these
# can be rendered once per distinct value.
SHAREABLE_CONTEXT = ("directory", "phonebooks", "contacts", "maps")


@dataclass(frozen=True, slots=True)
class UploadDef:
    """A file phones of the family upload (HTTP PUT, FTP STOR, TFTP WRQ).

    ``path`` contains ``{mac}`` or ``{MAC}``; uploads are stored per phone,
    outside the template tree. ``serve_back`` files are returned to the same
    phone when it asks for them (Polycom ``-phone.cfg`` keeps local changes).
    """

    path: str
    max_bytes: int
    serve_back: bool


@dataclass(frozen=True, slots=True)
class ModelDef:
    """One phone model. ``vars`` are free per-model values for templates and paths.

    ``ua_tokens`` are the User-Agent model tokens the model reports besides
    ``vars.ua`` (a suffixed spelling such as Yealink ``T58A`` for ``t58``).
    Keys (docs/settings.md "Keys"): ``keys`` programmable key slots on the
    phone itself (pages included), ``key_page`` slots per page (0: one
    page), ``modules`` the expansion module kinds it takes and
    ``max_modules`` how many at most.
    """

    id: str
    label: str
    max_lines: int
    aliases: tuple[str, ...]
    family: str
    vars: Mapping[str, str | int]
    # Per-model ``supports``: replaces the family's list for the settings it names.
    supports: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    ua_tokens: tuple[str, ...] = ()
    keys: int = 0
    key_page: int = 0
    modules: tuple[str, ...] = ()
    max_modules: int = 0


@dataclass(frozen=True, slots=True)
class ModuleDef:
    """An expansion module kind (``[keys.modules.<kind>]``): key slots, slots per page."""

    kind: str
    label: str
    keys: int
    key_page: int = 0
    types: tuple[str, ...] = ()  # key types its keys can express; empty: the family's


@dataclass(frozen=True, slots=True)
class KeysDef:
    """A family's ``[keys]`` table: the key types its files can express, its module kinds."""

    types: tuple[str, ...] = ()
    modules: Mapping[str, ModuleDef] = field(default_factory=dict)
    # The family numbers keys one after the other from the phone onto its
    # modules, line appearances first (Polycom: reg.x.lineKeys, then
    # attendant.resourceList): keys must leave no gap, line keys come first
    # in line order, and every line has at least one.
    sequential: bool = False
    # Each line shows on exactly one key (a line key is a registration: Cisco 79x1).
    single_line_keys: bool = False


@dataclass(frozen=True, slots=True)
class CheckSync:
    """The SIP NOTIFY a family understands: ``Event`` values and an optional body."""

    resync: str
    reboot: str
    content_type: str = ""
    resync_body: str = ""
    reboot_body: str = ""


@dataclass(frozen=True, slots=True)
class ImageRule:
    """How a family finds a model's image in a firmware set (docs/firmware.md).

    ``match`` is a regular expression matched against whole file paths of the
    set, after ``{name}`` placeholders are replaced by the model's variable
    of that name (escaped). ``use``, when set, is written instead of the
    matched path (e.g. Polycom's ``[PHONE_PART_NUMBER].sip.ld`` macro).
    """

    match: str
    use: str = ""


@dataclass(frozen=True, slots=True)
class FirmwareDef:
    """A family's firmware conventions, from its ``[firmware]`` table."""

    images: tuple[ImageRule, ...] = ()  # tried in order; the first that matches wins
    root: bool = False  # phones fetch image files from the server's root (TFTP)
    version_file: str = ""  # a file of the set whose first line is its version
    version_from_name: str = ""  # a regex with group "version", matched on image names
    examples: tuple[str, ...] = ()  # real image names, checked against ``images`` by the tests
    # Name endings of the files the vendor ships (images, version files, the
    # device files beside them): what a single-file upload may be called.
    file_suffixes: tuple[str, ...] = ()
    # (name ending, bytes): files of a firmware set with that ending must start
    # with those bytes, where the vendor's image format is known.
    magic: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class UserAgentRule:
    """A User-Agent regular expression with named groups ``model``, ``firmware``, ``mac``."""

    pattern: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class WarningRule:
    """A warning ``explain`` and ``render`` give for a phone whose settings the phone cannot follow.

    It applies when the phone's ``setting`` (as text) matches ``matches`` and
    the bool setting ``unless`` (when named) is off.
    """

    setting: str
    matches: re.Pattern[str]
    unless: str
    text: str


@dataclass(frozen=True, slots=True)
class RawNamespace:
    """Vendor raw parameters ``raw.<prefix>.<param>`` accepted for a family."""

    prefix: str
    name_pattern: re.Pattern[str]
    max_length: int


class DhcpValue(StrEnum):
    """What a DHCP option points phones at (``provisioner dhcp-snippet``)."""

    URL_OR_ADDRESS = "url_or_address"  # the provisioning URL, else the server's address
    URL = "url"  # the provisioning URL; left out when no HTTP(S) is served
    TFTP_ADDRESS = "tftp_address"  # the server's address; left out when no TFTP is served


@dataclass(frozen=True, slots=True)
class DhcpOption:
    """A DHCPv4 option that points phones at the server, from ``common.toml``.

    ``isc_type`` / ``kea_type`` define an option the DHCP servers do not know
    by name (empty: a standard option). ``readers`` says which phones read it.
    """

    code: int
    name: str
    value: DhcpValue
    readers: str
    isc_type: str = ""
    kea_type: str = ""
    kea_array: bool = False


@dataclass(frozen=True, slots=True)
class Preset:
    """A target platform preset: setting defaults and settings it requires."""

    name: str
    label: str
    defaults: Mapping[str, Value]
    required: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Family:
    """A phone family: models, files, settings and vendor behaviour, from TOML."""

    key: str  # "vendor/family", also the template directory
    vendor: str
    name: str
    label: str
    models: tuple[ModelDef, ...]
    files: tuple[FileDef, ...]
    uploads: tuple[UploadDef, ...]
    settings: tuple[SettingSpec, ...]
    check_sync: CheckSync
    user_agents: tuple[UserAgentRule, ...]
    oui: tuple[str, ...]
    firmware: FirmwareDef
    raw: RawNamespace | None
    maps: Mapping[str, Mapping[str, str]]
    unsupported: Mapping[str, str]
    # Common list settings whose items not every phone can take (``codecs``):
    # setting name -> the items the family's models take, unless a model
    # names its own. A value with any other item is refused (provisioner.check).
    supports: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keys: KeysDef = KeysDef()
    # Per-phone names the phone asks for that we may not have (a licence, a
    # local override not written yet): a miss on one of them is a normal
    # miss for a known phone, never counted towards a ban (docs/security.md).
    optional_files: tuple[str, ...] = ()
    warnings: tuple[WarningRule, ...] = ()
