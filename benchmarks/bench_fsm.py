"""FSM benchmarks: raftstore's FSM (memdb over the C radix tree) against an rqlite-style sqlite3 FSM peer.

The entries, the peer and the protocol calls are `raftstore.bench.fsm`'s, which `raftstore bench fsm` times too
(interleaved rounds, medians and spread, JSON and charts); this file keeps the pytest-benchmark view.

    PYTHONPATH=python python -m pytest benchmarks/bench_fsm.py --benchmark-enable --benchmark-only \
        --benchmark-group-by=group --benchmark-columns=min,median,ops,rounds

Groups:
  fsm apply: KV set      N KVS `set` commands (`[2][msgpack KVSRequest]`, 32-byte values, distinct keys in order)
                         applied in batches of 64 to a fresh FSM; raftstore `FSM.apply_batch` vs `SqliteFSM`
                         (decode the same msgpack, upsert into sqlite3 in one transaction per batch).
                         extra_info["ops_per_s"] = N / median.
  fsm apply: catalog     N/10 rounds of: register a node with a service and two checks, flip a check's status,
                         deregister every 4th node (raftstore only: the peer has no catalog).
  fsm snapshot persist   persist of a snapshot of N KV entries to a BytesIO; extra_info MB/s
                         (peer: sqlite serialize()).
  fsm snapshot restore   restore of that stream into a fresh FSM; extra_info seconds (peer: deserialize()).

Environment: RAFTSTORE_FSM_BENCH_N (default 1,000,000; 2,000 when benchmarks are disabled, as in the default
test run), RAFTSTORE_BENCH_ROUNDS (default 3). Never assertions on time: the asserts only check the results.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from raftstore.bench.fsm import (  # the entries, the peer and the protocol calls, shared with `raftstore bench fsm`
    BATCH,
    SqliteFSM,
    apply_all,
    catalog_batches,
    catalog_nodes_left,
    kv_set_batches,
    persist,
    restore,
)
from raftstore.fsm import FSM
from raftstore.logstore.log import Log

SMOKE_N = 2_000


@pytest.fixture(scope="module")
def sizes(benchmarks_disabled: bool) -> dict[str, int]:
    if benchmarks_disabled:
        return {"n": SMOKE_N, "rounds": 1}
    return {
        "n": int(os.environ.get("RAFTSTORE_FSM_BENCH_N", 1_000_000)),
        "rounds": int(os.environ.get("RAFTSTORE_BENCH_ROUNDS", 3)),
    }


@pytest.fixture(scope="module")
def kv_batches(sizes: dict[str, int]) -> list[list[Log]]:
    return kv_set_batches(sizes["n"])


@pytest.mark.parametrize("engine", ["raftstore", "sqlite3"])
def test_apply_kv_sets(benchmark: Any, engine: str, kv_batches: list[list[Log]], sizes: dict[str, int]) -> None:
    benchmark.group = f"fsm apply: KV set, N={sizes['n']}, batches of {BATCH}"
    make = FSM if engine == "raftstore" else SqliteFSM
    result = benchmark.pedantic(
        apply_all, setup=lambda: ((make(), kv_batches), {}), rounds=sizes["rounds"], iterations=1
    )
    count = len(result.state.kvs_list("bench/")[1]) if engine == "raftstore" else result.count()
    assert count == sizes["n"]
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_s"] = round(sizes["n"] / benchmark.stats.stats.median)


def test_apply_catalog_mix(benchmark: Any, sizes: dict[str, int]) -> None:
    rounds = max(sizes["n"] // 10, 100)
    benchmark.group = f"fsm apply: catalog, {rounds} register/flip/deregister rounds"
    batches = catalog_batches(rounds)
    commands = sum(len(b) for b in batches)
    fsm = benchmark.pedantic(apply_all, setup=lambda: ((FSM(), batches), {}), rounds=sizes["rounds"], iterations=1)
    assert len(fsm.state.nodes()[1]) == catalog_nodes_left(rounds)
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_s"] = round(commands / benchmark.stats.stats.median)


@pytest.fixture(scope="module")
def full_fsms(kv_batches: list[list[Log]]) -> dict[str, Any]:
    return {"raftstore": apply_all(FSM(), kv_batches), "sqlite3": apply_all(SqliteFSM(), kv_batches)}


@pytest.mark.parametrize("engine", ["raftstore", "sqlite3"])
def test_snapshot_persist(benchmark: Any, engine: str, full_fsms: dict[str, Any], sizes: dict[str, int]) -> None:
    benchmark.group = f"fsm snapshot persist, N={sizes['n']}"
    data = benchmark.pedantic(persist, args=(full_fsms[engine],), rounds=sizes["rounds"], iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["bytes"] = len(data)
        benchmark.extra_info["MB_per_s"] = round(len(data) / benchmark.stats.stats.median / 1e6, 1)


@pytest.mark.parametrize("engine", ["raftstore", "sqlite3"])
def test_snapshot_restore(benchmark: Any, engine: str, full_fsms: dict[str, Any], sizes: dict[str, int]) -> None:
    benchmark.group = f"fsm snapshot restore, N={sizes['n']}"
    data = persist(full_fsms[engine])
    restored = benchmark.pedantic(
        restore, args=(FSM if engine == "raftstore" else SqliteFSM, data), rounds=sizes["rounds"], iterations=1
    )
    count = len(restored.state.kvs_list("bench/")[1]) if engine == "raftstore" else restored.count()
    assert count == sizes["n"]
    if benchmark.stats is not None:
        benchmark.extra_info["seconds"] = round(benchmark.stats.stats.median, 2)
