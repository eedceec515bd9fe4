"""Digest, client side: RFC vectors, every algorithm and qop, choosing among challenges."""

from __future__ import annotations

import hashlib

import pytest

from provisioner.sip import Challenge, authorization, choose, parse_challenges

# RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
RFC7616 = {
    "realm": "http-auth@example.org",
    "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
    "opaque": "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS",
    "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
}


def rfc7616(
    algorithm: str,
    *,
    method: str = "GET",
    uri: str = "/dir/index.html",
    qop: str = "auth",
    nc: int = 1,
    body: bytes = b"",
) -> str:
    challenge = Challenge(
        realm=RFC7616["realm"],
        nonce=RFC7616["nonce"],
        algorithm=algorithm,
        qop=(qop,),
        opaque=RFC7616["opaque"],
    )
    return authorization(
        challenge,
        method=method,
        uri=uri,
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616["cnonce"],
        nc=nc,
        body=body,
    )


def hexdigest(algorithm: str, text: str) -> str:
    return hashlib.new(algorithm, text.encode()).hexdigest()


def response_of(header: str) -> str:
    return header.split('response="')[1].split('"')[0]


def test_rfc2617_example() -> None:
    """RFC 2617 §3.5: MD5, qop=auth; algorithm named by neither side."""
    challenge = parse_challenges(
        [
            'Digest realm="testrealm@host.com", qop="auth,auth-int", '
            'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
            'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
        ]
    )[0]
    header = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="0a4f113b",
    )
    assert header == (
        'Digest username="Mufasa", realm="testrealm@host.com", uri="/dir/index.html", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", nc=00000001, cnonce="0a4f113b", '
        'qop=auth, response="6629fae49393a05397450978507c4ef1", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )


def test_rfc7616_md5() -> None:
    header = rfc7616("MD5")
    assert header == (
        'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", '
        'algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
        'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, '
        'response="8ca523f5e9506fed4657c9700eebdbec", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )


def test_rfc7616_sha256() -> None:
    assert response_of(rfc7616("SHA-256")) == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    )


def test_rfc7616_sha512_256_with_erratum() -> None:
    """RFC 7616 §3.9.2 (SHA-512-256, a UTF-8 username) as corrected by erratum 4897.

    The RFC's printed response is of SHA-512 truncated to 256 bits, not of
    SHA-512/256; the erratum's value (also SIPp's) is the real one.
    """
    challenge = Challenge(
        realm="api@example.org",
        nonce="5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK",
        algorithm="SHA-512-256",
        qop=("auth",),
        opaque="HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS",
    )
    header = authorization(
        challenge,
        method="GET",
        uri="/doe.json",
        username="J\u00e4s\u00f8n Doe",
        password="Secret, or not?",
        cnonce="NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v",
    )
    assert response_of(header) == (
        "3798d4131c277846293534c3edc11bd8a5e4cdcbff78b05db9d95eeb1cec68a5"
    )


# The RFC 7616 §3.9.1 request with the other algorithms and qops, as SIPp's
# OpenSSL-based implementation computes them (its src/auth.cpp unit tests).
@pytest.mark.parametrize(
    ("algorithm", "qop", "expected"),
    [
        ("SHA-512-256", "auth", "430d05014cecc49cab6fbe03176d41a1da86cbfe24a16580e22aaad928d960d0"),
        ("MD5-sess", "auth", "e783283f46242139c486a698fec7211d"),
        (
            "SHA-256-sess",
            "auth",
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7",
        ),
        (
            "SHA-512-256-sess",
            "auth",
            "3f2a34f923c38b0fb26dce2fdfc2ce326c23cecf86fbb1444f3e51fbbc2cb92e",
        ),
    ],
)
def test_rfc7616_request_other_algorithms(algorithm: str, qop: str, expected: str) -> None:
    assert response_of(rfc7616(algorithm, qop=qop)) == expected


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "3dbb0971468cf612bdccd7dff696c5e6"),
        ("SHA-256", "21468b02aafd4fe0a3d84bfddaf3618cc087adff4bb3c92d0a5f99c3035fcb9a"),
        ("SHA-512-256", "959ca26f4f77c10a9a54b19ac24811fbc7f3c7bda8eec5d8521fb4586ed10e90"),
        ("MD5-sess", "11713a2ffc80446ab4c404a4a997b69c"),
    ],
)
def test_auth_int(algorithm: str, expected: str) -> None:
    """qop=auth-int hashes the body into HA2 (also SIPp's values)."""
    header = rfc7616(
        algorithm, method="INVITE", uri="sip:bob@example.org", qop="auth-int", nc=2, body=b"v=0\r\n"
    )
    assert response_of(header) == expected
    assert "nc=00000002" in header
    assert "qop=auth-int" in header


def test_no_qop_is_rfc2069() -> None:
    """Without qop: response = H(HA1:nonce:HA2), no nc, cnonce or qop in the answer."""
    challenge = Challenge(realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093")
    header = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle Of Life",
        cnonce="unused",
    )
    assert header == (
        'Digest username="Mufasa", realm="testrealm@host.com", uri="/dir/index.html", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
        'response="670fd8c2df070c60b045671b8b24ff02"'
    )
    ha1 = hexdigest("md5", "Mufasa:testrealm@host.com:Circle Of Life")
    ha2 = hexdigest("md5", "GET:/dir/index.html")
    assert hexdigest("md5", f"{ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:{ha2}") == (
        "670fd8c2df070c60b045671b8b24ff02"
    )


def test_sha512_256_without_qop() -> None:
    header = authorization(
        Challenge(realm="r", nonce="n", algorithm="SHA-512-256"),
        method="NOTIFY",
        uri="sip:201@10.0.0.7",
        username="201",
        password="pw",
        cnonce="unused",
    )
    ha1 = hexdigest("sha512_256", "201:r:pw")
    ha2 = hexdigest("sha512_256", "NOTIFY:sip:201@10.0.0.7")
    expected = hexdigest("sha512_256", f"{ha1}:n:{ha2}")
    assert response_of(header) == expected
    assert "algorithm=SHA-512-256" in header
    assert "cnonce" not in header


def test_quoting_and_case() -> None:
    header = authorization(
        Challenge(realm='a "quoted" realm', nonce="n", algorithm="sha-256", qop=("auth",)),
        method="NOTIFY",
        uri="sip:x",
        username='us"er\\',
        password="p",
        cnonce="c",
        nc=0x1A,
    )
    assert header.startswith('Digest username="us\\"er\\\\", realm="a \\"quoted\\" realm"')
    assert "algorithm=sha-256," in header  # echoed as the server spelled it
    assert "nc=0000001a" in header
    assert "opaque" not in header


@pytest.mark.parametrize(
    "challenge",
    [
        Challenge(realm="r", nonce="n", algorithm="AKAv1-MD5"),
        Challenge(realm="r", nonce="n", algorithm="SHA-384", qop=("auth",)),
        Challenge(realm="r", nonce="n", algorithm="MD5-sess"),  # -sess needs a cnonce: a qop
        Challenge(realm="r", nonce="n", qop=("auth-conf",)),
    ],
)
def test_unanswerable(challenge: Challenge) -> None:
    assert choose([challenge]) is None
    with pytest.raises(ValueError, match="cannot answer"):
        authorization(
            challenge, method="NOTIFY", uri="sip:x", username="u", password="p", cnonce="c"
        )


def test_parse_challenges() -> None:
    values = [
        'Basic realm="x", Digest realm="a, Digest b", nonce=1, algorithm=MD5',
        'digest REALM = "r2" , Nonce="n2", qop=auth,auth-int, ALGORITHM=SHA-256-sess',
        'Digest realm="no nonce"',
        'Newscheme abc==, Digest realm="r3", nonce="n\\"3", qop="auth , auth-int ", opaque=""',
        'Digest realm="r4", nonce="n4", realm="ignored repeat", qop=auth, auth-int ,stale=true',
    ]
    assert parse_challenges(values) == [
        Challenge(realm="a, Digest b", nonce="1", algorithm="MD5"),
        Challenge(realm="r2", nonce="n2", algorithm="SHA-256-sess", qop=("auth", "auth-int")),
        Challenge(realm="r3", nonce='n"3', qop=("auth", "auth-int"), opaque=""),
        Challenge(realm="r4", nonce="n4", qop=("auth", "auth-int")),
    ]


@pytest.mark.parametrize(
    ("values", "realm"),
    [
        # Strongest first: SHA-512-256 > SHA-256 > MD5, wherever it is listed.
        (
            [
                'Digest realm="md5", nonce="1", algorithm=MD5, qop="auth"',
                'Digest realm="sha256", nonce="2", algorithm=SHA-256, qop="auth"',
                'Digest realm="sha512", nonce="3", algorithm=SHA-512-256, qop="auth"',
            ],
            "sha512",
        ),
        # Several challenges on one line.
        (
            [
                'Digest realm="sha256", nonce="2", algorithm=SHA-256, qop="auth", '
                'Digest realm="md5", nonce="1", qop="auth"'
            ],
            "sha256",
        ),
        # Equal strength: the server's first (RFC 7616 §3.7).
        (
            [
                'Digest realm="sess", nonce="1", algorithm=SHA-256-sess, qop="auth"',
                'Digest realm="plain", nonce="2", algorithm=SHA-256, qop="auth"',
            ],
            "sess",
        ),
        # Unknown or unanswerable ones are passed over.
        (
            [
                'Digest realm="aka", nonce="1", algorithm=AKAv1-MD5',
                'Digest realm="sess-no-qop", nonce="2", algorithm=SHA-512-256-sess',
                'Digest realm="md5", nonce="3"',
            ],
            "md5",
        ),
    ],
)
def test_choose(values: list[str], realm: str) -> None:
    chosen = choose(parse_challenges(values))
    assert chosen is not None
    assert chosen.realm == realm


def test_choose_none() -> None:
    assert choose([]) is None
    assert choose(parse_challenges(['Basic realm="x"'])) is None
