"""/metrics: every sample has its # HELP and # TYPE (Prometheus text format 0.0.4)."""

from __future__ import annotations

import re

from provisioner.serve._metrics import Metrics


def test_every_metric_has_help_and_type_before_its_samples() -> None:
    metrics = Metrics(tenants=2, phones=7)
    metrics.request("http", "ok")
    lines = metrics.exposition().splitlines()
    described: dict[str, set[str]] = {}
    samples = []
    for line in lines:
        if line.startswith("# "):
            kind, name, _rest = line[2:].split(" ", 2)
            described.setdefault(name, set()).add(kind)
            continue
        name = re.split(r"[{ ]", line, maxsplit=1)[0]
        assert described.get(name) == {"HELP", "TYPE"}, f"{name} has no HELP/TYPE before it"
        samples.append(name)
    assert {"provisioner_tenants", "provisioner_phones", "provisioner_requests_total"} <= set(
        samples
    )
    assert "provisioner_tenants 2" in lines
    assert "# HELP provisioner_phones Enabled phones whose files are served." in lines
