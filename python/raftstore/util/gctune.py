"""Cycle-collector settings for the long-running server processes raftstore starts.

Why: CPython's full (oldest-generation) collection walks every tracked object of the process while holding the GIL.
A Raft server keeps large long-lived structures (its FSM's records and their radix trees, the entries in flight, the
futures of pending applies), so on a busy server each full collection stalls the event loop, and every commit
waiting on it, for tens of milliseconds. In the three-process cluster benchmark (benchmarks/cluster.py, 256 in
flight) they were the p99 latency (about 56 ms, against 7-13 ms without them) and cost about a third of the
throughput. Go's collector runs concurrently with the program; CPython's, before 3.14's incremental one, does not.

What `tune_for_server` does:
- `gc.freeze()`: what exists at start-up (modules, configuration) is never garbage; it leaves every collection.
- young collections every 10,000 net allocations instead of 700 (fewer, still small), and full collections 100
  times rarer. Cyclic garbage that survives into the oldest generation lives longer before it is reclaimed; Raft's
  and the state store's own structures are acyclic, and young collections still reclaim short-lived cycles.

Processes raftstore starts call it: `raftstore agent` and the benchmark's server processes
(raftstore.testing.raftproc). An application that embeds a `raftstore.raft.Node` owns its process and decides for
itself; it may call this too. `RAFTSTORE_GC=default` keeps CPython's settings; `RAFTSTORE_GC=T0,T1,T2` sets
`gc.set_threshold(T0, T1, T2)` instead of the values here.
"""

from __future__ import annotations

import gc
import logging
import os

log = logging.getLogger(__name__)

SERVER_THRESHOLDS = (10_000, 20, 1_000)
"""gc.set_threshold for servers: young collection every 10,000 net allocations, middle every 20 young ones, full
every 1,000 middle ones (CPython also waits for the long-lived heap to grow by 25%)."""


class GCSettingError(ValueError):
    """RAFTSTORE_GC is neither "default" nor three non-negative integers."""


def thresholds_from_env(value: str | None) -> tuple[int, int, int] | None:
    """The thresholds RAFTSTORE_GC asks for: None for "default" (leave CPython's), SERVER_THRESHOLDS when unset."""
    if value is None or value.strip() == "":
        return SERVER_THRESHOLDS
    if value.strip().lower() == "default":
        return None
    parts = value.split(",")
    try:
        numbers = tuple(int(part) for part in parts)
    except ValueError:
        numbers = ()
    if len(numbers) != 3 or any(n < 0 for n in numbers):
        raise GCSettingError(f"RAFTSTORE_GC must be 'default' or three non-negative integers T0,T1,T2, got {value!r}")
    return numbers[0], numbers[1], numbers[2]


def tune_for_server(environ: dict[str, str] | None = None) -> tuple[int, int, int] | None:
    """Apply the server settings (see the module docstring); returns the thresholds set, or None if left alone."""
    env = os.environ if environ is None else environ
    thresholds = thresholds_from_env(env.get("RAFTSTORE_GC"))
    if thresholds is None:
        return None
    gc.freeze()
    gc.set_threshold(*thresholds)
    log.debug("cycle collector: start-up heap frozen, thresholds %s", thresholds)
    return thresholds
