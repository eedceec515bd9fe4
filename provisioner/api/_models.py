"""Request and response bodies of the admin API (pydantic v2; the OpenAPI schemas come from here).

Entities have the fleet file's shape and field names (docs/fleet-file.md):
what an admin writes in a fleet file is what the API takes and returns.
Request models are strict (a number is not text, unknown keys are refused);
the fleet file's own reader then applies the same rules as ``apply``
(shorthand keys, MAC spellings, model aliases). Secrets are write-only:
answers list ``secret_settings`` and say ``password_set`` instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, create_model

from provisioner.settings import Value

JsonDict = dict[str, JsonValue]

__all__ = [
    "ApiKey",
    "ApiKeyIn",
    "AuditEntryOut",
    "Explain",
    "Family",
    "Group",
    "GroupIn",
    "Line",
    "LineIn",
    "ListQuery",
    "Model",
    "Phone",
    "PhoneIn",
    "SettingIn",
    "SettingInfo",
    "SettingSchema",
    "Tenant",
    "TenantIn",
    "page_of",
    "partial",
    "wire_value",
]

KeyItem = Annotated[
    dict[str, str | int],
    Field(
        description="a key {type, value, label, line, module, page} (the keys setting; "
        "docs/settings.md)"
    ),
]
SettingValue = Annotated[
    bool | int | str | list[str] | list[KeyItem],
    Field(
        description="boolean, integer, text, a list of text (list settings) "
        "or a list of keys (keys)"
    ),
]
Settings = Annotated[
    dict[str, SettingValue],
    Field(description="setting name → value (`provisioner settings` lists them)"),
]


WireValue = bool | int | str | list[str] | list[dict[str, str | int]] | None


def wire_value(value: Value | None) -> WireValue:
    """A stored or resolved setting value as JSON carries it (a tuple → a list; keys → objects)."""
    if not isinstance(value, tuple):
        return value
    if all(isinstance(item, str) for item in value):
        return [str(item) for item in value]
    return [dict(item) for item in value if isinstance(item, dict)]


_READ_ONLY: JsonDict = {"readOnly": True}
_WRITE_ONLY: JsonDict = {"writeOnly": True}


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Endpoint(_In):
    """A SIP server: ``registrar``, ``outbound_proxy`` shorthands of the fleet file."""

    host: str | None = None
    port: int | None = None
    transport: str | None = None


class _Shorthands(BaseModel):
    registrar: Endpoint | None = None
    outbound_proxy: Endpoint | None = None
    secondary_outbound_proxy: Endpoint | None = None
    ntp_servers: list[str] | None = None
    time_zone: str | None = None
    voicemail_number: str | None = None
    keys: list[KeyItem] | None = Field(None, description="programmable keys (the keys setting)")


class _TenantFields(_Shorthands):
    name: str
    sip_domain: str
    platform: str = "generic"
    description: str | None = None
    settings: Settings | None = None
    locked: list[str] | None = Field(None, description="settings locked for lower scopes")


class TenantIn(_In, _TenantFields):
    """A tenant as created or replaced (``secret_settings`` is ignored)."""

    secret_settings: list[str] | None = Field(None, json_schema_extra=_READ_ONLY)


class Tenant(_Out, _TenantFields):
    """A tenant's own fields and settings (its groups and phones are resources of their own)."""

    secret_settings: list[str] | None = Field(None, description="secret settings that are set")


class _GroupFields(_Shorthands):
    tenant: str | None = Field(None, description="the tenant (the path's, if not given)")
    name: str
    weight: int = Field(0, description="higher wins among a phone's groups")
    description: str | None = None
    settings: Settings | None = None
    locked: list[str] | None = None


class GroupIn(_In, _GroupFields):
    """A group as created or replaced."""

    secret_settings: list[str] | None = Field(None, json_schema_extra=_READ_ONLY)


class Group(_Out, _GroupFields):
    """A phone group."""

    tenant: str | None = None
    secret_settings: list[str] | None = None


class _LineFields(BaseModel):
    position: int | None = Field(None, ge=1, description="1 = first; default: the first free")
    user: str
    auth_user: str | None = None
    display_name: str | None = None
    label: str | None = None
    settings: Settings | None = None
    registrar: Endpoint | None = None
    outbound_proxy: Endpoint | None = None
    secondary_outbound_proxy: Endpoint | None = None
    voicemail_number: str | None = None


class LineIn(_In, _LineFields):
    """A line as created or replaced; a ``password`` left out keeps the stored one."""

    password: str | None = Field(None, json_schema_extra=_WRITE_ONLY)
    password_set: bool | None = Field(None, json_schema_extra=_READ_ONLY)
    secret_settings: list[str] | None = Field(None, json_schema_extra=_READ_ONLY)


class Line(_Out, _LineFields):
    """A line (its password is never shown)."""

    position: int | None = None
    password_set: bool = False
    secret_settings: list[str] | None = None


class _PhoneFields(_Shorthands):
    tenant: str
    mac: str = Field(description="any spelling: 0004f2123456, 00:04:f2:12:34:56, 0004.f212.3456")
    model: str = Field(description="model id or alias (`GET /api/v1/catalog/models`)")
    description: str | None = None
    enabled: bool | None = None
    groups: list[str] | None = None
    settings: Settings | None = None


class PhoneIn(_In, _PhoneFields):
    """A phone with its lines, as created or replaced."""

    lines: list[LineIn] | None = None
    secret_settings: list[str] | None = Field(None, json_schema_extra=_READ_ONLY)


class Phone(_Out, _PhoneFields):
    """A phone with its lines."""

    lines: list[Line] | None = None
    secret_settings: list[str] | None = None


def partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional and nullable: a JSON merge patch (RFC 7396) of it."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        annotation: Any = info.annotation
        fields[name] = (annotation | None, None)
    patch: type[BaseModel] = create_model(name, __base__=_In, **fields)
    patch.__doc__ = f"A merge patch (RFC 7396) of {model.__name__}: null removes a field."
    return patch


class SettingIn(_In):
    """A setting's value at a scope, and whether lower scopes may override it."""

    value: SettingValue
    locked: bool = Field(False, description="tenants and groups only")


class Source(_Out):
    """Where an effective value comes from (as `provisioner explain` says)."""

    kind: str = Field(description="default, preset, generated, tenant, group, phone or line")
    scope: str = Field(description="the scope's name, e.g. the group's")
    locked: bool


class SettingInfo(_Out):
    """A setting at a scope: what is set here, what is in effect, and what is allowed."""

    name: str
    scope: str
    set_here: bool
    locked_here: bool
    stored: SettingValue | None = Field(None, description="the value set here (secrets: null)")
    value: SettingValue | None = Field(None, description="the value in effect (secrets: null)")
    value_set: bool = Field(description="whether a value is in effect (for secrets)")
    source: Source | None = None
    type: str
    default: SettingValue | None = None
    allowed: str
    choices: list[str] | None = None
    secret: bool
    line: bool = Field(description="may be set per line")


class StoredSetting(_Out):
    """One setting set at a scope."""

    name: str
    value: SettingValue | None = Field(None, description="null for secrets")
    locked: bool


class Model(_Out):
    """A phone model of the catalog."""

    id: str
    vendor: str
    family: str
    label: str
    max_lines: int
    aliases: list[str]


class Family(_Out):
    """A family of models sharing templates (e.g. polycom/ucs)."""

    key: str
    vendor: str
    name: str
    models: list[str]


class SettingSchema(_Out):
    """One setting of the schema."""

    name: str
    type: str
    default: SettingValue | None = None
    scope: Literal["phone", "line"]
    owner: str
    allowed: str
    label: str
    secret: bool


class ExplainEntry(_Out):
    """A resolved setting (the value is text, secrets masked)."""

    value: str
    source: str
    scope: str
    locked: bool
    rendered: bool


class ExplainLine(_Out):
    """A line's resolved settings."""

    position: int
    settings: dict[str, ExplainEntry]


class Transport(_Out):
    """Whether a transport may serve the phone its own files."""

    served: bool
    reason: str


class ExplainFile(_Out):
    """A file the phone fetches, as rendered now."""

    path: str
    bytes: int


class ExplainKeys(_Out):
    """The phone's placed keys (docs/settings.md "Keys") and where the list came from."""

    source: str
    scope: str
    locked: bool
    placed: list[dict[str, str | bool | int]] = Field(
        description="each key with module (0: the phone), slot, number (in the list; "
        "0: automatic line key) and line, plus its own fields; policy: true for a key "
        "the keys.policy rule placed"
    )
    problems: list[str]
    policy_dropped: int = Field(
        description="lines of the keys.policy rule that fit on no free key (docs/settings.md)"
    )


class Explain(_Out):
    """`provisioner explain --json`: every value of a phone and where it came from."""

    mac: str
    model: str
    tenant: str
    groups: list[str]
    settings: dict[str, ExplainEntry]
    transports: dict[str, Transport]
    lines: list[ExplainLine]
    keys: ExplainKeys
    files: list[ExplainFile]
    render_errors: list[str]
    warnings: list[str] = Field(
        description="settings the phone is given but cannot follow (family [[warnings]])"
    )


class ApiKeyIn(_In):
    """A key to create."""

    name: str
    role: Literal["admin", "operator", "viewer"]
    tenant: str | None = Field(None, description="limit the key to this tenant")
    expires_days: float | None = Field(None, gt=0, le=3650)


class ApiKey(_Out):
    """An API key's record; ``key`` only in the answer that created it."""

    id: int
    name: str
    role: str
    tenant: str | None
    created_at: float
    created_by: str
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None
    key: str | None = Field(None, description="the key itself, shown once")


class AuditEntryOut(_Out):
    """One recorded write."""

    id: int
    at: float
    actor_kind: str
    actor: str
    key_id: int | None
    request_id: str
    action: str
    scope: str
    entity: str
    tenant: str | None
    mac: str | None
    dry_run: bool
    before: dict[str, Any]
    after: dict[str, Any]


class ListQuery(_In):
    """Paging and order of a list."""

    model_config = ConfigDict(extra="forbid", strict=False)
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0, le=1_000_000_000)
    sort: str | None = Field(None, max_length=64, description="a field; -field for descending")


def page_of(item: type[BaseModel], name: str) -> type[BaseModel]:
    """The list envelope ``{"items", "total", "limit", "offset"}`` of ``item``."""
    page: type[BaseModel] = create_model(
        name,
        __base__=_Out,
        items=(list[item], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )
    page.__doc__ = f"A page of {item.__name__} items."
    return page
