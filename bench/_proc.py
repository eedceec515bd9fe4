"""Process figures for the benchmarks."""

from __future__ import annotations

import os

__all__ = ["cpu_seconds", "peak_rss_mb", "rss_mb"]


def cpu_seconds(pid: int | str = "self") -> float:
    """CPU time a process has used so far, user and system, every thread (``/proc/PID/stat``).

    On a machine shared with other work, CPU per unit of work is what can be
    compared between runs; wall time and rates depend on the neighbours.
    """
    with open(f"/proc/{pid}/stat") as stat:
        # Fields after the command name, which may hold spaces; utime and stime are 14 and 15.
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
