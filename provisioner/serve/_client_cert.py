"""Which phone a verified TLS client certificate speaks for (security goal 6).

Polycom, Yealink and Cisco MPP phones carry a factory certificate unique
to the device, issued by the vendor's CA; it names the phone's MAC address
(Polycom: "unique to a device (based on the MAC address)", UC Software
administrator guide). Where exactly the MAC sits differs by vendor and is
not pinned down in our sources, so it is looked for in the subject's common
name and in the subject alternative names, written as 12 hex digits with
or without ``:`` or ``-`` between the pairs (``SEP0004F2123456`` counts:
the digits only have to stand apart from other hex digits).

A certificate that names no MAC (Yealink's *generic* certificate, shared by
many phones) or names two different ones binds to no phone. Only
certificates the TLS layer verified against ``serve --client-ca`` reach this
module: the dictionary is :meth:`ssl.SSLSocket.getpeercert`'s, which is
empty for an unverified peer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["certificate_mac"]

# Six pairs of hex digits, optionally separated, not part of a longer hex run.
_MAC = re.compile(r"(?<![0-9a-f])(?:[0-9a-f]{2}[:\-]?){5}[0-9a-f]{2}(?![0-9a-f])", re.IGNORECASE)


def certificate_mac(peercert: Mapping[str, Any] | None) -> str | None:
    """The one MAC address a verified peer certificate names (canonical), or ``None``."""
    if not peercert:
        return None
    texts: list[str] = []
    for rdn in peercert.get("subject", ()):
        texts.extend(str(value) for key, value in rdn if key == "commonName")
    texts.extend(str(value) for _, value in peercert.get("subjectAltName", ()))
    found = {
        re.sub(r"[:\-]", "", hit.group()).lower() for text in texts for hit in _MAC.finditer(text)
    }
    return found.pop() if len(found) == 1 else None
