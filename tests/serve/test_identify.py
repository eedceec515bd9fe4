"""Identification from User-Agents (vendors.md §1.5, §2.5, §3.3, §3.4), paths and OUIs."""

from __future__ import annotations

import pytest

from provisioner.catalog import Catalog
from provisioner.identify import Identifier

CASES = [
    # Polycom, boot (updater) and application stages
    (
        "FileTransport PolycomSoundPointIP-SPIP_335-UA/3.2.1.0078",
        None,
        ("polycom", "spip335", "3.2.1.0078", None),
    ),
    (
        "FileTransport PolycomSoundPointIP-SPIP_335-UA/4.2.1.0275",
        None,
        ("polycom", "spip335", "4.2.1.0275", None),
    ),
    (
        "FileTransport PolycomSoundStationIP-SSIP_6000-UA/5.0.3.1667 Type/Updater",
        None,
        ("polycom", "ssip6000", "5.0.3.1667", None),
    ),
    (
        "FileTransport PolycomVVX-VVX_450-UA/5.9.1.0615 Type/Application",
        None,
        ("polycom", "vvx450", "5.9.1.0615", None),
    ),
    (
        "FileTransport PolycomSoundPointIP-SPIP_335-UA/4.0.13.1445 (SN:0004f249d83f)"
        " Type/Application",
        None,
        ("polycom", "spip335", "4.0.13.1445", "0004f249d83f"),
    ),
    # Yealink: colons or not, lower-case vendor, two spaces, no MAC
    (
        "Yealink SIP-T46G 28.71.0.81 00:15:65:13:ae:0b",
        None,
        ("yealink", "t46g", "28.71.0.81", "00156513ae0b"),
    ),
    (
        "Yealink SIP-T56A 58.80.0.25 001565f429a4",
        None,
        ("yealink", "t56a", "58.80.0.25", "001565f429a4"),
    ),
    (
        "yealink SIP-T46S 66.85.0.5 80:5e:c0:11:22:33",
        None,
        ("yealink", "t46s", "66.85.0.5", "805ec0112233"),
    ),
    (
        "Yealink SIP-T48G  35.80.0.95 00:15:65:2f:c3:5e",
        None,
        ("yealink", "t48g", "35.80.0.95", "0015652fc35e"),
    ),
    ("Yealink-T46G 28.71.0.81 28.1.0.128.0.0.0", None, ("yealink", "t46g", "28.71.0.81", None)),
    # Cisco SPA and MPP
    (
        "Cisco/SPA508G-7.4.4 (0002FDFF2103)(CBT141400UK)",
        None,
        ("cisco", "spa508g", "7.4.4", "0002fdff2103"),
    ),
    ("Cisco/SPA525G-7.4.4 (CBT141900G7)", None, ("cisco", "spa525g", "7.4.4", None)),
    (
        "Cisco-CP-8841-3PCC/11.0 (00562b043615)",
        None,
        ("cisco", "cp8841-3pcc", "11.0", "00562b043615"),
    ),
    # Cisco 79xx fetch by TFTP with no User-Agent: the path tells the MAC
    ("", "SIP000D28AABBCC.cnf", ("cisco", None, None, "000d28aabbcc")),
    ("", "SEP001B54AABBCC.cnf.xml", ("cisco", None, None, "001b54aabbcc")),
    # A path naming a model
    ("", "spa504G.cfg", ("cisco", "spa504g", None, None)),
    # The OUI settles a name two families share
    ("", "0004f2aabbcc.cfg", ("polycom", None, None, "0004f2aabbcc")),
    # Nothing to tell
    ("curl/8.0", "index.html", (None, None, None, None)),
]

# Real User-Agents that were once misidentified (issue 14): HTTP and SIP forms.
# (user agent, family, model, firmware, MAC)
REAL_AGENTS = [
    # The SPA firmware letter is a release of its own: kept.
    ("Cisco/SPA504G-7.4.9c", "cisco/spa5xx", "spa504g", "7.4.9c", None),
    (
        "Cisco/SPA508G-7.4.9c (0002FDFF2103)(CBT141400UK)",
        "cisco/spa5xx",
        "spa508g",
        "7.4.9c",
        "0002fdff2103",
    ),
    # Yealink's suffixed model token.
    ("Yealink SIP-T58A 58.83.0.15", "yealink/tseries", "t58", "58.83.0.15", None),
    (
        "Yealink SIP-T58A 58.83.0.15 80:5e:c0:11:22:33",
        "yealink/tseries",
        "t58",
        "58.83.0.15",
        "805ec0112233",
    ),
    # Cisco SIP User-Agents of the 7940/7960 and the 79x1/79x5/797x.
    ("Cisco-CP7960G/8.0", "cisco/sip79xx", "cp7960", "8.0", None),
    ("Cisco-CP7940G/8.0", "cisco/sip79xx", "cp7940", "8.0", None),
    ("Cisco-CP7975G/9.3.1", "cisco/sip79x1", "cp7975g", "9.3.1", None),
    ("Cisco-CP7970G/8.4.0", "cisco/sip79x1", "cp7970g", "8.4.0", None),
    # Polycom SIP form: no FileTransport; UC Software 6.x adds _<mac>.
    ("PolycomVVX-VVX_350-UA/5.9.5.0614", "polycom/ucs", "vvx350", "5.9.5.0614", None),
    (
        "PolycomVVX-VVX_150-UA/6.4.1.2280_482567164887",
        "polycom/ucs",
        "vvx150",
        "6.4.1.2280",
        "482567164887",
    ),
]


@pytest.mark.parametrize(("user_agent", "family", "model", "firmware", "mac"), REAL_AGENTS)
def test_real_user_agents(
    catalog: Catalog,
    user_agent: str,
    family: str,
    model: str,
    firmware: str,
    mac: str | None,
) -> None:
    found = Identifier(catalog).identify(user_agent)
    assert (found.family, found.model, found.firmware, found.mac) == (family, model, firmware, mac)


@pytest.mark.parametrize(("user_agent", "path", "expected"), CASES)
def test_identify(
    catalog: Catalog,
    user_agent: str,
    path: str | None,
    expected: tuple[str | None, str | None, str | None, str | None],
) -> None:
    found = Identifier(catalog).identify(user_agent or None, path)
    assert (found.vendor, found.model, found.firmware, found.mac) == expected


def test_user_agent_wins_over_path(catalog: Catalog) -> None:
    found = Identifier(catalog).identify(
        "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615", "0004f2aabbcc-settings.cfg"
    )
    assert (found.model, found.mac) == ("vvx410", "0004f2aabbcc")
