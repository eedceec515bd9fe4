"""DHCP snippets: written from the catalog's options, byte for byte as before.

The expected texts were printed by provisioner/dhcp.py when it held the options
in Python (before they moved to templates/common.toml).
"""

from __future__ import annotations

import pytest

from provisioner.catalog import Catalog, DhcpOption, DhcpValue
from provisioner.dhcp import DhcpTarget, snippets

EXPECTED = [
    (
        DhcpTarget("10.0.0.5", 8080, 8443, 6969, "abc"),
        (
            "# --- ISC dhcpd (dhcpd.conf) ---\n"
            "# With a certificate phones trust, use https://10.0.0.5:8443/abc/ instead.\n"
            "# Note: TFTP listens on port 6969; phones use port 69. Run with --tftp"
            "-port 69 (needs CAP_NET_BIND_SERVICE) or redirect 69 to it.\n"
            "option polycom-provisioning code 160 = string;\n"
            "option cisco-tftp-servers code 150 = array of ip-address;\n"
            'option tftp-server-name "http://10.0.0.5:8080/abc/";   # 66: Yealink, '
            "Cisco SPA/MPP, older Polycom\n"
            'option polycom-provisioning "http://10.0.0.5:8080/abc/";   # 160: Poly'
            "com UC Software, Cisco MPP\n"
            "option cisco-tftp-servers 10.0.0.5;   # 150: Cisco 79xx (TFTP)\n"
            "\n"
            '# --- Kea (kea-dhcp4.conf, inside "Dhcp4") ---\n'
            '  "option-def": [\n'
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "code": 160,\n'
            '      "type": "string",\n'
            '      "space": "dhcp4"\n'
            "    },\n"
            "    {\n"
            '      "name": "cisco-tftp-servers",\n'
            '      "code": 150,\n'
            '      "type": "ipv4-address",\n'
            '      "array": true,\n'
            '      "space": "dhcp4"\n'
            "    }\n"
            "  ],\n"
            '  "option-data": [\n'
            "    {\n"
            '      "name": "tftp-server-name",\n'
            '      "data": "http://10.0.0.5:8080/abc/"\n'
            "    },\n"
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "data": "http://10.0.0.5:8080/abc/"\n'
            "    },\n"
            "    {\n"
            '      "name": "cisco-tftp-servers",\n'
            '      "data": "10.0.0.5"\n'
            "    }\n"
            "  ]\n"
            "\n"
            "# --- dnsmasq (dnsmasq.conf) ---\n"
            'dhcp-option=66,"http://10.0.0.5:8080/abc/"\n'
            'dhcp-option=160,"http://10.0.0.5:8080/abc/"\n'
            "dhcp-option=150,10.0.0.5\n"
        ),
    ),
    (
        DhcpTarget("192.0.2.1", 80, 0, 69),
        (
            "# --- ISC dhcpd (dhcpd.conf) ---\n"
            "option polycom-provisioning code 160 = string;\n"
            "option cisco-tftp-servers code 150 = array of ip-address;\n"
            'option tftp-server-name "http://192.0.2.1/";   # 66: Yealink, Cisco SP'
            "A/MPP, older Polycom\n"
            'option polycom-provisioning "http://192.0.2.1/";   # 160: Polycom UC S'
            "oftware, Cisco MPP\n"
            "option cisco-tftp-servers 192.0.2.1;   # 150: Cisco 79xx (TFTP)\n"
            "\n"
            '# --- Kea (kea-dhcp4.conf, inside "Dhcp4") ---\n'
            '  "option-def": [\n'
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "code": 160,\n'
            '      "type": "string",\n'
            '      "space": "dhcp4"\n'
            "    },\n"
            "    {\n"
            '      "name": "cisco-tftp-servers",\n'
            '      "code": 150,\n'
            '      "type": "ipv4-address",\n'
            '      "array": true,\n'
            '      "space": "dhcp4"\n'
            "    }\n"
            "  ],\n"
            '  "option-data": [\n'
            "    {\n"
            '      "name": "tftp-server-name",\n'
            '      "data": "http://192.0.2.1/"\n'
            "    },\n"
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "data": "http://192.0.2.1/"\n'
            "    },\n"
            "    {\n"
            '      "name": "cisco-tftp-servers",\n'
            '      "data": "192.0.2.1"\n'
            "    }\n"
            "  ]\n"
            "\n"
            "# --- dnsmasq (dnsmasq.conf) ---\n"
            'dhcp-option=66,"http://192.0.2.1/"\n'
            'dhcp-option=160,"http://192.0.2.1/"\n'
            "dhcp-option=150,192.0.2.1\n"
        ),
    ),
    (
        DhcpTarget("192.0.2.1", 0, 443, 0),
        (
            "# --- ISC dhcpd (dhcpd.conf) ---\n"
            "option polycom-provisioning code 160 = string;\n"
            "option cisco-tftp-servers code 150 = array of ip-address;\n"
            'option tftp-server-name "https://192.0.2.1/";   # 66: Yealink, Cisco S'
            "PA/MPP, older Polycom\n"
            'option polycom-provisioning "https://192.0.2.1/";   # 160: Polycom UC '
            "Software, Cisco MPP\n"
            "\n"
            '# --- Kea (kea-dhcp4.conf, inside "Dhcp4") ---\n'
            '  "option-def": [\n'
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "code": 160,\n'
            '      "type": "string",\n'
            '      "space": "dhcp4"\n'
            "    },\n"
            "    {\n"
            '      "name": "cisco-tftp-servers",\n'
            '      "code": 150,\n'
            '      "type": "ipv4-address",\n'
            '      "array": true,\n'
            '      "space": "dhcp4"\n'
            "    }\n"
            "  ],\n"
            '  "option-data": [\n'
            "    {\n"
            '      "name": "tftp-server-name",\n'
            '      "data": "https://192.0.2.1/"\n'
            "    },\n"
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "data": "https://192.0.2.1/"\n'
            "    }\n"
            "  ]\n"
            "\n"
            "# --- dnsmasq (dnsmasq.conf) ---\n"
            'dhcp-option=66,"https://192.0.2.1/"\n'
            'dhcp-option=160,"https://192.0.2.1/"\n'
        ),
    ),
    (
        DhcpTarget("192.0.2.1", 0, 0, 0),
        (
            "# --- ISC dhcpd (dhcpd.conf) ---\n"
            "option polycom-provisioning code 160 = string;\n"
            "option cisco-tftp-servers code 150 = array of ip-address;\n"
            'option tftp-server-name "192.0.2.1";   # 66: Yealink, Cisco SPA/MPP, older Polycom\n'
            "\n"
            '# --- Kea (kea-dhcp4.conf, inside "Dhcp4") ---\n'
            '  "option-def": [\n'
            "    {\n"
            '      "name": "polycom-provisioning",\n'
            '      "code": 160,\n'
            '      "type": "string",\n'
            '      "space": "dhcp4"\n'
            "    },\n"
            "    {\n"
            '      "name": "cisco-tftp-servers",\n'
            '      "code": 150,\n'
            '      "type": "ipv4-address",\n'
            '      "array": true,\n'
            '      "space": "dhcp4"\n'
            "    }\n"
            "  ],\n"
            '  "option-data": [\n'
            "    {\n"
            '      "name": "tftp-server-name",\n'
            '      "data": "192.0.2.1"\n'
            "    }\n"
            "  ]\n"
            "\n"
            "# --- dnsmasq (dnsmasq.conf) ---\n"
            'dhcp-option=66,"192.0.2.1"\n'
        ),
    ),
]


@pytest.mark.parametrize(("target", "expected"), EXPECTED)
def test_snippets_are_unchanged(target: DhcpTarget, expected: str) -> None:
    assert snippets(target, Catalog.load().dhcp_options) == expected


def test_an_option_added_in_the_catalog_is_written_everywhere() -> None:
    extra = DhcpOption(159, "cisco-mpp-url", DhcpValue.URL, "Cisco MPP", "string", "string")
    text = snippets(DhcpTarget("192.0.2.1", 80, 0, 0), (*Catalog.load().dhcp_options, extra))
    assert "option cisco-mpp-url code 159 = string;" in text
    assert 'option cisco-mpp-url "http://192.0.2.1/";   # 159: Cisco MPP' in text
    assert '"name": "cisco-mpp-url",\n      "code": 159,\n      "type": "string",' in text
    assert text.endswith('dhcp-option=159,"http://192.0.2.1/"\n')
