"""Render benchmark: the whole pipeline from the database against bare Jinja.

Each measurement runs in its own process so its peak RSS is its own:

* ``pipeline``: load a snapshot of 10,000 phones from SQLite, resolve every
  setting with provenance, build contexts, render every per-phone and shared
  file in the sandbox with format escaping, and parse every XML file with
  lxml — what ``provisioner render`` does, minus writing files.
* ``bare``: the same templates rendered by a plain ``jinja2.Environment``
  (no sandbox, no finalize hook, no XML check) from contexts computed before
  the clock starts.

The ratio pipeline/bare is the cost of everything we add to template
rendering. Nothing here is a pass/fail threshold; figures are printed.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context

from provisioner.catalog import Catalog, FilePer, OutputFormat
from provisioner.pipeline import render_snapshot
from provisioner.render import phone_context
from provisioner.resolve import Resolver
from provisioner.settings import Value
from provisioner.state import GroupState, LineState, PhoneState, TenantState
from provisioner.store import Store

PHONES = 10_000
GROUPS = 12  # per tenant; each phone is in 3
REPEAT = 3


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


def populate(url: str, phones: int) -> float:
    """Create the benchmark database; returns the seconds ``apply`` took."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    start = time.perf_counter()
    store.tenants.apply(fleet(catalog, phones))
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_pipeline(url: str) -> dict[str, Any]:
    """One full pipeline run (process-local), timed."""
    catalog = Catalog.load()
    store = Store.open(url, catalog)
    rss_before = _max_rss_mb()
    start = time.perf_counter()
    result = render_snapshot(catalog, store.tenants.snapshot())
    seconds = time.perf_counter() - start
    files = result.files()
    store.close()
    return {
        "seconds": seconds,
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
    for phone in sorted(snapshot.phones.values(), key=lambda p: p.mac):
        view = resolver.phone(phone)
        context = phone_context(view, view.family)
        for file in view.family.files:
            if file.per is FilePer.PHONE:
                template = envs[file.format].get_template(f"{view.family.key}/{file.template}")
                jobs.append((template, context))
    rss_before = _max_rss_mb()
    start = time.perf_counter()
    total = 0
    for template, context in jobs:
        total += len(template.render(context).encode("utf-8"))
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
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


def main(phones: int = PHONES) -> None:
    """Run the benchmark and print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        setup = populate(url, phones)
        print(f"render benchmark: {phones} phones, mixed families, 2 lines, 3 groups each")
        print(f"  setup: apply of the fleet took {setup:.1f} s (not part of the figures below)")
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
        f"{best_b['files']} files"
    )
    print(f"  ratio pipeline / bare: {best_p['seconds'] / best_b['seconds']:.2f}x")
    print(
        f"  all runs (s): pipeline {[round(r['seconds'], 2) for r in pipeline]}, "
        f"bare {[round(r['seconds'], 2) for r in bare]}"
    )


if __name__ == "__main__":
    kind, target = sys.argv[1], sys.argv[2]
    measure = measure_pipeline if kind == "pipeline" else measure_bare
    sys.stdout.write(json.dumps(measure(target)) + "\n")
