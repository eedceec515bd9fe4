"""apply_fleet: writes, says what changed, warns of firmware labels no active set has."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.errors import ValidationFailed
from provisioner.fleet import load_fleet, parse_fleet
from provisioner.fleet_apply import apply_fleet
from provisioner.store import Store

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo-fleet.toml"


def test_apply_fleet_reports_changes_and_label_warnings(store: Store, catalog: Catalog) -> None:
    states = parse_fleet(load_fleet(DEMO), catalog)
    first = apply_fleet(store, Edits.of(store), states)
    assert first.changes["phone created"] == 6
    assert first.described[0] == "tenant demo: created"
    assert first.warnings == []
    states[0].groups["office"].settings["firmware.label"] = "2026-q4"
    second = apply_fleet(store, Edits.of(store), states)
    assert second.described == ["group demo/office: setting firmware.label set"]
    assert second.changes == {"setting set": 1}
    assert second.warnings == [
        "no firmware set is labelled '2026-q4' (labels: none yet); phones are told to change "
        "firmware only once a set of that label is uploaded and activated"
    ]
    assert apply_fleet(store, Edits.of(store), states).described == []


def test_a_refused_fleet_writes_and_reports_nothing(store: Store, catalog: Catalog) -> None:
    states = parse_fleet(load_fleet(DEMO), catalog)
    states[0].phones["0004f2123456"].settings["network.vlan.id"] = 1  # locked at group lobby
    with pytest.raises(ValidationFailed):
        apply_fleet(store, Edits.of(store), states)
    assert store.tenants.all_states() == []
