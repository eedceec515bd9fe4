"""serve/_access_log.py: one event per fetch, the URL token never written."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from provisioner.catalog import Catalog
from provisioner.serve._access_log import AccessLog
from tests.serve.harness import HOSTED, TOKEN, harness


def _records(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [r.fields for r in caplog.records if r.name == "provisioner.access"]  # type: ignore[attr-defined]


def test_a_fetch_is_one_event_with_the_token_hidden(
    tmp_path: Path, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    with harness(tmp_path, catalog) as h:
        access = AccessLog(h.cache, enabled=True)
        caplog.set_level(logging.INFO, logger="provisioner.access")
        for path in (f"/{TOKEN}/{HOSTED}.cfg", f"/{TOKEN.upper()}/x/../{TOKEN}.cfg"):
            access.record(
                protocol="http",
                client="10.0.0.5",
                path=path,
                status=200,
                size=1234,
                seconds=0.0123,
                user_agent="FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615\x07",
            )
    first, second = _records(caplog)
    assert first == {
        "protocol": "http",
        "client": "10.0.0.5",
        "path": f"/<token>/{HOSTED}.cfg",
        "status": 200,
        "bytes": 1234,
        "duration_ms": 12.3,
        "mac": HOSTED,
        "user_agent": "FileTransport PolycomVVX-VVX_410-UA/5.9.1.0615?",
    }
    assert second["path"] == "/<token>/x/../<token>.cfg"
    assert TOKEN.lower() not in caplog.text.lower()


def test_nothing_is_written_while_it_is_off(
    tmp_path: Path, catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    with harness(tmp_path, catalog) as h:
        access = AccessLog(h.cache)
        caplog.set_level(logging.INFO, logger="provisioner.access")
        access.record(protocol="tftp", client="10.0.0.5", path="x", status="ok", size=1, seconds=0)
        assert _records(caplog) == []
        access.enabled = True  # what SIGHUP does when access_log is turned on
        access.record(protocol="tftp", client="10.0.0.5", path="x", status="ok", size=1, seconds=0)
    assert [r["mac"] for r in _records(caplog)] == [None]
