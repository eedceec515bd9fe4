"""Digest authentication (RFC 7616) and basic over TLS, server side."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.digest_params import parse_params
from provisioner.serve._digest import NONCE_LIFETIME, DigestAuth

REALM = "provisioner"
USER, PASSWORD = "0004f2aabbcc", "s3cret-pass"
URI = "/0004f2aabbcc-settings.cfg"


def answer(
    nonce: str,
    *,
    algorithm: str = "MD5",
    password: str = PASSWORD,
    nc: str = "00000001",
    uri: str = URI,
    realm: str = REALM,
    user: str = USER,
    method: str = "GET",
) -> str:
    """What a phone sends back (RFC 7616 §3.4.1, qop=auth)."""

    def h(data: bytes) -> str:
        hashed = hashlib.md5(data) if algorithm == "MD5" else hashlib.sha256(data)
        return hashed.hexdigest()

    ha1 = h(f"{user}:{realm}:{password}".encode())
    ha2 = h(f"{method}:{uri}".encode())
    response = h(f"{ha1}:{nonce}:{nc}:abcdef:auth:{ha2}".encode())
    return (
        f'Digest username="{user}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
        f'algorithm={algorithm}, qop=auth, nc={nc}, cnonce="abcdef", response="{response}"'
    )


def verify(auth: DigestAuth, header: str, now: float, *, tls: bool = False) -> tuple[bool, bool]:
    verdict = auth.verify(
        header, method="GET", uri=URI, realm=REALM, user=USER, password=PASSWORD, now=now, tls=tls
    )
    return verdict.ok, verdict.stale


def test_challenge_offers_sha256_then_md5() -> None:
    values = DigestAuth(b"k" * 32).challenge(REALM, 1000.0)
    assert [v.split("algorithm=")[1].split(",")[0] for v in values] == ["SHA-256", "MD5"]
    assert all('qop="auth"' in v and f'realm="{REALM}"' in v for v in values)


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_correct_answer_is_accepted_once(algorithm: str) -> None:
    auth = DigestAuth(b"k" * 32)
    nonce = auth.nonce(REALM, 1000.0)
    header = answer(nonce, algorithm=algorithm)
    assert verify(auth, header, 1001.0) == (True, False)
    assert verify(auth, header, 1002.0) == (False, False)  # replayed nc
    assert verify(auth, answer(nonce, algorithm=algorithm, nc="00000002"), 1003.0) == (True, False)


def test_counts_may_arrive_out_of_order_but_only_once() -> None:
    auth = DigestAuth(b"k" * 32)
    nonce = auth.nonce(REALM, 1000.0)
    for nc in (5, 3, 4, 1, 2):
        assert verify(auth, answer(nonce, nc=f"{nc:08x}"), 1001.0) == (True, False), nc
    for nc in (1, 3, 5):
        assert verify(auth, answer(nonce, nc=f"{nc:08x}"), 1001.0) == (False, False), nc
    assert verify(auth, answer(nonce, nc=f"{300:08x}"), 1001.0) == (True, False)
    assert verify(auth, answer(nonce, nc=f"{10:08x}"), 1001.0) == (False, False)  # below the window


@pytest.mark.parametrize("algorithm", ["MD5", "SHA-256"])
def test_a_changed_password_or_algorithm_is_not_answered_from_a_kept_ha1(algorithm: str) -> None:
    auth = DigestAuth(b"k" * 32)
    nonce = auth.nonce(REALM, 1000.0)
    assert verify(auth, answer(nonce, algorithm=algorithm), 1001.0) == (True, False)
    other = "MD5" if algorithm == "SHA-256" else "SHA-256"
    assert verify(auth, answer(nonce, algorithm=other, nc="00000002"), 1001.0) == (True, False)

    def with_changed_password(header: str) -> bool:
        verdict = auth.verify(
            header,
            method="GET",
            uri=URI,
            realm=REALM,
            user=USER,
            password="changed-pass",
            now=1001.0,
            tls=False,
        )
        return verdict.ok

    assert not with_changed_password(answer(nonce, algorithm=algorithm, nc="00000003"))
    new = answer(nonce, algorithm=algorithm, nc="00000004", password="changed-pass")
    assert with_changed_password(new)


def test_wrong_things_are_refused() -> None:
    auth = DigestAuth(b"k" * 32)
    nonce = auth.nonce(REALM, 1000.0)
    assert verify(auth, answer(nonce, password="wrong"), 1001.0) == (False, False)
    assert verify(auth, answer(nonce, user="someone"), 1001.0) == (False, False)
    assert verify(auth, answer(nonce, uri="/other.cfg"), 1001.0) == (False, False)
    assert verify(auth, answer(nonce, realm="other"), 1001.0) == (False, False)
    forged = f"{1000:x}.AAAAAAAAAAAAAAAAAAAAAAAA"
    assert verify(auth, answer(forged), 1001.0) == (False, False)
    issued, salt, signature = auth.nonce(REALM, 1000.0).split(".")
    for altered in (f"{1001:x}.{salt}.{signature}", f"{issued}.AAAAAAAAAAAA.{signature}"):
        assert verify(auth, answer(altered), 1001.0) == (False, False), altered
    other_key = DigestAuth(b"x" * 32).nonce(REALM, 1000.0)
    assert verify(auth, answer(other_key), 1001.0) == (False, False)
    assert verify(auth, "Digest garbage", 1001.0) == (False, False)
    assert verify(auth, "Bearer abc", 1001.0) == (False, False)


def test_phones_challenged_in_the_same_second_do_not_share_a_nonce() -> None:
    # Each answers its own challenge with nc=00000001; a shared nonce would
    # make every answer after the first look like a replay.
    auth = DigestAuth(b"k" * 32)
    nonces = [auth.nonce(REALM, 1000.0) for _ in range(50)]
    assert len(set(nonces)) == 50
    for nonce in nonces:
        assert verify(auth, answer(nonce), 1000.5) == (True, False)


def test_expired_nonce_is_stale_not_wrong() -> None:
    auth = DigestAuth(b"k" * 32)
    nonce = auth.nonce(REALM, 1000.0)
    assert verify(auth, answer(nonce), 1000.0 + NONCE_LIFETIME + 1) == (False, True)
    assert verify(auth, answer(nonce, password="bad"), 1000.0 + NONCE_LIFETIME + 1) == (
        False,
        False,
    )


def test_basic_only_over_tls() -> None:
    auth = DigestAuth(b"k" * 32)
    header = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert verify(auth, header, 1.0, tls=True) == (True, False)
    assert verify(auth, header, 1.0, tls=False) == (False, False)
    bad = "Basic " + base64.b64encode(f"{USER}:nope".encode()).decode()
    assert verify(auth, bad, 1.0, tls=True) == (False, False)


values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)


@given(
    st.dictionaries(st.from_regex(r"[a-z][a-z0-9_\-]{0,10}", fullmatch=True), values, max_size=6)
)
def test_parse_params_round_trip(params: dict[str, str]) -> None:
    text = ", ".join(
        f'{k}="' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for k, v in params.items()
    )
    assert parse_params(text) == params
