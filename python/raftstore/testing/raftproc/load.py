"""Closed-loop load through a node's Python API: keep `in_flight` applies outstanding for `seconds`, timing each.

Callback-driven (each finished apply submits the next from the applier thread), so the client costs one
`add_done_callback` per command and no event loop of its own: what is measured is the node, not the load generator.
"""

from __future__ import annotations

import functools
import os
import statistics
import threading
import time
from typing import Any

from raftstore.raft.node import Node
from raftstore.testing.raftproc.kvfsm import command


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    position = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[position]


def run_load(node: Node, in_flight: int, seconds: float, key_size: int = 16, value_size: int = 128) -> dict[str, Any]:
    value = os.urandom(value_size // 2).hex().encode()[:value_size].ljust(value_size, b"v")
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    finished = threading.Event()
    state = {"next": 0, "outstanding": 0}
    clock = time.perf_counter
    start = clock()
    end = start + seconds

    def submit() -> None:
        with lock:
            i = state["next"]
            state["next"] = i + 1
            state["outstanding"] += 1
        key = b"%0*d" % (key_size, i % 100_000)
        t0 = clock()
        future = node.apply(command(key[-key_size:], value))
        future.add_done_callback(functools.partial(done, t0=t0))

    def done(future: Any, t0: float) -> None:
        now = clock()
        failed = future.exception() is not None
        with lock:
            state["outstanding"] -= 1
            if failed:
                errors.append(str(future.exception()))
            else:
                latencies.append(now - t0)
            more = now < end and not failed
            last = state["outstanding"] == 0 and not more
        if more:
            submit()
        elif last:
            finished.set()

    for _ in range(in_flight):
        submit()
    finished.wait(seconds + 120)
    elapsed = clock() - start
    latencies.sort()
    return {
        "ops": len(latencies),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": elapsed,
        "commits_per_s": len(latencies) / elapsed if elapsed else 0.0,
        "p50_us": percentile(latencies, 0.50) * 1e6,
        "p90_us": percentile(latencies, 0.90) * 1e6,
        "p99_us": percentile(latencies, 0.99) * 1e6,
        "max_us": latencies[-1] * 1e6 if latencies else 0.0,
        "mean_us": statistics.fmean(latencies) * 1e6 if latencies else 0.0,
        "in_flight": in_flight,
    }
