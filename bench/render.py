"""Render benchmark: the whole pipeline from the database against bare Jinja.

Each measurement runs in its own process so its peak RSS is its own:

* ``pipeline``: load a snapshot of 10,000 phones from SQLite, resolve every
  setting with provenance, build contexts, render every per-phone and shared
  file in the sandbox with format escaping, and parse every XML file with
  lxml — what ``provisioner render`` does, minus writing files.
* ``bare``: the same templates rendered by a plain ``jinja2.Environment``
  (no sandbox, no finalize hook, no XML check) from contexts computed before
  the clock starts. A file that ``uses`` only shareable context entries (a
  phonebook, the tenant directory) is rendered once per distinct value, as
  the pipeline does, so both do the same work.

The ratio pipeline/bare is the cost of everything we add to template
rendering. Nothing here is a pass/fail threshold; figures are printed.

Both run twice: on the plain fleet (:func:`fleet`), and on the same fleet
with keys, codecs and a phonebook (:func:`rich_fleet`, :func:`populate_rich`):
every phone gets line, BLF and speed-dial keys (some on an expansion module
where its model takes one), a codecs list, and its tenant's 2,000-entry
phonebook through the ``phonebooks`` setting, imported with
:func:`provisioner.phonebooks.import_phonebook` as the CLI does.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context

from provisioner.actor import Actor
from provisioner.catalog import Catalog, Family, FilePer, ModelDef, OutputFormat
from provisioner.phonebooks import Format, import_phonebook
from provisioner.pipeline import render_snapshot
from provisioner.render import phone_context
from provisioner.resolve import Resolver
from provisioner.settings import Value, parse_keys
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import Store

PHONES = 10_000
GROUPS = 12  # per tenant; each phone is in 3
REPEAT = 3
PHONEBOOK_ENTRIES = 2_000
PHONEBOOK = "staff"
CODECS = ("g722", "opus", "pcma", "pcmu", "g729")  # preference; each phone gets those it takes


def fleet(catalog: Catalog, phones: int) -> list[TenantState]:
    """Two tenants, mixed families, 2 lines and 3 groups per phone, some overrides."""
    models = [m for family in catalog.families.values() for m in family.models if m.max_lines >= 2]
    tenants = [
        TenantState(
            "bench-a",
            "a.example.com",
            settings={"time.zone": "Europe/Berlin"},
            locked={"time.zone"},
        ),
        TenantState(
            "bench-b", "b.example.com", settings={"time.zone": "America/New_York", "language": "fr"}
        ),
    ]
    for tenant in tenants:
        for g in range(GROUPS):
            tenant.groups[f"g{g}"] = GroupState(
                f"g{g}",
                weight=g,
                settings={"provisioning.poll_minutes": 60 * (g + 1), "network.vlan.id": g + 1},
            )
    for i in range(phones):
        tenant = tenants[i % 2]
        mac = f"0004f2{i:06x}"
        model = models[i % len(models)]
        groups = [f"g{(i + k) % GROUPS}" for k in range(3)]
        first = LineState(1, f"{1000 + i}", password=f"pw-{i}-a", display_name=f"User {i}")
        second = LineState(2, f"{50000 + i}", password=f"pw-{i}-b", display_name=f"Queue {i}")
        second.settings["voicemail.number"] = "*97"
        lines = [first, second]
        settings: dict[str, Value] = {"mwi.subscribe": True} if i % 10 == 0 else {}
        tenant.phones[mac] = PhoneState(
            mac, model.id, f"bench phone {i}", True, groups, settings, lines
        )
    return tenants


def _keys(family: Family, model: ModelDef, own: int, tenant_users: int) -> list[dict[str, Any]]:
    """Line keys for both lines, then BLF and speed dials of neighbours; a module's share."""
    types = set(family.keys.types)
    if not model.keys or "blf" not in types:
        return []
    keys: list[dict[str, Any]] = []
    if "line" in types:
        keys += [{"type": "line", "line": 1}, {"type": "line", "line": 2}]
    # Sequential families (Polycom) number keys onto modules with no gap: fill the phone.
    count = model.keys if model.modules and family.keys.sequential else 8
    others = [1000 + (own + 2 * k) % tenant_users for k in range(1, count + 1)]
    for n, user in enumerate(others):
        kind = "speed_dial" if n % 3 == 2 and "speed_dial" in types else "blf"
        keys.append({"type": kind, "value": str(user), "label": f"User {user - 1000}"})
    keys = keys[: model.keys]
    if model.modules:
        module = family.keys.modules[model.modules[0]]
        if "blf" in (module.types or types):
            keys += [
                {"type": "blf", "value": str(u), "label": f"EM {u - 1000}", "module": 1}
                for u in others[:4]
            ]
    return keys


def rich_fleet(catalog: Catalog, phones: int) -> list[TenantState]:
    """:func:`fleet` with keys, codecs and the tenant phonebook on every phone.

    BLF targets are lines of the phone's own tenant (even indexes in one,
    odd in the other), never its own; module keys go on module 1 of models
    that take one (``modules.count`` 1).
    """
    tenants = fleet(catalog, phones)
    for tenant in tenants:
        tenant.settings["provisioning.server_url"] = f"https://prov.{tenant.sip_domain}/prov/"
        tenant.settings["phonebooks"] = (PHONEBOOK,)
        per_tenant = phones // 2 * 2
        for phone in tenant.phones.values():
            model = catalog.model(phone.model)
            family = catalog.families[model.family]
            own = int(phone.lines[0].user) - 1000
            keys = _keys(family, model, own, per_tenant)
            if keys:
                phone.settings["keys"] = parse_keys(keys)
            if any(k.get("module") for k in keys):
                phone.settings["modules.count"] = 1
            if "codecs" not in family.unsupported:  # Cisco 79xx: one preferred codec only
                takes = model.supports.get("codecs", family.supports.get("codecs", CODECS))
                phone.settings["codecs"] = tuple(c for c in CODECS if c in takes)[:4]
    return tenants


def _phonebook_csv(entries: int) -> bytes:
    rows = ["first_name,last_name,organisation,work,mobile"]
    rows += [
        f"First{n},Last {n} & <Co>,Supplier {n % 97},+4930{n:07d},+49170{n:07d}"
        for n in range(entries)
    ]
    return ("\n".join(rows) + "\n").encode()


def populate_rich(url: str, phones: int) -> float:
    """Create the rich benchmark database; returns the seconds apply and imports took."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    tenants = rich_fleet(catalog, phones)
    data = _phonebook_csv(PHONEBOOK_ENTRIES)
    start = time.perf_counter()
    store.tenants.apply(tenants)
    for tenant in tenants:
        import_phonebook(store.phonebooks, Actor.cli(), tenant.name, PHONEBOOK, data, Format.CSV)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def populate(url: str, phones: int) -> float:
    """Create the benchmark database; returns the seconds ``apply`` took."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    start = time.perf_counter()
    store.tenants.apply(fleet(catalog, phones))
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_pipeline(url: str) -> dict[str, Any]:
    """One full pipeline run (process-local), timed."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    rss_before = _max_rss_mb()
    start, cpu = time.perf_counter(), _cpu()
    result = render_snapshot(catalog, store.tenants.snapshot())
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    files = result.files()
    store.close()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "phones": len(result.phones),
        "files": len(files),
        "bytes": sum(len(f.data) for f in files),
        "errors": len(result.errors),
        "rss_start_mb": rss_before,
        "peak_rss_mb": _max_rss_mb(),
    }


def _bare_filters(env: Environment) -> None:
    def onezero(v: bool) -> str:
        return "1" if v else "0"

    def yesno(v: bool) -> str:
        return "Yes" if v else "No"

    def truefalse(v: bool) -> str:
        return "true" if v else "false"

    def vmap(ctx: Any, value: object, name: str) -> str:
        key = str(value).lower() if isinstance(value, bool) else str(value)
        return str(ctx["maps"][name][key])

    env.filters.update(onezero=onezero, yesno=yesno, truefalse=truefalse, vmap=pass_context(vmap))


def measure_bare(url: str) -> dict[str, Any]:
    """Plain Jinja over precomputed contexts (process-local), timed."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    snapshot = store.tenants.snapshot()
    store.close()
    resolver = Resolver(catalog, snapshot)
    loader = FileSystemLoader([str(p) for p in catalog.search_path])
    envs = {
        fmt: Environment(
            loader=loader,
            undefined=StrictUndefined,
            autoescape=fmt is OutputFormat.XML,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        for fmt in OutputFormat
    }
    for env in envs.values():
        _bare_filters(env)
    jobs = []
    shared: set[tuple[object, ...]] = set()
    for phone in sorted(snapshot.phones.values(), key=lambda p: p.mac):
        view = resolver.phone(phone)
        context = phone_context(view, view.family)
        for file in view.family.files:
            if file.per is not FilePer.PHONE:
                continue
            if file.uses:
                # Rendered once per distinct value, as the pipeline's Renderer does:
                # the same work, not a phonebook per phone.
                key = (view.family.key, file.template, *(id(context[u]) for u in file.uses))
                if key in shared:
                    continue
                shared.add(key)
            template = envs[file.format].get_template(f"{view.family.key}/{file.template}")
            jobs.append((template, context))
    rss_before = _max_rss_mb()
    start, cpu = time.perf_counter(), _cpu()
    total = 0
    for template, context in jobs:
        total += len(template.render(context).encode("utf-8"))
    seconds, cpu = time.perf_counter() - start, _cpu() - cpu
    return {
        "seconds": seconds,
        "cpu": cpu,
        "files": len(jobs),
        "bytes": total,
        "rss_start_mb": rss_before,
        "peak_rss_mb": _max_rss_mb(),
    }


def _child(kind: str, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.render", kind, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(out)
    return result


def _run(title: str, setup: Callable[[str, int], float], phones: int) -> None:
    """Populate a fresh database with ``setup``, measure both ways, print the rows."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        seconds = setup(url, phones)
        print(title)
        print(f"  setup: apply of the fleet took {seconds:.1f} s (not part of the figures below)")
        pipeline = [_child("pipeline", url) for _ in range(REPEAT)]
        bare = [_child("bare", url) for _ in range(REPEAT)]
    best_p = min(pipeline, key=lambda r: r["seconds"])
    best_b = min(bare, key=lambda r: r["seconds"])
    print(
        f"  pipeline (DB → resolve → sandboxed render → XML check), best of {REPEAT}: "
        f"{best_p['seconds']:.2f} s, {best_p['phones'] / best_p['seconds']:,.0f} phones/s, "
        f"{best_p['files']} files, {best_p['bytes'] / 1e6:.1f} MB, errors {best_p['errors']}"
    )
    print(f"    peak RSS of the pipeline process: {max(r['peak_rss_mb'] for r in pipeline):.0f} MB")
    print(
        f"  bare Jinja (precomputed contexts, per-phone files), best of {REPEAT}: "
        f"{best_b['seconds']:.2f} s, {phones / best_b['seconds']:,.0f} phones/s, "
        f"{best_b['files']} files, {best_b['bytes'] / 1e6:.1f} MB"
    )
    print(f"  ratio pipeline / bare: {best_p['seconds'] / best_b['seconds']:.2f}x")
    # On a shared, loaded machine wall time includes waiting for a core; CPU time does not.
    cpu_p, cpu_b = min(r["cpu"] for r in pipeline), min(r["cpu"] for r in bare)
    print(
        f"  by CPU time (user+sys, least of {REPEAT}): pipeline {cpu_p:.2f} s, bare {cpu_b:.2f} s,"
        f" ratio {cpu_p / cpu_b:.2f}x"
    )
    print(
        f"  all runs (s): pipeline {[round(r['seconds'], 2) for r in pipeline]}, "
        f"bare {[round(r['seconds'], 2) for r in bare]}"
    )
    print(
        f"  CPU user+sys (s): pipeline {[round(r['cpu'], 2) for r in pipeline]}, "
        f"bare {[round(r['cpu'], 2) for r in bare]}"
    )


def main(phones: int = PHONES) -> None:
    """Run the benchmark on the plain and the rich fleet and print the figures."""
    _run(
        f"render benchmark: {phones} phones, mixed families, 2 lines, 3 groups each",
        populate,
        phones,
    )
    _run(
        f"render benchmark, rich: the same {phones} phones with keys (some on a module), "
        f"codecs and a {PHONEBOOK_ENTRIES:,}-entry tenant phonebook each "
        "(issue 14 asks for at most 3x bare Jinja and under 10 s)",
        populate_rich,
        phones,
    )


if __name__ == "__main__":
    kind, target = sys.argv[1], sys.argv[2]
    measure = measure_pipeline if kind == "pipeline" else measure_bare
    sys.stdout.write(json.dumps(measure(target)) + "\n")
