"""FSM benchmarks: raftstore's FSM (memdb over the C radix tree) against an rqlite-style sqlite3 FSM peer.

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

import importlib.util
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from raftstore.fsm import FSM, MessageType, encode
from raftstore.logstore.log import Log


def _load_peer() -> Any:
    """benchmarks/ is not a package (pytest imports with importlib): load the peer module from its file."""
    name = "raftstore_benchmarks_fsm_sqlite_peer"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / "fsm_sqlite_peer.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


SqliteFSM = _load_peer().SqliteFSM

SMOKE_N = 2_000
BATCH = 64


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
    n = sizes["n"]
    value = b"v" * 32
    logs = [
        Log(i + 1, 1, data=encode(MessageType.KVS, {"Op": "set", "DirEnt": {"Key": f"bench/{i:09d}", "Value": value}}))
        for i in range(n)
    ]
    return [logs[i : i + BATCH] for i in range(0, n, BATCH)]


def _apply_all(engine: Any, batches: list[list[Log]]) -> Any:
    for batch in batches:
        engine.apply_batch(batch)
    return engine


@pytest.mark.parametrize("engine", ["raftstore", "sqlite3"])
def test_apply_kv_sets(benchmark: Any, engine: str, kv_batches: list[list[Log]], sizes: dict[str, int]) -> None:
    benchmark.group = f"fsm apply: KV set, N={sizes['n']}, batches of {BATCH}"
    make = FSM if engine == "raftstore" else SqliteFSM
    result = benchmark.pedantic(
        _apply_all, setup=lambda: ((make(), kv_batches), {}), rounds=sizes["rounds"], iterations=1
    )
    count = len(result.state.kvs_list("bench/")[1]) if engine == "raftstore" else result.count()
    assert count == sizes["n"]
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_s"] = round(sizes["n"] / benchmark.stats.stats.median)


def _catalog_logs(rounds: int) -> list[list[Log]]:
    out: list[Log] = []

    def add(kind: MessageType, body: dict[str, Any]) -> None:
        out.append(Log(len(out) + 1, 1, data=encode(kind, body)))

    for i in range(rounds):
        node = f"node-{i:07d}"
        add(
            MessageType.REGISTER,
            {
                "Node": node,
                "Address": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                "Service": {"ID": f"web-{i}", "Service": f"web-{i % 100}", "Tags": ["v1"], "Port": 8080},
                "Checks": [
                    {"CheckID": "serfHealth", "Status": "passing"},
                    {"CheckID": f"web-{i}-alive", "ServiceID": f"web-{i}", "Status": "passing"},
                ],
            },
        )
        add(MessageType.REGISTER, {"Node": node, "Check": {"CheckID": f"web-{i}-alive", "ServiceID": f"web-{i}"}})
        if i % 4 == 0:
            add(MessageType.DEREGISTER, {"Node": node})
    return [out[i : i + BATCH] for i in range(0, len(out), BATCH)]


def test_apply_catalog_mix(benchmark: Any, sizes: dict[str, int]) -> None:
    rounds = max(sizes["n"] // 10, 100)
    benchmark.group = f"fsm apply: catalog, {rounds} register/flip/deregister rounds"
    batches = _catalog_logs(rounds)
    commands = sum(len(b) for b in batches)
    fsm = benchmark.pedantic(_apply_all, setup=lambda: ((FSM(), batches), {}), rounds=sizes["rounds"], iterations=1)
    assert len(fsm.state.nodes()[1]) == rounds - (rounds + 3) // 4
    if benchmark.stats is not None:
        benchmark.extra_info["ops_per_s"] = round(commands / benchmark.stats.stats.median)


@pytest.fixture(scope="module")
def full_fsms(kv_batches: list[list[Log]]) -> dict[str, Any]:
    return {"raftstore": _apply_all(FSM(), kv_batches), "sqlite3": _apply_all(SqliteFSM(), kv_batches)}


def _persist(engine: Any) -> bytes:
    if isinstance(engine, SqliteFSM):
        return engine.persist()  # type: ignore[no-any-return]
    sink = io.BytesIO()
    snap = engine.snapshot()
    snap.persist(sink)
    snap.release()
    return sink.getvalue()


@pytest.mark.parametrize("engine", ["raftstore", "sqlite3"])
def test_snapshot_persist(benchmark: Any, engine: str, full_fsms: dict[str, Any], sizes: dict[str, int]) -> None:
    benchmark.group = f"fsm snapshot persist, N={sizes['n']}"
    data = benchmark.pedantic(_persist, args=(full_fsms[engine],), rounds=sizes["rounds"], iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["bytes"] = len(data)
        benchmark.extra_info["MB_per_s"] = round(len(data) / benchmark.stats.stats.median / 1e6, 1)


def _restore(engine: str, data: bytes) -> Any:
    if engine == "sqlite3":
        peer = SqliteFSM()
        peer.restore(data)
        return peer
    fsm = FSM()
    fsm.restore(io.BytesIO(data))
    return fsm


@pytest.mark.parametrize("engine", ["raftstore", "sqlite3"])
def test_snapshot_restore(benchmark: Any, engine: str, full_fsms: dict[str, Any], sizes: dict[str, int]) -> None:
    benchmark.group = f"fsm snapshot restore, N={sizes['n']}"
    data = _persist(full_fsms[engine])
    restored = benchmark.pedantic(_restore, args=(engine, data), rounds=sizes["rounds"], iterations=1)
    count = len(restored.state.kvs_list("bench/")[1]) if engine == "raftstore" else restored.count()
    assert count == sizes["n"]
    if benchmark.stats is not None:
        benchmark.extra_info["seconds"] = round(benchmark.stats.stats.median, 2)
