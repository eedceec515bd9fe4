"""provisioner.digest_params: the one reader and writer of Digest auth-parameters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from provisioner.digest_params import TOKEN, parse_params, quote, read_param, skip


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ('username="bob"', {"username": "bob"}),
        ('Username = "bob" ,realm="r"', {"username": "bob", "realm": "r"}),
        ("nc=00000001, qop=auth", {"nc": "00000001", "qop": "auth"}),
        ('uri="/a,b c"', {"uri": "/a,b c"}),
        (r'realm="a\"b\\c\d"', {"realm": 'a"b\\cd'}),
        ('a="", b=', {"a": "", "b": ""}),
        ("a=1,,b=2,", {"a": "1", "b": "2"}),
        ("\ta=1 ,\t b=2", {"a": "1", "b": "2"}),
        ("x.y=1", {"x.y": "1"}),
        ("a=1 b=2", None),  # no comma between
        ("a=1, a=2", None),  # a name twice
        ("a=1, A=2", None),  # names are case-insensitive
        ('a="open', None),  # an unterminated quoted string
        ('a=x"y', None),  # a quote in a token
        ("=1", None),
        ("a", None),
        ("a=1, junk", None),
        ("a@b=1", None),
        (" ", None),
    ],
)
def test_parse_params(text: str, expected: dict[str, str] | None) -> None:
    assert parse_params(text) == expected


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ('Digest realm="r", nonce="n"', 7, ("realm", "r", 16)),
        ('Digest realm="r", nonce="n"', 17, ("nonce", "n", 27)),
        ("qop=auth,auth-int", 0, ("qop", "auth", 8)),
        ("Digest realm", 0, None),
    ],
)
def test_read_param(text: str, position: int, expected: tuple[str, str, int] | None) -> None:
    assert read_param(text, position) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", '""'), ("plain", '"plain"'), ('a"b', r'"a\"b"'), ("a\\b", r'"a\\b"')],
)
def test_quote(text: str, expected: str) -> None:
    assert quote(text) == expected


names = st.from_regex(TOKEN, fullmatch=True).filter(lambda n: len(n) <= 12)
values = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)


@given(st.dictionaries(names.map(str.lower), values, max_size=6), st.sampled_from([",", " , "]))
def test_quoted_params_round_trip(params: dict[str, str], comma: str) -> None:
    text = comma.join(f"{name}={quote(value)}" for name, value in params.items())
    assert parse_params(text) == params


def _by_steps(text: str) -> dict[str, str] | None:
    """parse_params as it was written before it became one match per element (the reference)."""
    params: dict[str, str] = {}
    position = 0
    while position < len(text):
        found = read_param(text, position)
        if found is None:
            return None
        name, value, position = found
        if name in params:
            return None
        params[name] = value
        position = skip(text, position, " \t")
        if position < len(text) and text[position] != ",":
            return None
        position = skip(text, position, " \t,")
    return params


_PIECES = st.sampled_from(
    ["a", "B", "nc", "=", '"', "\\", ",", " ", "\t", "\n", "x y", "00000001", "é", '\\"', "-"]
)


@given(st.lists(_PIECES, max_size=14).map("".join))
def test_parse_params_agrees_with_the_step_by_step_reader(text: str) -> None:
    assert parse_params(text) == _by_steps(text)
