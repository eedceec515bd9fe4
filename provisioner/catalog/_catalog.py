"""The loaded catalog: families, models, settings schema and platform presets."""

from __future__ import annotations

import difflib
import functools
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from provisioner.catalog._loader import load_common, load_families, load_presets
from provisioner.catalog._model import (
    DhcpOption,
    Family,
    FilePer,
    ModelDef,
    Preset,
    RawNamespace,
)
from provisioner.errors import CatalogError, InputError
from provisioner.settings import SettingSpec, SettingType

__all__ = ["Catalog", "builtin_firmware_suffixes", "builtin_template_dir", "expand_path"]

RAW_PREFIX = "raw."


def builtin_template_dir() -> Path:
    """The built-in ``templates/`` directory (in the wheel or the source tree)."""
    packaged = Path(__file__).resolve().parent.parent / "templates"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent.parent / "templates"


@functools.cache
def builtin_firmware_suffixes() -> tuple[str, ...]:
    """Every built-in family's firmware file name endings (``[firmware] file_suffixes``)."""
    return Catalog.load().firmware_suffixes


def expand_path(pattern: str, model: ModelDef, mac: str | None = None) -> str:
    """Expand a file path pattern for a model (and a phone's canonical MAC)."""
    values: dict[str, object] = dict(model.vars)
    if mac is not None:
        values["mac"] = mac
        values["MAC"] = mac.upper()
    try:
        return pattern.format_map(values)
    except KeyError as exc:
        raise CatalogError(
            f"path {pattern!r}: model {model.id} has no variable {exc.args[0]!r}"
        ) from None


class Catalog:
    """Everything the catalog TOML files declare, indexed for lookups.

    Build it with :meth:`load`. It is immutable after construction and safe
    to share between threads.
    """

    def __init__(
        self,
        families: Mapping[str, Family],
        common: Mapping[str, SettingSpec],
        presets: Mapping[str, Preset],
        search_path: tuple[Path, ...],
        dhcp_options: tuple[DhcpOption, ...] = (),
    ) -> None:
        self.families = dict(families)
        self.common = dict(common)
        self.presets = dict(presets)
        self.search_path = search_path
        self.dhcp_options = dhcp_options
        # Every family's firmware file name endings, first seen first.
        self.firmware_suffixes = tuple(
            dict.fromkeys(s for f in self.families.values() for s in f.firmware.file_suffixes)
        )
        self.models: dict[str, ModelDef] = {}
        self._lookup: dict[str, ModelDef] = {}
        self.settings: dict[str, SettingSpec] = dict(common)
        self.raw_namespaces: dict[str, RawNamespace] = {}
        self._family_specs: dict[str, dict[str, SettingSpec]] = {}
        for family in self.families.values():
            self._index_family(family)
        self._check_common_files()
        # List settings some models cannot take every item of: a change of one
        # at a tenant or group re-checks the phones below (provisioner.check).
        self.restricted_lists = frozenset(
            name
            for family in self.families.values()
            for name in (*family.supports, *family.unsupported)
            if name in self.common and self.common[name].type is SettingType.LIST
        )

    @classmethod
    def load(cls, site_dir: Path | None = None) -> Catalog:
        """Load from the site directory (if any) and then the built-in templates."""
        dirs = [builtin_template_dir()]
        if site_dir is not None:
            if not site_dir.is_dir():
                raise CatalogError(f"site template directory {site_dir} does not exist")
            dirs.insert(0, site_dir)
        search = tuple(dirs)

        def first(name: str) -> Path:
            for directory in search:
                if (directory / name).is_file():
                    return directory / name
            raise CatalogError(f"no {name} in {', '.join(map(str, search))}")

        common, dhcp_options = load_common(first("common.toml"))
        presets = load_presets(first("platforms.toml"), common)
        return cls(load_families(search), common, presets, search, dhcp_options)

    def _index_family(self, family: Family) -> None:
        tokens: dict[str, str] = {}
        for model in family.models:
            ua = model.vars.get("ua")
            for token in ((str(ua),) if ua is not None else ()) + model.ua_tokens:
                owner = tokens.setdefault(token.lower(), model.id)
                if owner != model.id:
                    raise CatalogError(
                        f"{family.key}: User-Agent token {token!r} names both "
                        f"{owner} and {model.id}"
                    )
        for model in family.models:
            for ident in (model.id, *model.aliases):
                key = ident.lower()
                other = self._lookup.get(key)
                if other is not None and other is not model:
                    raise CatalogError(
                        f"{family.key}: model id or alias {ident!r} already used by "
                        f"{other.family} model {other.id}"
                    )
                self._lookup[key] = model
            self.models[model.id] = model
        specs = dict(self.common)
        for spec in family.settings:
            if spec.name in self.common:
                raise CatalogError(f"{family.key}: setting {spec.name} is already a common setting")
            known = self.settings.get(spec.name)
            if known is not None and replace(known, owner=None) != replace(spec, owner=None):
                raise CatalogError(
                    f"{family.key}: setting {spec.name} differs from the one in {known.owner}"
                )
            self.settings.setdefault(spec.name, spec)
            specs[spec.name] = spec
        self._family_specs[family.key] = specs
        for rule in family.warnings:
            if rule.setting not in specs:
                raise CatalogError(f"{family.key}: warning names unknown setting {rule.setting}")
            if rule.unless and (
                rule.unless not in specs or specs[rule.unless].type is not SettingType.BOOL
            ):
                raise CatalogError(
                    f"{family.key}: warning's unless {rule.unless} is no bool setting"
                )
        if family.raw is not None:
            known_ns = self.raw_namespaces.get(family.raw.prefix)
            if known_ns is not None and known_ns != family.raw:
                raise CatalogError(f"{family.key}: raw namespace {family.raw.prefix} redefined")
            self.raw_namespaces[family.raw.prefix] = family.raw
        for name in family.unsupported:
            if name not in self.common:
                raise CatalogError(f"{family.key}: unsupported names unknown setting {name}")
        self._check_supports(family)
        for map_name, table in family.maps.items():
            common = self.common.get(map_name)
            if common is not None and common.type is SettingType.ENUM:
                missing = [c for c in common.choices if c not in table]
                if missing and map_name not in family.unsupported:
                    raise CatalogError(f"{family.key}: maps.{map_name} lacks {', '.join(missing)}")
        for file in family.files:
            if not any((d / family.key / file.template).is_file() for d in self.search_path):
                raise CatalogError(f"{family.key}: template {file.template} not found")

    def _check_supports(self, family: Family) -> None:
        """``[supports]`` names common list settings with choices, and only their choices."""
        tables = [(family.key, family.supports)]
        tables += [(f"{family.key} model {m.id}", m.supports) for m in family.models]
        for where, supports in tables:
            for name, items in supports.items():
                spec = self.common.get(name)
                if spec is None or spec.type is not SettingType.LIST or not spec.choices:
                    raise CatalogError(
                        f"{where}: supports.{name} must name a common list setting with choices"
                    )
                if name in family.unsupported:
                    raise CatalogError(f"{where}: supports.{name} contradicts [unsupported]")
                if name not in family.supports:
                    raise CatalogError(
                        f"{where}: supports.{name} needs the family's own [supports] {name}"
                    )
                unknown = [item for item in items if item not in spec.choices]
                if unknown:
                    raise CatalogError(
                        f"{where}: supports.{name} has {', '.join(unknown)}, "
                        f"not among the choices of {name}"
                    )

    def supported_items(self, name: str, model: ModelDef) -> tuple[str, ...] | None:
        """The items of list setting ``name`` a phone of ``model`` can take; ``None``: all.

        A family that declares a common list setting ``[unsupported]`` takes
        none of its items, so any non-empty value is refused for its phones
        rather than silently dropped.
        """
        family = self.families[model.family]
        if name in model.supports:
            return model.supports[name]
        if name in family.supports:
            return family.supports[name]
        spec = self.common.get(name)
        if name in family.unsupported and spec is not None and spec.type is SettingType.LIST:
            return ()
        return None

    def _check_common_files(self) -> None:
        """Shared (per-model/per-family) file names must not clash across families."""
        owners: dict[str, str] = {}
        for family in self.families.values():
            for file in family.files:
                if file.per is FilePer.PHONE:
                    continue
                for model in family.models:
                    path = expand_path(file.path, model)
                    owner = owners.setdefault(path.lower(), family.key)
                    if owner != family.key:
                        raise CatalogError(
                            f"file {path} is declared by both {owner} and {family.key}"
                        )

    def model(self, ident: str) -> ModelDef:
        """Find a model by id or alias (case-insensitive).

        :raises InputError: naming close matches when the model is unknown.
        """
        model = self._lookup.get(ident.strip().lower())
        if model is None:
            close = difflib.get_close_matches(ident.lower(), self._lookup, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"unknown model {ident!r}{hint} (see `provisioner models`)")
        return model

    def family_of(self, model: ModelDef) -> Family:
        """The family a model belongs to."""
        return self.families[model.family]

    def specs_for(self, family_key: str) -> Mapping[str, SettingSpec]:
        """Common plus family settings applicable to phones of a family."""
        return self._family_specs[family_key]

    def spec(self, name: str) -> SettingSpec:
        """Look up any setting by name, including ``raw.<vendor>.<param>`` names.

        :raises InputError: for unknown names, suggesting close matches.
        """
        spec = self.settings.get(name)
        if spec is not None:
            return spec
        if name.startswith(RAW_PREFIX):
            return self._raw_spec(name)
        close = difflib.get_close_matches(name, self.settings, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise InputError(f"unknown setting {name!r}{hint} (see `provisioner settings`)")

    def _raw_spec(self, name: str) -> SettingSpec:
        prefix, _, param = name[len(RAW_PREFIX) :].partition(".")
        namespace = self.raw_namespaces.get(prefix)
        if namespace is None:
            known = ", ".join(f"raw.{p}." for p in sorted(self.raw_namespaces))
            raise InputError(f"unknown raw namespace in {name!r}; known: {known}")
        if namespace.name_pattern.fullmatch(param) is None:
            raise InputError(
                f"invalid raw parameter name {param!r} for raw.{prefix}: "
                f"must match {namespace.name_pattern.pattern}"
            )
        return _raw_spec_cached(name, namespace)

    def applies_to(self, name: str, family: Family) -> bool:
        """True when setting ``name`` has an effect on phones of ``family``."""
        if name.startswith(RAW_PREFIX):
            return family.raw is not None and name.startswith(f"raw.{family.raw.prefix}.")
        return name in self._family_specs[family.key]


@functools.lru_cache(maxsize=4096)
def _raw_spec_cached(name: str, namespace: RawNamespace) -> SettingSpec:
    return SettingSpec(
        name=name,
        type=SettingType.STRING,
        default="",
        label=f"raw {namespace.prefix} parameter",
        max_length=namespace.max_length,
        owner=f"raw.{namespace.prefix}",
    )
