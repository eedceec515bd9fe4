"""The open-file limit is raised for the connections the FTP server admits."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

SCRIPT = """
import resource
from provisioner.ftp._descriptors import raise_descriptor_limit
raise_descriptor_limit({sessions})
print(*resource.getrlimit(resource.RLIMIT_NOFILE))
"""


def limits_after(sessions: int, soft: int) -> tuple[int, int]:
    """(soft, hard) in a fresh process started with ``soft``, after the raise."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(sessions=sessions)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard)),
    )
    low, high = result.stdout.split()
    return int(low), int(high)


def test_a_low_soft_limit_is_raised_to_the_hard_one() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip(f"the hard open-file limit ({hard}) leaves nothing to test")
    assert limits_after(1000, 256) == (hard, hard)


def test_a_sufficient_soft_limit_is_left_alone() -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard < 512:
        pytest.skip(f"the hard open-file limit ({hard}) leaves nothing to test")
    assert limits_after(10, 400) == (400, hard)
