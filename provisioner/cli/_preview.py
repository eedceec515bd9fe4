"""``--dry-run`` of ``set``, ``unset`` and ``apply``: the affected phones and their diffs.

The preview itself is :func:`provisioner.preview.run_changes`, the same
service the admin API's ``?dry_run=true`` answers from; this only prints it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from provisioner.cli._context import Context
from provisioner.edits import Edits
from provisioner.problems import problem_of

if TYPE_CHECKING:
    from provisioner.preview import FileDiff, Outcome

__all__ = ["preview"]


def preview(ctx: Context, operations: Callable[[Edits], object]) -> int:
    """Preview ``operations`` and print what they would do; 1 when they would be refused."""
    # Imported by the dry runs that render, not by every command's start: the
    # preview loads the renderer (Jinja2, lxml; docs/performance-notes.md).
    from provisioner.preview import run_changes

    outcome = run_changes(ctx.store, ctx.edits, operations, dry_run=True)
    print_outcome(outcome)
    return 1 if outcome.problems else 0


def print_outcome(outcome: Outcome) -> None:
    """Problems on standard error; each affected phone and its diffs on standard output."""
    for error in outcome.problems:
        sys.stderr.write(f"error: {problem_of(error).detail}\n")
    for phone in outcome.phones:
        print(f"phone {phone.mac} (tenant {phone.tenant})")
        for file in phone.files:
            print(f"  file {file.name}: {_since(file)}")
            sys.stdout.write(file.diff_current)
    count = len(outcome.phones)
    verdict = "would be refused" if outcome.problems else f"{count} phone(s) would change"
    print(f"dry run, nothing stored: {verdict}")


def _since(file: FileDiff) -> str:
    """What the phone last fetched, compared with what it would get."""
    last = file.last_fetched
    if last is None:
        return "never fetched"
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(last.at))
    if file.diff_last_fetched is None and not last.etag:
        return f"last fetched {when} over {last.protocol} (what it got was not recorded)"
    if file.diff_last_fetched is None:
        return f"last fetched {when} over {last.protocol}, something else than now (changed)"
    if file.diff_last_fetched == "":
        return f"last fetched {when} over {last.protocol}, already what it would get"
    return f"last fetched {when} over {last.protocol}, the same as now"
