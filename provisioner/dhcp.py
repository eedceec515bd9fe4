"""DHCP configuration snippets that point phones at this server.

The options, and which vendor reads which, come from the catalog
(``[[dhcp_options]]`` in ``templates/common.toml``, vendors.md §4); this
module only writes them out for ISC dhcpd, Kea and dnsmasq. Phones fetch
from option 66/150 by TFTP on port 69: a TFTP server on another port is
unreachable for them.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass

from provisioner.catalog import DhcpOption, DhcpValue

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


def snippets(target: DhcpTarget, options: Sequence[DhcpOption]) -> str:
    """ISC dhcpd, Kea and dnsmasq lines for ``options`` (the catalog's)."""
    ipaddress.IPv4Address(target.address)  # DHCPv4 options carry IPv4 addresses
    # Plain HTTP when it is on: phones refuse a certificate they do not trust,
    # and the generated one is self-signed. Switch to the HTTPS URL (printed
    # as a comment) once the server has a certificate the phones trust.
    url = ""
    if target.http_port:
        url = target.url("http")
    elif target.https_port:
        url = target.url("https")
    values = {
        DhcpValue.URL_OR_ADDRESS: url or target.address,
        DhcpValue.URL: url,
        DhcpValue.TFTP_ADDRESS: target.address if target.tftp_port else "",
    }
    given = [(o, values[o.value]) for o in options if values[o.value]]
    defined = [o for o in options if o.isc_type]
    lines = ["# --- ISC dhcpd (dhcpd.conf) ---"]
    if target.http_port and target.https_port:
        lines.append(f"# With a certificate phones trust, use {target.url('https')} instead.")
    if target.tftp_port and target.tftp_port != 69:
        lines.append(
            f"# Note: TFTP listens on port {target.tftp_port}; phones use port 69. Run with "
            "--tftp-port 69 (needs CAP_NET_BIND_SERVICE) or redirect 69 to it."
        )
    lines += [f"option {o.name} code {o.code} = {o.isc_type};" for o in defined]
    lines += [f"option {o.name} {_quoted(o, v)};   # {o.code}: {o.readers}" for o, v in given]
    lines += ["", '# --- Kea (kea-dhcp4.conf, inside "Dhcp4") ---']
    kea = {
        "option-def": [_kea_definition(o) for o in defined],
        "option-data": [{"name": o.name, "data": v} for o, v in given],
    }
    lines.append(json.dumps(kea, indent=2)[1:-1].strip("\n"))
    lines += ["", "# --- dnsmasq (dnsmasq.conf) ---"]
    lines += [f"dhcp-option={o.code},{_quoted(o, v)}" for o, v in given]
    return "\n".join(lines) + "\n"


def _quoted(option: DhcpOption, value: str) -> str:
    # Addresses are written bare; text (a URL or host name) is a quoted string.
    return value if option.value is DhcpValue.TFTP_ADDRESS else f'"{value}"'


def _kea_definition(option: DhcpOption) -> dict[str, object]:
    definition: dict[str, object] = {
        "name": option.name,
        "code": option.code,
        "type": option.kea_type,
    }
    if option.kea_array:
        definition["array"] = True
    definition["space"] = "dhcp4"
    return definition
