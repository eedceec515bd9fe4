"""Process figures for the benchmarks."""

from __future__ import annotations

__all__ = ["peak_rss_mb", "rss_mb"]


def peak_rss_mb(pid: int | str = "self") -> float:
    """A process's peak resident set so far (VmHWM), in MB.

    Unlike ``getrusage().ru_maxrss``, which Linux carries over from the
    parent across fork and exec, VmHWM belongs to the process's own memory
    map, so a child started by a large benchmark reports its own peak.
    """
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident set now (VmRSS), in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")
