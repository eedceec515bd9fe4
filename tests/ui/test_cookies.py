"""The UI's cookies and its ``next`` redirect (provisioner/ui/_handler.py), without a browser."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from provisioner.ui._handler import SESSION_COOKIE, UiHandler, _local


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_session_cookie_is_httponly_strict_and_secure_over_https(scheme: str) -> None:
    request = make_mocked_request("POST", "/ui/login").clone(scheme=scheme)
    response = web.Response()
    UiHandler._cookie(response, request, SESSION_COOKIE, "token")
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie.value == "token"
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/ui/"
    assert bool(cookie["secure"]) is (scheme == "https")


@pytest.mark.parametrize(
    ("target", "kept"),
    [
        ("/ui/phones?q=1", "/ui/phones?q=1"),
        ("https://evil.example/ui/", ""),
        ("//evil.example/ui/", ""),
        ("/ui/\\\\evil.example", ""),
        ("/api/v1/phones", ""),
        ("", ""),
    ],
)
def test_login_returns_only_to_a_page_of_the_ui(target: str, kept: str) -> None:
    assert _local(target) == kept
