"""Who is asking: vendor, model, firmware and MAC from User-Agent, path and MAC prefix.

Sources, strongest first: the HTTP or SIP User-Agent (each family's regular
expressions, with the model token matched case-insensitively against the
models' ``vars.ua`` and ``ua_tokens``),
the requested path (per-phone names carry the MAC, per-model names such as
``spa504G.cfg`` the model), and the MAC's vendor prefix (OUI). Anything that
cannot be told stays ``None``. All knowledge comes from the catalog TOML.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from provisioner.catalog import Catalog, Family, ModelDef
from provisioner.errors import InputError
from provisioner.mac import parse_mac
from provisioner.paths import PathIndex, PathMatch, normalize

__all__ = ["Identifier", "Identity"]


@dataclass(frozen=True, slots=True)
class Identity:
    """What could be told about a device; ``None`` where nothing could."""

    vendor: str | None = None
    family: str | None = None
    model: str | None = None
    firmware: str | None = None
    mac: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """The identity as plain data (JSON output, seen records)."""
        return asdict(self)


class Identifier:
    """Identification rules of one catalog, compiled once."""

    def __init__(self, catalog: Catalog, paths: PathIndex | None = None) -> None:
        self.catalog = catalog
        self.paths = paths or PathIndex(catalog)
        self._ua_models: dict[tuple[str, str], ModelDef] = {}
        for family in catalog.families.values():
            for model in family.models:
                token = model.vars.get("ua")
                tokens = (str(token),) if token is not None else ()
                for each in (*tokens, *model.ua_tokens):
                    self._ua_models[(family.key, each.lower())] = model
        self._oui: dict[str, list[Family]] = {}
        for family in catalog.families.values():
            for prefix in family.oui:
                self._oui.setdefault(prefix.lower(), []).append(family)

    def identify(self, user_agent: str | None = None, path: str | None = None) -> Identity:
        """Combine what the User-Agent, the path and the MAC prefix say."""
        return self.combine(user_agent, self.from_path(path)[0] if path else Identity())

    def combine(self, user_agent: str | None, by_path: Identity) -> Identity:
        """What the User-Agent says, completed by what :meth:`from_path` said, then the OUI."""
        found = self._from_user_agent(user_agent) if user_agent else Identity()
        found = _merge(found, by_path)
        if found.mac is not None and found.vendor is None:
            found = _merge(found, self._from_oui(found.mac))
        return found

    def _from_user_agent(self, user_agent: str) -> Identity:
        text = user_agent.strip()
        for family in self.catalog.families.values():
            for rule in family.user_agents:
                hit = rule.pattern.search(text)
                if hit is None:
                    continue
                groups = hit.groupdict()
                token = groups.get("model")
                model = self._ua_models.get((family.key, token.lower())) if token else None
                mac = None
                if groups.get("mac"):
                    try:
                        mac = parse_mac(groups["mac"])
                    except InputError:
                        mac = None
                return Identity(
                    vendor=family.vendor,
                    family=family.key,
                    model=model.id if model else None,
                    firmware=groups.get("firmware") or None,
                    mac=mac,
                )
        return Identity()

    def from_path(self, path: str) -> tuple[Identity, frozenset[str]]:
        """What the path alone says; and the families for which it is an optional file."""
        clean = normalize(path)
        if clean is None:
            return Identity(), frozenset()
        found = self._path_identity(self.paths.match(clean))
        optional, mac = self.paths.optional(clean)
        if found.mac is None and mac is not None:
            # Only an optional file names this MAC (a Yealink's <mac>.boot).
            found = Identity(mac=mac)
        return found, optional

    def _path_identity(self, matches: list[PathMatch]) -> Identity:
        macs = {m.mac for m in matches if m.mac}
        families = {m.family.key: m.family for m in matches}
        models = {model.id for m in matches for model in m.models}
        result = Identity(mac=macs.pop() if len(macs) == 1 else None)
        if len(families) == 1:
            family = next(iter(families.values()))
            result = Identity(
                vendor=family.vendor,
                family=family.key,
                model=models.pop() if len(models) == 1 else None,
                mac=result.mac,
            )
        return result

    def _from_oui(self, mac: str) -> Identity:
        families = self._oui.get(mac[:6], [])
        vendors = {f.vendor for f in families}
        if len(vendors) != 1:
            return Identity()
        return Identity(
            vendor=vendors.pop(), family=families[0].key if len(families) == 1 else None
        )


def _merge(strong: Identity, weak: Identity) -> Identity:
    """Fill the gaps of ``strong`` from ``weak``; ``weak`` never contradicts it.

    A path of another vendor's family than the User-Agent names adds nothing
    but the MAC.
    """
    same = strong.family is None or weak.family in (None, strong.family)
    return Identity(
        vendor=strong.vendor or (weak.vendor if same else None),
        family=strong.family or (weak.family if same else None),
        model=strong.model or (weak.model if same else None),
        firmware=strong.firmware or weak.firmware,
        mac=strong.mac or weak.mac,
    )
