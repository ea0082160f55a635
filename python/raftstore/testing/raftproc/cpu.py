"""CPU time consumed by benchmark server processes, read from ``/proc/<pid>/stat`` (Linux).

Why: on a small shared machine commits per second swing with whatever else runs (two runs of the same build differed
by 40 % while another engineer's tests ran), but the CPU a cluster spends per commit barely moves, and on 2 cores
with 3 servers plus the client that cost is what bounds throughput. The cluster benchmark reports it for raftstore
and for its peers alike (the same reading of the same counters), so the comparison holds even when the machine does
not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def process_cpu_seconds(pids: Iterable[int]) -> float | None:
    """User plus system CPU seconds used so far by the given processes (their own threads, not their children);
    None where ``/proc`` is not available or a process is gone, so a caller reports no figure rather than a wrong
    one."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat:
                text = stat.read()
        except OSError:
            return None
        # The command name (field 2) is parenthesised and may contain spaces: split after its closing parenthesis.
        fields = text.rpartition(b")")[2].split()
        if len(fields) < 13:
            return None
        total += int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of proc(5)
    return total / _CLOCK_TICKS


def cpu_us_per_commit(before: float | None, after: float | None, commits: int) -> float | None:
    """Microseconds of CPU per commit between two `process_cpu_seconds` readings; None when either is unknown."""
    if before is None or after is None or commits <= 0:
        return None
    return (after - before) * 1e6 / commits
