"""Every failed lookup does the same work before it answers (no timing oracle).

Measured before the fix: known and unknown MACs answered 50–80 µs apart
(medians of 400+), because an unknown MAC was identified two or three times
(regular expressions over every pattern of the catalog) and a known one not
at all, and wrong credentials were hashed twice for a known phone and once
for an unknown one. Timing itself is measured by ``make bench``
(``bench/security.py``), never asserted here; this test counts the work
each case does before its answer, which must be the same, and checks that
the bookkeeping waits until the answer is out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from provisioner.catalog import Catalog
from provisioner.edits import Edits
from provisioner.scope import parse_scope
from provisioner.serve import Fetch, Protocol, Status
from tests.serve.harness import DISABLED, YEALINK, Harness, harness
from tests.serve.test_gateway import digest_for

OUTSIDE = "805ec0000005"
UNKNOWN = "805ec0ffffff"
CASES = {"protected": YEALINK, "unknown": UNKNOWN, "disabled": DISABLED, "outside": OUTSIDE}


@pytest.fixture
def h(tmp_path: Path, catalog: Catalog) -> Iterator[Harness]:
    with harness(tmp_path, catalog) as built:
        Edits.of(built.store).phones.add("acme", OUTSIDE, "t46s")
        scope = parse_scope(f"phone:{OUTSIDE}")
        Edits.of(built.store).settings.set(scope, "access.http.password", "phone-pass-5678")
        Edits.of(built.store).settings.set(scope, "access.http.allow", "10.0.0.0/8")
        built.run(built.cache.refresh())
        yield built


def _counting(h: Harness) -> Counter[str]:
    """Count the expensive steps of a lookup: identification and digest checks."""
    calls: Counter[str] = Counter()
    identifier, digest = h.cache.identifier, h.gateway.digest

    def wrap(owner: Any, name: str) -> None:
        original: Callable[..., Any] = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return original(*args, **kwargs)

        setattr(owner, name, counted)

    for name in ("from_path", "combine", "identify"):
        wrap(identifier, name)
    for name in ("verify", "challenge"):
        wrap(digest, name)
    return calls


def _failures(h: Harness) -> int:
    window = h.gateway.bans._failures.get("127.0.0.1")
    return 0 if window is None else len(window.times)


def _work(h: Harness, calls: Counter[str], mac: str, with_credentials: bool) -> Counter[str]:
    """What one request for ``mac``'s file costs before its answer is returned."""
    path = f"{mac}.cfg"
    authorization = digest_for(h, path, password="wrong", user=mac) if with_credentials else None
    calls.clear()
    failures, records = _failures(h), len(h.gateway.seen._buffer)
    # Run the fetch alone, without letting the loop run the callbacks it
    # scheduled (the bookkeeping that must wait until the answer is out).
    fetch = Fetch(Protocol.HTTP, path, "127.0.0.1", authorization=authorization, uri="/" + path)
    task = h.loop.create_task(h.gateway.fetch(fetch))
    h.loop.call_soon(h.loop.stop)
    h.loop.run_forever()
    assert task.done()
    before_answer = Counter(calls)
    before_answer["failures counted"] = _failures(h) - failures
    before_answer["seen records"] = len(h.gateway.seen._buffer) - records
    reply = task.result()
    expected = Status.NOT_FOUND if with_credentials else Status.CHALLENGE
    assert reply.status is expected, mac
    h.run(h.gateway.drain())
    return before_answer


@pytest.mark.parametrize("with_credentials", [False, True])
def test_every_failure_does_the_same_work(h: Harness, with_credentials: bool) -> None:
    calls = _counting(h)
    work = {name: _work(h, calls, mac, with_credentials) for name, mac in CASES.items()}
    assert work["protected"] == work["unknown"] == work["disabled"] == work["outside"], work
    assert work["unknown"]["from_path"] == 1
    if with_credentials:
        assert work["unknown"]["verify"] == 1  # against an impossible phone
        assert work["unknown"]["challenge"] == 0
    else:
        assert work["unknown"]["challenge"] == 1
        assert work["unknown"]["verify"] == 0


def test_bookkeeping_runs_after_the_answer(h: Harness) -> None:
    """Seen records and failure counting are not on the answer's path."""
    calls = _counting(h)
    before = _work(h, calls, UNKNOWN, with_credentials=True)
    assert (before["failures counted"], before["seen records"]) == (0, 0)
    # Once the loop ran its callbacks, the failure is counted and recorded.
    assert (_failures(h), len(h.gateway.seen._buffer)) == (1, 1)
