"""logsetup.py: one event per line as logfmt or JSON, to standard error or a reopened file."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from provisioner import logsetup
from provisioner.errors import UsageError

_Formatter = logsetup._Formatter


def record(msg: str, *args: object, **fields: object) -> logging.LogRecord:
    made = logging.LogRecord("provisioner.test", logging.WARNING, __file__, 1, msg, args, None)
    made.created, made.msecs = 0.0, 0.0
    if fields:
        made.fields = fields
    return made


def test_json_keeps_the_events_pairs_with_numbers_as_numbers() -> None:
    line = _Formatter(json_lines=True).format(
        record("event=ban client=%s duration=%d window=%d ratio=%s", "10.0.0.9", 600, 60, 0.5)
    )
    assert json.loads(line) == {
        "ts": "1970-01-01T00:00:00.000Z",
        "level": "warning",
        "logger": "provisioner.test",
        "event": "ban",
        "client": "10.0.0.9",
        "duration": 600,
        "window": 60,
        "ratio": 0.5,
    }


def test_json_formats_a_value_that_is_more_than_one_argument() -> None:
    line = _Formatter(json_lines=True).format(
        record("event=permissions_tightened path=%s was=%04o now=%04o", "'x'", 0o644, 0o600)
    )
    data = json.loads(line)
    assert (data["path"], data["was"], data["now"]) == ("'x'", "0644", "0600")


@pytest.mark.parametrize(
    ("msg", "args"),
    [
        ("TFTP malformed datagram from %s: %s%s", ("10.0.0.1", "short", "")),
        ("event=x %s", ("free text",)),
        ("Task exception was never retrieved", ()),
    ],
)
def test_json_keeps_a_message_that_is_not_pairs_whole(msg: str, args: tuple[object, ...]) -> None:
    made = record(msg, *args)
    data = json.loads(_Formatter(json_lines=True).format(made))
    assert data["message"] == made.getMessage()
    assert "event" not in data


def test_extra_fields_are_members_in_json_and_quoted_in_logfmt() -> None:
    fields = {"path": "a b.cfg", "status": 404, "mac": None, "agent": 'say "hi"'}
    data = json.loads(_Formatter(json_lines=True).format(record("event=access", **fields)))
    assert data["event"] == "access"
    assert {key: data[key] for key in fields} == fields
    line = _Formatter(json_lines=False).format(record("event=access", **fields))
    assert line.endswith(' event=access path="a b.cfg" status=404 mac=- agent="say \\"hi\\""')


def test_an_exception_and_newlines_stay_on_one_line() -> None:
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        import sys

        made = record("event=failed reason=%s", "a\nb")
        made.exc_info = sys.exc_info()
    for json_lines in (False, True):
        line = _Formatter(json_lines=json_lines).format(made)
        assert "\n" not in line
    data = json.loads(_Formatter(json_lines=True).format(made))
    assert "ValueError: first\nsecond" in data["exception"]


@pytest.fixture
def restored() -> Iterator[None]:
    """configure() changes the root logger: undo it after the test."""
    root, ours = logging.getLogger(), logging.getLogger("provisioner")
    saved = (list(root.handlers), root.level, list(ours.handlers), ours.level, ours.propagate)
    try:
        yield
    finally:
        output = logsetup._output
        if output is not None:
            output.switch(None, _Formatter(json_lines=False))
            root.removeHandler(output)
        logsetup._output = None
        logging.captureWarnings(False)
        root.handlers[:], root.level = saved[0], saved[1]
        ours.handlers[:], ours.level, ours.propagate = saved[2], saved[3], saved[4]


@pytest.mark.usefixtures("restored")
def test_configure_again_reopens_the_file_after_a_rename(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    logsetup.configure("info", "json", log)
    logging.getLogger("provisioner.test").info("event=before")
    log.rename(tmp_path / "serve.log.1")  # what logrotate does
    logging.getLogger("provisioner.test").info("event=renamed")  # still the old file
    logsetup.configure("info", "json", log)
    logging.getLogger("provisioner.test").info("event=after")
    logging.getLogger("some.library").warning("a library's warning")
    logging.getLogger("some.library").info("below warning: not written")
    old = [json.loads(line) for line in (tmp_path / "serve.log.1").read_text().splitlines()]
    new = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["event"] for line in old] == ["before", "renamed"]
    assert new[0]["event"] == "after"
    assert new[1] == new[1] | {"logger": "some.library", "message": "a library's warning"}
    assert len(new) == 2


@pytest.mark.usefixtures("restored")
def test_a_log_file_that_cannot_be_opened_changes_nothing(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    logsetup.configure("info", "logfmt", log)
    with pytest.raises(UsageError, match="cannot open it"):
        logsetup.configure("debug", "json", tmp_path / "absent" / "serve.log")
    logging.getLogger("provisioner.test").info("event=still_here")
    logging.getLogger("provisioner.test").debug("event=not_debug")
    assert log.read_text().splitlines()[-1].endswith("event=still_here")
