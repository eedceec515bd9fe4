"""Plain-text and JSON output for the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provisioner.chars import clean_text
from provisioner.errors import InputError
from provisioner.private import write_atomic

__all__ = ["MASK", "print_json", "print_table", "show_value", "write_private"]

MASK = "********"


def show_value(value: object, *, secret: bool = False, reveal: bool = False) -> str:
    """A setting value as admins read it (JSON spelling; secrets masked)."""
    if secret and not reveal and value != "":
        return MASK
    return clean_text(json.dumps(value, ensure_ascii=False))


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Left-aligned columns; control characters in cells become spaces."""
    cells = [[clean_text(str(c)) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    sys.stdout.write(line.rstrip() + "\n")
    for row in cells:
        text = "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        sys.stdout.write(text.rstrip() + "\n")


def print_json(data: Any) -> None:
    """Pretty JSON with sorted keys, for scripts."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def write_private(out: str | None, text: str) -> None:
    """``text`` to standard output, or to the file ``out`` (owner-only, atomically).

    For exports that hold secrets. A symlink is written through; a device or
    pipe is refused, since it would be replaced.
    """
    if not out:
        sys.stdout.write(text)
        return
    path = Path(out)
    if path.exists() and not path.is_file():
        raise InputError(f"--out {out}: not a regular file (omit --out for standard output)")
    try:
        write_atomic(path.resolve(), text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"--out {out}: {exc.strerror}") from None
