"""DHCP snippets: written from the catalog's options, byte for byte as before.

The expected texts (tests/dhcp/*.txt) were printed by provisioner/dhcp.py when
it held the options in Python, before they moved to templates/common.toml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.catalog import Catalog, DhcpOption, DhcpValue
from provisioner.dhcp import DhcpTarget, snippets

EXPECTED = Path(__file__).parent / "dhcp"
TARGETS = {
    "http-https-tftp6969-token": DhcpTarget("10.0.0.5", 8080, 8443, 6969, "abc"),
    "http80-tftp69": DhcpTarget("192.0.2.1", 80, 0, 69),
    "https443-only": DhcpTarget("192.0.2.1", 0, 443, 0),
    "address-only": DhcpTarget("192.0.2.1", 0, 0, 0),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_snippets_are_unchanged(name: str) -> None:
    expected = (EXPECTED / f"{name}.txt").read_text()
    assert snippets(TARGETS[name], Catalog.load().dhcp_options) == expected


def test_an_option_added_in_the_catalog_is_written_everywhere() -> None:
    extra = DhcpOption(159, "cisco-mpp-url", DhcpValue.URL, "Cisco MPP", "string", "string")
    text = snippets(DhcpTarget("192.0.2.1", 80, 0, 0), (*Catalog.load().dhcp_options, extra))
    assert "option cisco-mpp-url code 159 = string;" in text
    assert 'option cisco-mpp-url "http://192.0.2.1/";   # 159: Cisco MPP' in text
    assert '"name": "cisco-mpp-url",\n      "code": 159,\n      "type": "string",' in text
    assert text.endswith('dhcp-option=159,"http://192.0.2.1/"\n')
