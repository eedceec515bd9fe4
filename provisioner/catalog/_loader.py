"""Read the model catalog from TOML files under the template directories.

Layout of a template directory (the built-in ``templates/`` or a site
directory searched before it):

- ``common.toml``: the vendor-neutral settings every family maps, and the
  DHCP options that point phones at the server;
- ``platforms.toml``: target platform presets;
- ``<vendor>/<family>/family.toml`` plus the family's Jinja templates.

A site directory may add families or replace a built-in family, ``common.toml``
or ``platforms.toml`` wholesale. Every TOML key is checked: a misspelt key is
an error naming the file and the key, never silently ignored.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from provisioner.catalog._content_types import FORMAT_CONTENT_TYPES
from provisioner.catalog._model import (
    SHAREABLE_CONTEXT,
    CheckSync,
    DhcpOption,
    DhcpValue,
    Family,
    FileDef,
    FilePer,
    FirmwareDef,
    ImageRule,
    KeysDef,
    ModelDef,
    ModuleDef,
    OutputFormat,
    Preset,
    RawNamespace,
    UploadDef,
    UserAgentRule,
    WarningRule,
)
from provisioner.errors import CatalogError, InputError
from provisioner.settings import (
    MAX_KEYS,
    KeyType,
    SettingSpec,
    SettingType,
    Value,
    Version,
    parse_version,
)

__all__ = ["SETTING_NAME", "load_common", "load_families", "load_presets"]

SETTING_NAME = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+|[a-z][a-z0-9_]*")
_MODEL_ID = re.compile(r"[a-z0-9][a-z0-9_\-]*")
_PATH_TOKEN = re.compile(r"\{([A-Za-z_]+)\}")
# A file path pattern may hold only characters that are safe in every
# protocol's file name (no directory separators besides '/', no '..').
_PATH_CHARS = re.compile(r"[A-Za-z0-9_.\-/{}]+")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")


class _Table:
    """A TOML table read key by key; leftover keys are reported as errors."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise CatalogError(f"{where}: expected a table")
        self._data: dict[str, Any] = dict(data)
        self.where = where

    def _take(self, key: str, types: tuple[type, ...], default: object) -> Any:
        if key not in self._data:
            if default is _REQUIRED:
                raise CatalogError(f"{self.where}: missing key {key!r}")
            return default
        value = self._data.pop(key)
        # bool is an int: never let true stand for a number.
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = "/".join(t.__name__ for t in types)
            raise CatalogError(f"{self.where}: key {key!r} must be {names}, got {value!r}")
        return value

    def text(self, key: str, default: object = None) -> Any:
        return self._take(key, (str,), _REQUIRED if default is None else default)

    def integer(self, key: str, default: object = None) -> Any:
        return self._take(key, (int,), _REQUIRED if default is None else default)

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._take(key, (bool,), default))

    def opt(self, key: str, types: tuple[type, ...]) -> Any:
        return self._take(key, types, None)

    def array(self, key: str, default: list[Any] | None = None) -> list[Any]:
        return list(self._take(key, (list,), _REQUIRED if default is None else default))

    def table(self, key: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(self._take(key, (dict,), _REQUIRED if default is None else default))

    def done(self) -> None:
        if self._data:
            raise CatalogError(f"{self.where}: unknown key(s) {', '.join(sorted(self._data))}")


_REQUIRED = object()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: {exc}") from None


def _strs(values: list[Any], where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in values):
        raise CatalogError(f"{where}: expected a list of strings")
    return tuple(values)


def _compile(pattern: str, where: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CatalogError(f"{where}: bad regular expression {pattern!r}: {exc}") from None


def _version(text: str | None, where: str) -> Version | None:
    if text is None:
        return None
    try:
        return parse_version(text)
    except InputError as exc:
        raise CatalogError(f"{where}: {exc}") from None


def _setting(data: object, where: str, owner: str | None) -> SettingSpec:
    t = _Table(data, where)
    name = t.text("name")
    if SETTING_NAME.fullmatch(name) is None or name.startswith("raw."):
        raise CatalogError(f"{where}: invalid setting name {name!r}")
    where = f"{where} ({name})"
    try:
        kind = SettingType(t.text("type"))
    except ValueError:
        raise CatalogError(f"{where}: type must be one of {', '.join(SettingType)}") from None
    pattern = t.opt("pattern", (str,))
    spec = SettingSpec(
        name=name,
        type=kind,
        default=False,  # replaced below once the spec can validate it
        label=t.text("label"),
        description=t.text("description", ""),
        line=t.flag("line", False),
        minimum=t.opt("min", (int,)),
        maximum=t.opt("max", (int,)),
        choices=_strs(t.array("choices", []), f"{where}: choices"),
        pattern=_compile(pattern, where) if pattern is not None else None,
        max_length=t.integer("max_length", 255),
        secret=t.flag("secret", False),
        generated=t.flag("generated", False),
        min_firmware=_version(t.opt("min_firmware", (str,)), where),
        max_firmware=_version(t.opt("max_firmware", (str,)), where),
        owner=owner,
        server=t.flag("server", False),
        tenant_only=t.flag("tenant_only", False),
    )
    default = t.opt("default", (bool, int, str, list))
    t.done()
    if kind is SettingType.ENUM and not spec.choices:
        raise CatalogError(f"{where}: an enum needs choices")
    if default is None:
        raise CatalogError(f"{where}: missing key 'default'")
    try:
        value = spec.coerce(default, scope="schema default")
    except InputError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    if spec.generated and (kind is not SettingType.STRING or value != ""):
        raise CatalogError(f"{where}: generated settings are strings with default ''")
    return replace(spec, default=value)


def load_common(path: Path) -> tuple[dict[str, SettingSpec], tuple[DhcpOption, ...]]:
    """Load the common (vendor-neutral) settings and DHCP options from ``common.toml``."""
    t = _Table(_read_toml(path), str(path))
    specs: dict[str, SettingSpec] = {}
    for index, item in enumerate(t.array("settings")):
        spec = _setting(item, f"{path}: settings[{index}]", None)
        if spec.name in specs:
            raise CatalogError(f"{path}: setting {spec.name} defined twice")
        specs[spec.name] = spec
    options = tuple(
        _dhcp_option(item, f"{path}: dhcp_options[{index}]")
        for index, item in enumerate(t.array("dhcp_options", []))
    )
    if len({o.code for o in options}) != len(options):
        raise CatalogError(f"{path}: a DHCP option code is given twice")
    t.done()
    return specs, options


def _dhcp_option(data: object, where: str) -> DhcpOption:
    t = _Table(data, where)
    code = t.integer("code")
    if not 1 <= code <= 254:
        raise CatalogError(f"{where}: code must be 1..254")
    name = t.text("name")
    if re.fullmatch(r"[a-z][a-z0-9-]*", name) is None:
        raise CatalogError(f"{where}: name {name!r} must be lower case [a-z0-9-]")
    try:
        value = DhcpValue(t.text("value"))
    except ValueError:
        choices = ", ".join(v.value for v in DhcpValue)
        raise CatalogError(f"{where}: value must be one of {choices}") from None
    result = DhcpOption(
        code=code,
        name=name,
        value=value,
        readers=t.text("readers"),
        isc_type=t.text("isc_type", ""),
        kea_type=t.text("kea_type", ""),
        kea_array=t.flag("kea_array", False),
    )
    t.done()
    if bool(result.isc_type) != bool(result.kea_type):
        raise CatalogError(f"{where}: give both isc_type and kea_type, or neither")
    return result


def load_presets(path: Path, specs: Mapping[str, SettingSpec]) -> dict[str, Preset]:
    """Load target platform presets, validating every default against ``specs``."""
    top = _Table(_read_toml(path), str(path))
    presets: dict[str, Preset] = {}
    for name, body in top.table("platforms").items():
        where = f"{path}: platforms.{name}"
        t = _Table(body, where)
        defaults: dict[str, Value] = {}
        for key, raw in t.table("defaults", {}).items():
            if key not in specs:
                raise CatalogError(f"{where}: unknown setting {key!r} in defaults")
            try:
                defaults[key] = specs[key].coerce(raw, scope=f"preset {name}")
            except InputError as exc:
                raise CatalogError(f"{where}: {exc}") from None
        required = _strs(t.array("required", []), f"{where}: required")
        for key in required:
            if key not in specs:
                raise CatalogError(f"{where}: unknown setting {key!r} in required")
        presets[name] = Preset(name, t.text("label"), defaults, required)
        t.done()
    top.done()
    if "generic" not in presets:
        raise CatalogError(f"{path}: the 'generic' platform is required")
    return presets


def _file(data: object, where: str) -> FileDef:
    t = _Table(data, where)
    path = t.text("path")
    try:
        fmt = OutputFormat(t.text("format"))
        per = FilePer(t.text("per"))
    except ValueError as exc:
        raise CatalogError(f"{where}: {exc}") from None
    if _PATH_CHARS.fullmatch(path) is None or ".." in path or path.startswith("/"):
        raise CatalogError(f"{where}: unsafe path pattern {path!r}")
    tokens = set(_PATH_TOKEN.findall(path))
    has_mac = bool(tokens & {"mac", "MAC"})
    if (per is FilePer.PHONE) != has_mac:
        raise CatalogError(
            f"{where}: {{mac}} or {{MAC}} must appear in exactly the per-phone paths"
        )
    if per is FilePer.FAMILY and tokens:
        raise CatalogError(f"{where}: a per-family path cannot contain {{...}} tokens")
    content_type = t.text("content_type", FORMAT_CONTENT_TYPES[fmt])
    uses = t.array("uses", [])
    if uses and per is not FilePer.PHONE:
        raise CatalogError(f"{where}: uses is for per-phone files only")
    unknown = [u for u in uses if u not in SHAREABLE_CONTEXT]
    if unknown or len(set(uses)) != len(uses):
        raise CatalogError(
            f"{where}: uses {uses!r}: expected distinct names among {', '.join(SHAREABLE_CONTEXT)}"
        )
    result = FileDef(
        path=path,
        template=t.text("template"),
        format=fmt,
        per=per,
        secrets=t.flag("secrets", False),
        content_type=content_type,
        uses=tuple(uses),
    )
    t.done()
    return result


def _upload(data: object, where: str) -> UploadDef:
    t = _Table(data, where)
    path = t.text("path")
    if _PATH_CHARS.fullmatch(path) is None or ".." in path or "/" in path:
        raise CatalogError(f"{where}: unsafe upload path pattern {path!r}")
    if not set(_PATH_TOKEN.findall(path)) & {"mac", "MAC"}:
        raise CatalogError(f"{where}: an upload path must contain {{mac}} or {{MAC}}")
    max_bytes = t.integer("max_bytes")
    if not 1 <= max_bytes <= 64 * 1024 * 1024:
        raise CatalogError(f"{where}: max_bytes must be 1..67108864")
    result = UploadDef(path, max_bytes, t.flag("serve_back", False))
    t.done()
    return result


def _model(data: object, where: str, family: str) -> ModelDef:
    t = _Table(data, where)
    model_id = t.text("id")
    if _MODEL_ID.fullmatch(model_id) is None:
        raise CatalogError(f"{where}: model id {model_id!r} must be lower case [a-z0-9_-]")
    variables = t.table("vars", {})
    for key, value in variables.items():
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise CatalogError(f"{where}: vars.{key} must be a string or integer")
    max_lines = t.integer("max_lines")
    if not 1 <= max_lines <= 64:
        raise CatalogError(f"{where}: max_lines must be 1..64")
    kt = _Table(t.table("keys", {}), f"{where}: keys")
    result = ModelDef(
        id=model_id,
        label=t.text("label"),
        max_lines=max_lines,
        aliases=_strs(t.array("aliases", []), f"{where}: aliases"),
        family=family,
        vars=variables,
        supports=_supports(t.table("supports", {}), f"{where}: supports"),
        ua_tokens=_strs(t.array("ua_tokens", []), f"{where}: ua_tokens"),
        keys=_count(kt, "count", where),
        key_page=_count(kt, "page", where),
        modules=_strs(kt.array("modules", []), f"{where}: keys.modules"),
        max_modules=_count(kt, "max_modules", where),
    )
    kt.done()
    t.done()
    if bool(result.modules) != bool(result.max_modules):
        raise CatalogError(f"{where}: keys.modules and keys.max_modules go together")
    return result


def _count(t: _Table, key: str, where: str) -> int:
    number = int(t.integer(key, 0))
    if not 0 <= number <= MAX_KEYS:
        raise CatalogError(f"{where}: keys.{key} must be 0..{MAX_KEYS}")
    return number


def _keys(data: dict[str, Any], where: str, models: Iterable[ModelDef]) -> KeysDef:
    """A family's ``[keys]`` table; every model's module kinds must be declared in it."""
    t = _Table(data, where)
    types = _strs(t.array("types", []), f"{where}.types")
    sequential = t.flag("sequential", False)
    single_line_keys = t.flag("single_line_keys", False)
    for name in types:
        if name not in KeyType.__members__.values():
            raise CatalogError(f"{where}.types: {name!r} is not one of {', '.join(KeyType)}")
    modules: dict[str, ModuleDef] = {}
    for kind, table in t.table("modules", {}).items():
        mt = _Table(table, f"{where}.modules.{kind}")
        modules[kind] = ModuleDef(
            kind=kind,
            label=mt.text("label"),
            keys=_count(mt, "count", f"{where}.modules.{kind}"),
            key_page=_count(mt, "page", f"{where}.modules.{kind}"),
            types=_strs(mt.array("types", []), f"{where}.modules.{kind}.types"),
        )
        mt.done()
        if not set(modules[kind].types) <= set(types):
            raise CatalogError(f"{where}.modules.{kind}.types: only types of {where}.types")
    t.done()
    for model in models:
        unknown = sorted(set(model.modules) - modules.keys())
        if unknown:
            raise CatalogError(f"{where}: model {model.id} names unknown module(s) {unknown}")
    return KeysDef(
        types=types, modules=modules, sequential=sequential, single_line_keys=single_line_keys
    )


def _firmware(data: dict[str, Any], where: str) -> FirmwareDef:
    ft = _Table(data, where)
    images = []
    for i, rule in enumerate(ft.array("images", [])):
        rt = _Table(rule, f"{where}: images[{i}]")
        image = ImageRule(match=rt.text("match"), use=rt.text("use", ""))
        rt.done()
        # Placeholders are checked when a model uses them; the rest must compile.
        _compile(re.sub(r"\{[A-Za-z_]\w*\}", "x", image.match), f"{where}: images[{i}]")
        images.append(image)
    version_from_name = ft.text("version_from_name", "")
    if version_from_name and "version" not in _compile(version_from_name, where).groupindex:
        raise CatalogError(f"{where}: version_from_name needs a group named 'version'")
    result = FirmwareDef(
        images=tuple(images),
        root=ft.flag("root", False),
        version_file=ft.text("version_file", ""),
        version_from_name=version_from_name,
        examples=_strs(ft.array("examples", []), f"{where}: examples"),
        file_suffixes=_suffixes(ft.array("file_suffixes", []), f"{where}: file_suffixes"),
        magic=_magic(ft.table("magic", {}), f"{where}: magic"),
    )
    ft.done()
    return result


def _magic(table: dict[str, Any], where: str) -> tuple[tuple[str, bytes], ...]:
    """``{".rom" = "ad24ec0b"}``: the first bytes (hex) of every file with that name ending."""
    result = []
    for suffix, value in table.items():
        _suffixes([suffix], where)
        try:
            magic = bytes.fromhex(value) if isinstance(value, str) else b""
        except ValueError:
            magic = b""
        if not 1 <= len(magic) <= 64:
            raise CatalogError(f"{where}.{suffix!r}: 1 to 64 bytes in hexadecimal, not {value!r}")
        result.append((suffix, magic))
    return tuple(result)


def _suffixes(values: list[Any], where: str) -> tuple[str, ...]:
    suffixes = _strs(values, where)
    for suffix in suffixes:
        if _SUFFIX.fullmatch(suffix) is None:
            raise CatalogError(
                f"{where}: {suffix!r} must be a dot and lower-case letters or digits"
            )
    return suffixes


def _supports(table: dict[str, Any], where: str) -> dict[str, tuple[str, ...]]:
    """``{codecs = ["pcmu", …]}``: per list setting, the items phones can take.

    The catalog checks the names against the common settings' choices.
    """
    result = {}
    for name, items in table.items():
        values = _strs(items if isinstance(items, list) else [None], f"{where}.{name}")
        if len(set(values)) != len(values):
            raise CatalogError(f"{where}.{name}: an item is listed twice")
        result[name] = values
    return result


def _warning(data: object, where: str) -> WarningRule:
    t = _Table(data, where)
    result = WarningRule(
        setting=t.text("setting"),
        matches=_compile(t.text("matches"), where),
        unless=t.text("unless", ""),
        text=t.text("text"),
    )
    t.done()
    return result


def _optional_files(values: list[Any], where: str) -> tuple[str, ...]:
    names = _strs(values, where)
    for name in names:
        if "{mac}" not in name and "{MAC}" not in name:
            raise CatalogError(f"{where}: {name!r} must contain {{mac}} or {{MAC}}")
    return names


def _family(path: Path, key: str) -> Family:
    top = _Table(_read_toml(path), str(path))
    vendor, name = top.text("vendor"), top.text("family")
    if f"{vendor}/{name}" != key:
        raise CatalogError(f"{path}: vendor/family {vendor}/{name} does not match directory {key}")
    cs = _Table(top.table("check_sync"), f"{path}: check_sync")
    check_sync = CheckSync(
        resync=cs.text("resync"),
        reboot=cs.text("reboot"),
        content_type=cs.text("content_type", ""),
        resync_body=cs.text("resync_body", ""),
        reboot_body=cs.text("reboot_body", ""),
    )
    if (check_sync.resync_body or check_sync.reboot_body) and not check_sync.content_type:
        raise CatalogError(f"{path}: check_sync bodies need a content_type")
    cs.done()
    raw = None
    raw_table = top.table("raw", {})
    if raw_table:
        rt = _Table(raw_table, f"{path}: raw")
        raw = RawNamespace(
            prefix=rt.text("prefix"),
            name_pattern=_compile(rt.text("name_pattern"), f"{path}: raw"),
            max_length=rt.integer("max_length", 255),
        )
        rt.done()
    maps: dict[str, dict[str, str]] = {}
    for map_name, table in top.table("maps", {}).items():
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise CatalogError(f"{path}: maps.{map_name} must map names to strings")
        maps[map_name] = dict(table)
    supports = _supports(top.table("supports", {}), f"{path}: supports")
    unsupported = top.table("unsupported", {})
    if not all(isinstance(v, str) for v in unsupported.values()):
        raise CatalogError(f"{path}: unsupported must map setting names to reasons")
    models = tuple(
        _model(m, f"{path}: models[{i}]", key) for i, m in enumerate(top.array("models"))
    )
    family = Family(
        key=key,
        vendor=vendor,
        name=name,
        label=top.text("label"),
        models=models,
        keys=_keys(top.table("keys", {}), f"{path}: keys", models),
        files=tuple(_file(f, f"{path}: files[{i}]") for i, f in enumerate(top.array("files"))),
        uploads=tuple(
            _upload(u, f"{path}: uploads[{i}]") for i, u in enumerate(top.array("uploads", []))
        ),
        settings=tuple(
            _setting(s, f"{path}: settings[{i}]", key)
            for i, s in enumerate(top.array("settings", []))
        ),
        check_sync=check_sync,
        user_agents=tuple(
            UserAgentRule(_compile(p, f"{path}: user_agents"))
            for p in _strs(top.array("user_agents", []), f"{path}: user_agents")
        ),
        oui=_strs(top.array("oui", []), f"{path}: oui"),
        firmware=_firmware(top.table("firmware", {}), f"{path}: firmware"),
        raw=raw,
        maps=maps,
        unsupported=unsupported,
        supports=supports,
        optional_files=_optional_files(top.array("optional_files", []), f"{path}: optional_files"),
        warnings=tuple(
            _warning(w, f"{path}: warnings[{i}]") for i, w in enumerate(top.array("warnings", []))
        ),
    )
    top.done()
    if not family.models:
        raise CatalogError(f"{path}: a family needs at least one model")
    for spec in family.settings:
        if not spec.name.startswith(f"{vendor}."):
            raise CatalogError(f"{path}: family setting {spec.name} must start with '{vendor}.'")
    return family


def load_families(search_path: Iterable[Path]) -> dict[str, Family]:
    """Load every ``<vendor>/<family>/family.toml``; earlier directories win."""
    families: dict[str, Family] = {}
    for directory in search_path:
        for path in sorted(directory.glob("*/*/family.toml")):
            key = f"{path.parent.parent.name}/{path.parent.name}"
            if key not in families:
                families[key] = _family(path, key)
    return dict(sorted(families.items()))
