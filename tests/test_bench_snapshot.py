"""The snapshot-store layer of `raftstore bench`: a quick run compares FileSnapshotStore with the memory store and
the file floor; a user's SnapshotStore shows up in the table; one that returns other bytes fails loudly."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, BinaryIO

import pytest

import raftstore.bench.snapshot as snapshot_bench
from raftstore.bench import Results, register_backend, registry, run_layer
from raftstore.bench.report import to_json
from raftstore.raft.snapshots import MemorySnapshotStore, SnapshotMeta

pytestmark = pytest.mark.pure_python


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(snapshot_bench, "QUICK_BYTES", 3 << 20)
    registry.clear_plugins()
    yield
    registry.clear_plugins()


def _run() -> Results:
    results = Results(quick=True)
    layer = snapshot_bench.SnapshotLayer()
    run_layer(layer, results, quick=True, rounds=2, extra_backends=registry.plugin_specs(layer))
    return results


class MyStore(MemorySnapshotStore):
    """A user's store, made with a directory of its own."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        assert directory.is_dir()


class Lossy(MemorySnapshotStore):
    def open(self, snapshot_id: str) -> tuple[SnapshotMeta, BinaryIO]:
        meta, reader = super().open(snapshot_id)
        return meta, io.BytesIO(reader.read()[:-1])


def test_quick_snapshot_run_and_a_plugin_store() -> None:
    register_backend("snapshot", "mine", MyStore)
    document = json.loads(json.dumps(to_json(_run())))
    cells = {(r["workload"], r["backend"]) for r in document["results"]}
    backends = {"FileSnapshotStore", "MemorySnapshotStore", "floor (file + fsync + rename)", "mine"}
    assert cells == {(w, b) for w in ("create (durable)", "open + read") for b in backends}
    for result in document["results"]:
        assert result["unit"] == "B/s" and result["ops_per_sample"] == 3 << 20 and result["median"] > 0
    assert document["parameters"]["snapshot"]["state_bytes"] == 3 << 20


def test_a_store_returning_other_bytes_fails_loudly() -> None:
    register_backend("snapshot", "lossy", Lossy)
    with pytest.raises(AssertionError, match="differs"):
        _run()
