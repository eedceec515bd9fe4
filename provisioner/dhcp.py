"""DHCP configuration snippets that point phones at this server.

Which option each vendor reads (vendors.md §4): Polycom option 160 (a URL;
preferred over 66 when both are given, seed 003 §7.3.2) or 66; Yealink 66
(or a custom option 128-254) with a URL; Cisco 79xx option 150 (a list of
TFTP server IPs) or 66; Cisco SPA/MPP 66 (a host or full URL), MPP also
160/159/150. Phones fetch from option 66/150 by TFTP on port 69: a TFTP
server on another port is unreachable for them.
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass

__all__ = ["DhcpTarget", "snippets"]


@dataclass(frozen=True, slots=True)
class DhcpTarget:
    """Where phones should fetch from."""

    address: str  # IPv4 address phones can reach
    http_port: int  # 0: no HTTP
    https_port: int  # 0: no HTTPS
    tftp_port: int  # 0: no TFTP
    token: str = ""  # tenant URL prefix

    def url(self, scheme: str) -> str:
        """The provisioning URL phones use, for ``http`` or ``https``."""
        port = self.https_port if scheme == "https" else self.http_port
        default = 443 if scheme == "https" else 80
        host = self.address if port in (default, 0) else f"{self.address}:{port}"
        prefix = f"/{self.token}/" if self.token else "/"
        return f"{scheme}://{host}{prefix}"


def snippets(target: DhcpTarget) -> str:
    """ISC dhcpd, Kea and dnsmasq lines for options 66, 160 and 150."""
    ipaddress.IPv4Address(target.address)  # DHCPv4 options carry IPv4 addresses
    # Plain HTTP when it is on: phones refuse a certificate they do not trust,
    # and the generated one is self-signed. Switch to the HTTPS URL (printed
    # as a comment) once the server has a certificate the phones trust.
    url = ""
    if target.http_port:
        url = target.url("http")
    elif target.https_port:
        url = target.url("https")
    option66 = url or target.address
    lines = ["# --- ISC dhcpd (dhcpd.conf) ---"]
    if target.http_port and target.https_port:
        lines.append(f"# With a certificate phones trust, use {target.url('https')} instead.")
    if target.tftp_port and target.tftp_port != 69:
        lines.append(
            f"# Note: TFTP listens on port {target.tftp_port}; phones use port 69. Run with "
            "--tftp-port 69 (needs CAP_NET_BIND_SERVICE) or redirect 69 to it."
        )
    lines += [
        "option polycom-provisioning code 160 = string;",
        "option cisco-tftp-servers code 150 = array of ip-address;",
        f'option tftp-server-name "{option66}";   # 66: Yealink, Cisco SPA/MPP, older Polycom',
    ]
    if url:
        lines.append(
            f'option polycom-provisioning "{url}";   # 160: Polycom UC Software, Cisco MPP'
        )
    if target.tftp_port:
        lines.append(f"option cisco-tftp-servers {target.address};   # 150: Cisco 79xx (TFTP)")
    lines += ["", '# --- Kea (kea-dhcp4.conf, inside "Dhcp4") ---']
    option_data: list[dict[str, object]] = [{"name": "tftp-server-name", "data": option66}]
    if url:
        option_data.append({"name": "polycom-provisioning", "data": url})
    if target.tftp_port:
        option_data.append({"name": "cisco-tftp-servers", "data": target.address})
    kea = {
        "option-def": [
            {"name": "polycom-provisioning", "code": 160, "type": "string", "space": "dhcp4"},
            {
                "name": "cisco-tftp-servers",
                "code": 150,
                "type": "ipv4-address",
                "array": True,
                "space": "dhcp4",
            },
        ],
        "option-data": option_data,
    }
    lines.append(json.dumps(kea, indent=2)[1:-1].strip("\n"))
    lines += ["", "# --- dnsmasq (dnsmasq.conf) ---", f'dhcp-option=66,"{option66}"']
    if url:
        lines.append(f'dhcp-option=160,"{url}"')
    if target.tftp_port:
        lines.append(f"dhcp-option=150,{target.address}")
    return "\n".join(lines) + "\n"
