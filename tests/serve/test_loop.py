"""The event loop ``serve`` runs on."""

from __future__ import annotations

import asyncio

import pytest

from provisioner.serve import run_loop


def test_serve_runs_on_uvloop_and_returns_what_its_coroutine_returns() -> None:
    async def main() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_loop(main()).startswith("uvloop")


def test_what_the_coroutine_raises_comes_out() -> None:
    async def main() -> None:
        raise LookupError("no such tenant")

    with pytest.raises(LookupError, match="no such tenant"):
        run_loop(main())
