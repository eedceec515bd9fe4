"""A preview's per-phone diffs show each file against what the phone gets now and last fetched."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.ui._handler import template_environment

NOW = "--- a\n+++ b\n-lang=English\n+lang=French\n"
BEFORE = "--- a\n+++ b\n-lang=German\n+lang=French\n"


def _render(file: dict[str, Any]) -> str:
    phones = [{"mac": "805ec0000001", "tenant": "acme", "files": [file]}]
    template = template_environment().get_template("_diffs.html")
    return template.render(phones=phones, linked=True)


def _file(last: dict[str, Any] | None, since_fetched: str | None) -> dict[str, Any]:
    return {
        "name": "805ec0000001.cfg",
        "diff_current": NOW,
        "diff_last_fetched": since_fetched,
        "last_fetched": last,
    }


FETCH = {"at": 1_796_500_000, "protocol": "https", "etag": '"abc"'}


@pytest.mark.parametrize(
    ("last", "since_fetched", "says"),
    [
        (None, None, "Never fetched by the phone."),
        (FETCH, None, "what it got then is not known"),
        (FETCH, NOW, "over https: what it gets now."),
        (FETCH, BEFORE, "Against what it last fetched (2026-12-05 "),
    ],
)
def test_each_file_says_how_it_compares_with_the_last_fetch(
    last: dict[str, Any] | None, since_fetched: str | None, says: str
) -> None:
    html = _render(_file(last, since_fetched))
    assert "+lang=French" in html
    assert says in html
    # The diff from the last fetch is shown only when it differs from the one from now.
    assert ("-lang=German" in html) is (since_fetched == BEFORE)
