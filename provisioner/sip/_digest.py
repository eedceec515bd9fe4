"""Digest authentication, client side: answering a 401/407 challenge.

SIP uses HTTP Digest (RFC 3261 §22.4) as RFC 2617 defined it, extended by
RFC 7616 (SHA-256, SHA-512-256, the ``-sess`` variants for each) and
brought to SIP by RFC 8760, which also deprecates MD5. A phone's challenge
arrives in ``WWW-Authenticate`` (401) or ``Proxy-Authenticate`` (407); the
answer goes in ``Authorization`` or ``Proxy-Authorization``.

* **Several challenges** (several header lines, or several challenges in
  one line, RFC 7235 §4.1): :func:`choose` takes the strongest one we can
  answer, SHA-512-256 > SHA-256 > MD5, and the first of equals (the
  server lists its preference first, RFC 7616 §3.7).
* **qop**: ``auth`` when offered, else ``auth-int`` (the body is hashed
  too). No qop at all is RFC 2069 compatibility: then there is no nonce
  count or cnonce, so a ``-sess`` algorithm cannot be answered.
* **SHA-512-256** is SHA-512/256 of FIPS 180-4 (RFC 7616 §3.2, RFC 8760
  §2.2), ``hashlib``'s ``sha512_256``. The example in RFC 7616 §3.9.2 was
  computed with SHA-512 truncated to 256 bits instead; erratum 4897 gives
  the corrected values, which the tests use.
* Not supported: ``userhash`` (we send the plain username, which RFC 7616
  §3.4.4 allows), ``username*`` for non-ASCII names, AKA.

The cnonce is an argument: this module draws no randomness.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from provisioner.digest_params import TOKEN, quote, read_param, skip

__all__ = ["Challenge", "authorization", "choose", "parse_challenges"]

# algorithm (upper case) -> (hashlib name, -sess, strength for choose())
_ALGORITHMS = {
    "MD5": ("md5", False, 0),
    "MD5-SESS": ("md5", True, 0),
    "SHA-256": ("sha256", False, 1),
    "SHA-256-SESS": ("sha256", True, 1),
    "SHA-512-256": ("sha512_256", False, 2),
    "SHA-512-256-SESS": ("sha512_256", True, 2),
}
_BARE = re.compile(TOKEN)


@dataclass(frozen=True, slots=True)
class Challenge:
    """One Digest challenge: what the answer needs from it.

    ``algorithm`` is as the server spelled it, or ``None`` when it named
    none (then MD5, and the answer names none either, as RFC 2069 expects);
    ``qop`` holds the offered options, lower-cased.
    """

    realm: str
    nonce: str
    algorithm: str | None = None
    qop: tuple[str, ...] = ()
    opaque: str | None = None


def parse_challenges(values: Iterable[str]) -> list[Challenge]:
    """Every Digest challenge in these WWW-Authenticate / Proxy-Authenticate values.

    Other schemes, and Digest challenges without a realm or nonce, are
    skipped. A bare qop list (``qop=auth,auth-int`` unquoted, as some
    servers send) is read as one list, not as a new challenge.
    """
    challenges = []
    for value in values:
        for scheme, params in _split(value):
            if scheme.lower() != "digest" or "realm" not in params or "nonce" not in params:
                continue
            qop = params.get("qop")
            challenges.append(
                Challenge(
                    realm=params["realm"],
                    nonce=params["nonce"],
                    algorithm=params.get("algorithm"),
                    qop=tuple(q.strip().lower() for q in qop.split(",")) if qop else (),
                    opaque=params.get("opaque"),
                )
            )
    return challenges


def _split(value: str) -> list[tuple[str, dict[str, str]]]:
    """(scheme, parameters) for each challenge in one header value."""
    found: list[tuple[str, dict[str, str]]] = []
    params: dict[str, str] = {}
    last = ""
    position = skip(value, 0, " \t,")
    while position < len(value):
        param = read_param(value, position)
        if param is not None:
            name, raw, position = param
            if found:
                params.setdefault(name, raw)  # a repeated parameter: the first counts
            last = name
        else:
            bare = _BARE.match(value, position)
            if bare is None:
                break  # not a challenge list: keep what was read so far
            position = bare.end()
            after = skip(value, position, " \t")
            if position < after < len(value) and value[after] != ",":
                # A token, whitespace, then a parameter: the scheme of a new challenge.
                params = {}
                found.append((bare.group(), params))
                last = ""
            elif last == "qop" and found:
                params["qop"] += "," + bare.group()
        position = skip(value, position, " \t,")
    return found


def _answerable(challenge: Challenge) -> int | None:
    """The strength of the challenge's algorithm, or ``None`` if we cannot answer it."""
    known = _ALGORITHMS.get((challenge.algorithm or "MD5").upper())
    if known is None:
        return None
    _, sess, strength = known
    if challenge.qop:
        if "auth" not in challenge.qop and "auth-int" not in challenge.qop:
            return None
    elif sess:
        return None  # -sess hashes the cnonce, which exists only with a qop
    return strength


def choose(challenges: Iterable[Challenge]) -> Challenge | None:
    """The strongest challenge we can answer, the first of equals; ``None`` if none."""
    best: Challenge | None = None
    best_strength = -1
    for challenge in challenges:
        strength = _answerable(challenge)
        if strength is not None and strength > best_strength:
            best, best_strength = challenge, strength
    return best


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """The ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``.

    ``uri`` is the Request-URI (§22.4: the digest-uri is the Request-URI
    of the request being authorised), ``nc`` the nonce count (1 for the
    first use of a nonce) and ``cnonce`` a fresh unpredictable token; both
    are sent only when the challenge offered a qop.

    :raises ValueError: for a challenge :func:`choose` would not pick.
    """
    if _answerable(challenge) is None:
        raise ValueError(f"cannot answer a Digest challenge with algorithm {challenge.algorithm}")
    name, sess, _ = _ALGORITHMS[(challenge.algorithm or "MD5").upper()]

    def digest(*parts: str | bytes) -> str:
        data = b":".join(p.encode() if isinstance(p, str) else p for p in parts)
        return hashlib.new(name, data, usedforsecurity=False).hexdigest()

    qop = "auth" if "auth" in challenge.qop else "auth-int" if challenge.qop else None
    count = f"{nc:08x}"
    ha1 = digest(username, challenge.realm, password)
    if sess:
        ha1 = digest(ha1, challenge.nonce, cnonce)  # RFC 7616 §3.4.2
    ha2 = digest(method, uri, digest(body)) if qop == "auth-int" else digest(method, uri)
    if qop is None:
        response = digest(ha1, challenge.nonce, ha2)  # RFC 2069
    else:
        response = digest(ha1, challenge.nonce, count, cnonce, qop, ha2)  # RFC 7616 §3.4.1
    # The order of RFC 7616 §3.9.1. The nonce must precede the cnonce: SIPp
    # before 3.7 finds "nonce" by substring and would read the cnonce.
    params = [f"username={quote(username)}", f"realm={quote(challenge.realm)}"]
    params.append(f"uri={quote(uri)}")
    if challenge.algorithm is not None:
        params.append(f"algorithm={challenge.algorithm}")
    params.append(f"nonce={quote(challenge.nonce)}")
    if qop is not None:
        params += [f"nc={count}", f"cnonce={quote(cnonce)}", f"qop={qop}"]
    params.append(f"response={quote(response)}")
    if challenge.opaque is not None:
        params.append(f"opaque={quote(challenge.opaque)}")  # echoed unchanged (§3.4)
    return "Digest " + ", ".join(params)
