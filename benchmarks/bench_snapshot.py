"""User snapshot save and restore of a large KV state through the Raft backend: the archive written from a live
server (FSM snapshot -> snapshot store -> Consul archive) and restored into a fresh one (verify -> Raft user restore ->
FSM restore), in MB/s and seconds.

Run:   python benchmarks/bench_snapshot.py --keys 1000000        (one JSON line)
Smoke: python -m pytest benchmarks/bench_snapshot.py              (a few thousand keys)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from raftstore.agent.raftbackend import start_raft_backend
from raftstore.fsm import MessageType, encode
from raftstore.logstore.log import Log

pytestmark = pytest.mark.pure_python


def _config() -> SimpleNamespace:
    return SimpleNamespace(
        dev=True,
        node_name="bench",
        datacenter="dc1",
        data_dir=None,
        http_addr="127.0.0.1:0",
        advertise_http=None,
        raft_addr="127.0.0.1:8300",
        bootstrap_expect=0,
        retry_join=[],
    )


def _fill(backend: Any, keys: int, value_size: int) -> None:
    """Load the FSM directly (untimed set-up): what is measured is the snapshot path, not the writes. Values are
    random, so gzip cannot shrink the archive much below the state."""
    fsm = backend.fsm
    batch = 10_000
    base = 1_000_000_000  # indexes far above Raft's own, so the table indexes stay monotonic
    for start in range(0, keys, batch):
        logs = [
            Log(
                base + i,
                1,
                data=encode(
                    MessageType.KVS, {"Op": "set", "DirEnt": {"Key": f"bench/{i:09d}", "Value": os.urandom(value_size)}}
                ),
            )
            for i in range(start, min(keys, start + batch))
        ]
        fsm.apply_batch(logs)


async def measure(keys: int, value_size: int, directory: Path) -> dict[str, Any]:
    source = await start_raft_backend(_config())
    try:
        await asyncio.to_thread(_fill, source, keys, value_size)
        archive = directory / "bench.snap"
        started = time.perf_counter()
        with open(archive, "wb") as out:
            index = await source.snapshot_save(out)
        saved = time.perf_counter() - started
    finally:
        await source.close()
    size = archive.stat().st_size
    target = await start_raft_backend(_config())
    try:
        started = time.perf_counter()
        with open(archive, "rb") as source_file:
            await target.snapshot_restore(source_file)
        restored = time.perf_counter() - started
        count = len(target.state.kvs_list("bench/")[1])
    finally:
        await target.close()
    assert count == keys, (count, keys)
    return {
        "keys": keys,
        "value_bytes": value_size,
        "archive_mb": size / 1e6,
        "index": index,
        "save_s": saved,
        "save_mb_per_s": size / 1e6 / saved,
        "restore_s": restored,
        "restore_mb_per_s": size / 1e6 / restored,
    }


def test_snapshot_save_and_restore(benchmark: Any, benchmarks_disabled: bool, tmp_path: Path) -> None:
    keys = int(os.environ.get("RAFTSTORE_BENCH_SNAPSHOT_KEYS", "3000" if benchmarks_disabled else "200000"))
    result = benchmark.pedantic(lambda: asyncio.run(measure(keys, 64, tmp_path)), rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--value-size", type=int, default=64)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="raftstore-bench-snapshot-") as tmp:
        print(json.dumps(asyncio.run(measure(args.keys, args.value_size, Path(tmp)))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
