"""Settings by scope, explain, the catalog, API keys and the audit log."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from provisioner.api._call import Call, Reply, etag
from provisioner.api._fleet import page, sort_key
from provisioner.api._models import (
    ApiKey,
    ApiKeyIn,
    AuditEntryOut,
    Explain,
    Family,
    ListQuery,
    Model,
    SettingIn,
    SettingInfo,
    SettingSchema,
    Source,
    StoredSetting,
    page_of,
    wire_value,
)
from provisioner.api._routing import Route
from provisioner.apikeys import Role
from provisioner.audit import parse_since
from provisioner.domain import ScopeKind
from provisioner.entities import scope_settings, setting_view
from provisioner.errors import NotFoundError
from provisioner.explain import explain_phone, phone_view
from provisioner.mac import parse_mac
from provisioner.resolve import Resolver, SourceKind
from provisioner.scope import ScopeRef, parse_scope
from provisioner.state import Part, TenantState
from provisioner.store import ApiKeyRecord, AuditQuery

__all__ = ["ROUTES"]

StoredPage = page_of(StoredSetting, "StoredSettingPage")
ModelPage = page_of(Model, "ModelPage")
FamilyPage = page_of(Family, "FamilyPage")
SchemaPage = page_of(SettingSchema, "SettingSchemaPage")
ApiKeyPage = page_of(ApiKey, "ApiKeyPage")
AuditPage = page_of(AuditEntryOut, "AuditPage")


# --- settings at a scope ------------------------------------------------------


async def _scope(call: Call) -> tuple[ScopeRef, TenantState]:
    """The path's scope, its tenant's state; another tenant's scope is not found."""
    ref = parse_scope(call.params["scope"])
    store = call.services.store
    if ref.kind in (ScopeKind.TENANT, ScopeKind.GROUP):
        tenant = ref.tenant
        call.own(tenant, f"no tenant named {tenant!r}")
    else:
        tenant = await call.run(lambda: store.tenants.tenant_of(ref.mac))
        call.own(tenant, f"no phone with MAC {ref.mac}")
    part = Part(frozenset({ref.mac} if ref.mac else ()))  # the phone a phone or line scope names
    state = await call.run(lambda: store.tenants.state(tenant, part))
    scope_settings(state, ref)  # the group, phone or line must exist
    return ref, state


async def list_scope_settings(call: Call) -> Reply:
    """The settings set at a scope (not inherited ones; see explain for those)."""
    ref, state = await _scope(call)
    settings, locked = scope_settings(state, ref)
    rows = [
        StoredSetting(
            name=name,
            value=None if _secret(call, name) else wire_value(value),
            locked=name in (locked or set()),
        )
        for name, value in sorted(settings.items())
    ]
    _, descending = sort_key(call.query, ("name",))
    if descending:
        rows.reverse()
    window = rows[call.query.offset : call.query.offset + call.query.limit]
    return page(list(window), len(rows), call.query, StoredPage)


def _secret(call: Call, name: str) -> bool:
    try:
        return call.services.catalog.spec(name).secret
    except Exception:  # an unknown stored name: do not show it
        return True


def _effective(
    call: Call, ref: ScopeRef, state: TenantState, name: str
) -> tuple[Any, Source | None]:
    """The value in effect at ``ref`` and where it comes from (explain's provenance)."""
    store, catalog = call.services.store, call.services.catalog
    if ref.kind in (ScopeKind.PHONE, ScopeKind.LINE):
        _, view = phone_view(catalog, store.tenants.snapshot([ref.mac]), ref.mac)
        found = view.settings.get(name)
        if ref.kind is ScopeKind.LINE:
            line = next((lv for lv in view.lines if lv.line.position == ref.position), None)
            found = line.settings.get(name, found) if line else found
        if found is None:
            return None, None
        return found.value, Source(
            kind=found.source.kind.value, scope=found.source.name, locked=found.source.locked
        )
    settings, locked = scope_settings(state, ref)
    if name in settings:
        at = SourceKind.GROUP if ref.kind is ScopeKind.GROUP else SourceKind.TENANT
        scope = ref.group if ref.kind is ScopeKind.GROUP else ref.tenant
        return settings[name], Source(kind=at.value, scope=scope, locked=name in (locked or ()))
    heads = store.tenants.head(state.name)
    tenant = next(iter(heads.tenants.values()))
    values = Resolver(catalog, heads).tenant_settings(tenant)
    if name in state.settings:
        return state.settings[name], Source(
            kind="tenant", scope=state.name, locked=name in state.locked
        )
    value = values.get(name)
    spec = catalog.spec(name)
    kind = "default" if value == spec.default else "preset"
    return value, Source(kind=kind, scope="" if kind == "default" else state.platform, locked=False)


async def get_scope_setting(call: Call) -> Reply:
    """One setting at a scope: what is set here, what is in effect, its type and allowed values."""
    ref, state = await _scope(call)
    name = call.params["name"]
    spec = call.services.catalog.spec(name)
    stored = setting_view(state, ref, name)
    value, source = await call.run(lambda: _effective(call, ref, state, name))
    info = SettingInfo(
        name=name,
        scope=str(ref),
        set_here=stored is not None,
        locked_here=bool(stored and stored["locked"]),
        stored=None if spec.secret or stored is None else stored["value"],
        value=None if spec.secret else value,
        value_set=value not in (None, ""),
        source=source,
        type=str(spec.type),
        default=None if spec.generated or spec.secret else wire_value(spec.default),
        allowed=spec.allowed(),
        choices=list(spec.choices) if spec.choices else None,
        secret=spec.secret,
        line=spec.line,
    )
    return Reply(info, etag=etag(call.edits.versions.of(stored)))


async def put_scope_setting(call: Call) -> Reply:
    """Set (and lock) a setting at a scope; the same value again changes nothing."""
    ref, _ = await _scope(call)
    body: SettingIn = call.body
    name = call.params["name"]
    await call.run(
        lambda: call.edits.settings.set(
            ref, name, body.value, lock=body.locked, expect=call.expect()
        )
    )
    return await get_scope_setting(call)


async def delete_scope_setting(call: Call) -> Reply:
    """Remove a setting (and its lock) from a scope."""
    ref, _ = await _scope(call)
    name = call.params["name"]
    await call.run(lambda: call.edits.settings.unset(ref, name, expect=call.expect()))
    return Reply()


# --- explain, catalog -----------------------------------------------------------


async def explain(call: Call) -> Reply:
    """``provisioner explain --json``: every value of the phone and where it came from."""
    mac = parse_mac(call.params["mac"])
    store, catalog = call.services.store, call.services.catalog
    tenant = await call.run(lambda: store.tenants.tenant_of(mac))
    call.own(tenant, f"no phone with MAC {mac}")
    data = await call.run(lambda: explain_phone(catalog, store.tenants.snapshot([mac]), mac))
    return Reply(Explain.model_validate(data))


class ModelQuery(ListQuery):
    """Filters of the model list."""

    vendor: str | None = None
    family: str | None = Field(None, description="e.g. polycom/ucs")


async def list_models(call: Call) -> Reply:
    """Supported phone models."""
    q: ModelQuery = call.query
    rows = [
        Model(
            id=m.id,
            vendor=f.vendor,
            family=f.key,
            label=m.label,
            max_lines=m.max_lines,
            aliases=list(m.aliases),
        )
        for f in call.services.catalog.families.values()
        for m in f.models
        if (q.vendor is None or f.vendor == q.vendor) and (q.family is None or f.key == q.family)
    ]
    field, descending = sort_key(q, ("id", "vendor", "family", "label"))
    rows.sort(key=lambda r: (getattr(r, field), r.id), reverse=descending)
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, ModelPage)


async def list_families(call: Call) -> Reply:
    """Model families (a family shares templates and its own settings)."""
    rows = [
        Family(key=f.key, vendor=f.vendor, name=f.name, models=[m.id for m in f.models])
        for f in sorted(call.services.catalog.families.values(), key=lambda f: f.key)
    ]
    q = call.query
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, FamilyPage)


class SchemaQuery(ListQuery):
    """Filters of the settings schema."""

    family: str | None = Field(None, description="common settings plus this family's")


async def list_setting_schema(call: Call) -> Reply:
    """The settings schema."""
    q: SchemaQuery = call.query
    catalog = call.services.catalog
    if q.family is not None and q.family not in catalog.families:
        raise NotFoundError(f"no family {q.family!r}; see /api/v1/catalog/families")
    specs = catalog.specs_for(q.family).values() if q.family else catalog.settings.values()
    rows = [
        SettingSchema(
            name=s.name,
            type=str(s.type),
            default=None if s.generated or s.secret else wire_value(s.default),
            scope="line" if s.line else "phone",
            owner=s.owner or "common",
            allowed=s.allowed(),
            label=s.label,
            secret=s.secret,
        )
        for s in sorted(specs, key=lambda s: s.name)
    ]
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, SchemaPage)


# --- API keys, audit ------------------------------------------------------------


def _key(record: ApiKeyRecord, key: str | None = None) -> ApiKey:
    return ApiKey(
        id=record.id,
        name=record.name,
        role=record.role,
        tenant=record.tenant,
        created_at=record.created_at,
        created_by=record.created_by,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
        key=key,
    )


async def list_apikeys(call: Call) -> Reply:
    """API keys (never the keys themselves)."""
    records = await call.run(call.services.store.apikeys.all)
    q = call.query
    rows = [_key(r) for r in records]
    return page(rows[q.offset : q.offset + q.limit], len(rows), q, ApiKeyPage)


async def create_apikey(call: Call) -> Reply:
    """Create a key; the answer holds the key, shown this once."""
    body: ApiKeyIn = call.body
    created = await call.run(
        lambda: call.services.keys.create(
            body.name, body.role, call.actor, tenant=body.tenant, expires_days=body.expires_days
        )
    )
    return Reply(
        _key(created.record, created.key),
        201,
        location=f"/api/v1/apikeys/{created.record.id}",
    )


def _key_id(call: Call) -> int:
    text = call.params["id"]
    if not text.isdigit() or len(text) > 12:
        raise NotFoundError(f"no API key {text!r}")
    return int(text)


async def get_apikey(call: Call) -> Reply:
    """One key's record."""
    key_id = _key_id(call)
    return Reply(_key(await call.run(lambda: call.services.store.apikeys.get(key_id))))


async def revoke_apikey(call: Call) -> Reply:
    """Revoke a key at once, on every node."""
    key_id = _key_id(call)
    await call.run(lambda: call.services.keys.revoke(key_id, call.actor))
    return Reply()


class AuditFilter(ListQuery):
    """Filters of the audit log."""

    since: str | None = Field(None, description="30m, 12h, 7d, or a UTC date/time")
    until: str | None = Field(None, description="as since")
    tenant: str | None = None
    mac: str | None = Field(None, description="entries about this phone (any spelling)")
    actor: str | None = Field(None, description="key name or OS user")
    action: str | None = Field(None, description="e.g. phone.create, setting.set")
    request_id: str | None = None


async def list_audit(call: Call) -> Reply:
    """Who changed what, newest first (sort=at for oldest first)."""
    q: AuditFilter = call.query
    _, descending = sort_key(q, ("-at", "at")) if q.sort else ("at", True)
    tenant = q.tenant
    if call.key.tenant is not None:
        if tenant not in (None, call.key.tenant):
            return page([], 0, q, AuditPage)
        tenant = call.key.tenant
    now = time.time()
    query = AuditQuery(
        since=parse_since(q.since, now) if q.since else None,
        until=parse_since(q.until, now) if q.until else None,
        tenant=tenant,
        mac=parse_mac(q.mac) if q.mac else None,
        actor=q.actor,
        action=q.action,
        request_id=q.request_id,
        limit=q.limit,
        offset=q.offset,
        newest_first=descending or q.sort is None,
    )
    entries, total = await call.run(lambda: call.services.store.audit.query(query))
    items = [
        AuditEntryOut(
            id=e.id,
            at=e.at,
            actor_kind=e.actor_kind.value,
            actor=e.actor,
            key_id=e.key_id,
            request_id=e.request_id,
            action=e.action,
            scope=e.scope,
            entity=e.entity,
            tenant=e.tenant,
            mac=e.mac,
            dry_run=e.dry_run,
            before=e.before,
            after=e.after,
        )
        for e in entries
    ]
    return page(items, total, q, AuditPage)


_S = {
    "scope": "tenant:NAME, group:TENANT%2FNAME, phone:MAC or line:MAC%2FN (URL-encoded)",
    "name": "setting name, e.g. time.zone",
}
VIEWER, OPERATOR, ADMIN = Role.VIEWER, Role.OPERATOR, Role.ADMIN
ROUTES = [
    Route(
        "GET",
        "/scopes/{scope}/settings",
        list_scope_settings,
        "Settings set at a scope",
        "settings",
        VIEWER,
        query=ListQuery,
        answer=StoredPage,
        params=_S,
    ),
    Route(
        "GET",
        "/scopes/{scope}/settings/{name}",
        get_scope_setting,
        "A setting at a scope, with provenance",
        "settings",
        VIEWER,
        answer=SettingInfo,
        etag=True,
        params=_S,
    ),
    Route(
        "PUT",
        "/scopes/{scope}/settings/{name}",
        put_scope_setting,
        "Set a setting at a scope",
        "settings",
        OPERATOR,
        body=SettingIn,
        answer=SettingInfo,
        etag=True,
        params=_S,
    ),
    Route(
        "DELETE",
        "/scopes/{scope}/settings/{name}",
        delete_scope_setting,
        "Unset a setting at a scope",
        "settings",
        OPERATOR,
        etag=True,
        params=_S,
    ),
    Route(
        "GET",
        "/phones/{mac}/explain",
        explain,
        "Explain a phone's settings",
        "phones",
        VIEWER,
        answer=Explain,
        params={"mac": "MAC in any spelling"},
    ),
    Route(
        "GET",
        "/catalog/models",
        list_models,
        "Phone models",
        "catalog",
        VIEWER,
        query=ModelQuery,
        answer=ModelPage,
    ),
    Route(
        "GET",
        "/catalog/families",
        list_families,
        "Model families",
        "catalog",
        VIEWER,
        query=ListQuery,
        answer=FamilyPage,
    ),
    Route(
        "GET",
        "/catalog/settings",
        list_setting_schema,
        "The settings schema",
        "catalog",
        VIEWER,
        query=SchemaQuery,
        answer=SchemaPage,
    ),
    Route(
        "GET",
        "/apikeys",
        list_apikeys,
        "List API keys",
        "apikeys",
        ADMIN,
        query=ListQuery,
        answer=ApiKeyPage,
    ),
    Route(
        "POST",
        "/apikeys",
        create_apikey,
        "Create an API key",
        "apikeys",
        ADMIN,
        body=ApiKeyIn,
        answer=ApiKey,
        status=201,
    ),
    Route(
        "GET",
        "/apikeys/{id}",
        get_apikey,
        "Read an API key's record",
        "apikeys",
        ADMIN,
        answer=ApiKey,
        params={"id": "key id"},
    ),
    Route(
        "DELETE",
        "/apikeys/{id}",
        revoke_apikey,
        "Revoke an API key",
        "apikeys",
        ADMIN,
        params={"id": "key id"},
    ),
    Route(
        "GET",
        "/audit",
        list_audit,
        "The audit log",
        "audit",
        VIEWER,
        query=AuditFilter,
        answer=AuditPage,
    ),
]
