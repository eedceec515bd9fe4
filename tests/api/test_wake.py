"""A committed API write reaches the phone port at once, not at the next poll.

The server here polls every 600 s, so only the API's wake-up (the server's
cache refresh called after the commit) can make the phone port serve the
changed file within the wait below; without it this test fails. On
PostgreSQL the change feed's NOTIFY wakes it as well.
"""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, Client
from tests.peers import fetch_with_curl
from tests.waiting import eventually

MAC = "0004f2123456"
UA = "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615 Type/Application"
FILE = f"{MAC}-settings.cfg"
LANGUAGE = "/scopes/group:demo%2Foffice/settings/language"
POLL = 600.0  # far beyond the wait: the poll cannot be what refreshes


@pytest.fixture(scope="module")
def poll_interval() -> float:
    return POLL


def served(api: Api) -> bytes:
    code, body = fetch_with_curl("-A", UA, f"http://127.0.0.1:{api.http}/{FILE}")
    assert code == 200, code
    return body


@pytest.mark.parametrize("value", ["fr", "de"])
def test_a_group_setting_written_through_the_api_is_served_without_waiting_for_the_poll(
    api: Api, client: Client, value: str
) -> None:
    before = served(api)
    answer = client("PUT", api.url(LANGUAGE), api.keys["operator"], json={"value": value})
    assert answer.status == 200, answer.body
    # Generous for a loaded machine, yet a tenth of the poll interval.
    eventually(lambda: served(api) != before, f"the phone port serves language={value}", 60.0)
