"""The one rule for "does a phone's reported firmware version match this one".

Used wherever a reported version (the ``firmware`` group of a family's
User-Agent pattern) is compared with a version the server holds: a
firmware set's version (rollouts) and a phone's ``firmware.version``
setting (``provisioner seen``).

Why from the end: Polycom's ``sip.ver`` and Cisco's ``--version`` hold the
whole version the phone reports (``5.9.1.0615``, ``12.0.7``), so they match
exactly. Yealink puts a hardware-platform number first (``66.86.0.20`` on a
T46S, ``96.86.0.20`` on a T48U, Yealink firmware release notes), and a set
holding images for several platforms can only name the tail they share
(``86.0.20``); the phone reporting ``66.86.0.20`` runs it. A shortened
prefix (``5.9`` for ``5.9.1.0615``) is not a match: it names no one image.
"""

from __future__ import annotations

__all__ = ["common_suffix", "version_matches"]


def version_matches(version: str, reported: str) -> bool:
    """True when a phone reporting ``reported`` runs firmware ``version``.

    Dotted components are compared as text from the end, so ``85.0.5``
    matches ``66.85.0.5`` and ``5.9.1.0615`` only itself; letters are part
    of the version (``7.4.9`` does not match ``7.4.9c``; case is ignored);
    an empty side never matches.
    """
    if not version or not reported:
        return False
    want, have = version.lower().split("."), reported.lower().split(".")
    return len(have) >= len(want) and have[len(have) - len(want) :] == want


def common_suffix(versions: list[str]) -> str:
    """The dotted components all ``versions`` share at their end (``""`` when none)."""
    parts = [v.split(".") for v in versions]
    shared: list[str] = []
    for column in zip(*(reversed(p) for p in parts), strict=False):
        if len(set(column)) != 1:
            break
        shared.append(column[0])
    return ".".join(reversed(shared))
