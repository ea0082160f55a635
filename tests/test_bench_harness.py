"""`raftstore bench`: quick runs give well-formed JSON, plugins and missing peers show up, charts are PNGs."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import types
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

import raftstore.bench.fsm as fsm_bench
import raftstore.bench.logstore as logstore_bench
import raftstore.bench.memdb as memdb_bench
import raftstore.bench.radix as radix_bench
from raftstore.bench import Results, Unavailable, register_backend, registry, run_layer
from raftstore.bench.report import compare, format_table, load_json, to_json
from raftstore.cli import main
from raftstore.fsm import FSM
from raftstore.logstore import Log, MemoryStore, SQLiteStore, lmdbstore
from raftstore.radix import PyTree

pytestmark = pytest.mark.pure_python  # the harness itself; the C tree is exercised by the radix suites


@pytest.fixture(autouse=True)
def _small(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(radix_bench, "QUICK_N", 2_000)
    monkeypatch.setattr(radix_bench, "PREFIX_SCANS", 3)
    monkeypatch.setattr(memdb_bench, "QUICK_N", 2_000)
    monkeypatch.setattr(memdb_bench, "SINGLE_N", 100)
    registry.clear_plugins()
    yield
    registry.clear_plugins()


def _run(rounds: int = 2) -> Results:
    results = Results(quick=True)
    layer = radix_bench.RadixLayer()
    run_layer(layer, results, quick=True, rounds=rounds, extra_backends=registry.plugin_specs(layer))
    return results


def test_quick_run_produces_well_formed_json() -> None:
    results = _run(rounds=2)
    document = json.loads(json.dumps(to_json(results)))
    assert document["format"] == 1 and document["config"]["rounds"] == 2
    assert {"python", "cpu", "cpu_count", "platform", "packages", "raftstore"} <= set(document["environment"])
    assert document["parameters"]["radix"]["n"] == 2_000
    backends = {r["backend"] for r in document["results"]}
    assert {"Tree", "PyTree", "dict", "SortedDict", "SortedDict (irange)"} <= backends
    for result in document["results"]:
        assert len(result["samples"]) == 2 and all(s > 0 for s in result["samples"])
        assert result["q1"] <= result["median"] <= result["q3"] and result["ops_per_sample"] > 0
    reasons = {(n["workload"], n["backend"]): n["reason"] for n in document["not_applicable"]}
    assert "no key order" in reasons[("prefix scan", "dict")]
    assert reasons[("bulk insert", "SortedDict (irange)")] == "measured as SortedDict"


def test_table_ranks_backends_and_shows_ratios() -> None:
    table = format_table(_run(rounds=1))
    assert table.startswith("radix  (1 interleaved rounds")
    prefix_block = table.split("prefix scan")[1].split("seek")[0]
    assert "Tree" in prefix_block and "SortedDict (irange)" in prefix_block and "1.00x" in prefix_block
    assert table.index("bulk insert") < table.index("get (hit)") < table.index("delete half")  # the layer's order


def test_a_registered_backend_shows_up_in_the_table() -> None:
    class FakeTree(PyTree):
        """A user's own tree: here the reference one under another name."""

    register_backend("radix", "FakeTree", FakeTree)
    results = _run(rounds=1)
    assert results.cell("radix", "get (hit)", "FakeTree") is not None
    assert "FakeTree" in format_table(results)


def test_a_wrong_backend_fails_loudly_instead_of_looking_fast() -> None:
    class DroppingTxn:
        def __init__(self, txn: Any) -> None:
            self.txn, self.count = txn, 0

        def insert(self, key: bytes, value: Any) -> Any:
            self.count += 1
            return self.txn.insert(key, value) if self.count % 2 else None  # loses every other key

        def commit(self) -> Any:
            return self.txn.commit()

    class Forgetful(PyTree):
        def txn(self) -> Any:
            return DroppingTxn(super().txn())

    register_backend("radix", "Forgetful", Forgetful)
    with pytest.raises(AssertionError, match="bulk insert lost keys"):
        _run(rounds=1)


def test_a_missing_peer_is_reported_as_skipped_with_its_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    real_load = radix_bench.load

    def load(name: str) -> Any:
        if name == "immutables.Map":
            raise Unavailable("immutables is not installed: `pip install immutables`")
        return real_load(name)

    monkeypatch.setattr(radix_bench, "load", load)
    results = _run(rounds=1)
    [skip] = results.skipped
    assert skip == {
        "layer": "radix",
        "backend": "immutables.Map",
        "reason": "immutables is not installed: `pip install immutables`",
    }
    assert "skipped immutables.Map: " in format_table(results)
    assert not [c for c in results.cells if c.backend == "immutables.Map"]


def test_entry_point_plugins_register_themselves(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("raftstore_test_bench_plugin")

    class PluginTree(PyTree):
        pass

    def register() -> None:
        register_backend("radix", "PluginTree", PluginTree)

    module.register = register  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    entry = importlib.metadata.EntryPoint("demo", f"{module.__name__}:register", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [entry] if group == entry.group else [])
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    registry.load_entry_points()
    assert _run(rounds=1).cell("radix", "bulk insert", "PluginTree") is not None


def test_cli_run_json_plot_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b, charts = tmp_path / "new" / "dir" / "a.json", tmp_path / "b.json", tmp_path / "charts"  # dirs made
    assert main(["bench", "radix", "--quick", "--rounds", "1", "--json", str(a), "--plot", str(charts)]) == 0
    out = capsys.readouterr().out
    assert "radix  (1 interleaved rounds" in out and f"saved {a}" in out
    png = (charts / "radix.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert main(["bench", "radix", "--quick", "--rounds", "1", "--json", str(b), "--baseline", "radix=dict"]) == 0
    assert "ratio = rate / dict's" in capsys.readouterr().out
    assert main(["bench", "compare", str(a), str(b)]) == 0
    comparison = capsys.readouterr().out
    assert "get (hit)" in comparison and "B/A" in comparison
    assert compare(load_json(a), load_json(b)).count("\n") > 10


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "nosuchlayer", "--quick"]) == 2
    assert "unknown layer" in capsys.readouterr().err
    assert main(["bench", "radix", "--quick", "--backend", "radix=no.such.module:Tree"]) == 2
    assert main(["bench", "radix", "--quick", "--backend", "nonsense"]) == 2
    assert main(["bench", "compare", str(tmp_path / "missing.json"), str(tmp_path / "x.json")]) == 1
    (tmp_path / "bad.json").write_text("{}")
    assert main(["bench", "compare", str(tmp_path / "bad.json"), str(tmp_path / "bad.json")]) == 1
    assert "not a raftstore bench JSON" in capsys.readouterr().err


def test_memdb_layer_compares_memdb_with_sqlite3() -> None:
    results = Results(quick=True)
    run_layer(memdb_bench.MemdbLayer(), results, quick=True, rounds=1)
    backends = {c.backend for c in results.cells}
    assert backends == {"memdb[Tree]", "memdb[PyTree]", "sqlite3"}
    assert {c.workload for c in results.cells} == {
        "insert (txns of 10,000)",
        "insert (txns of 1)",
        "get by id",
        "get by node",
        "prefix scan",
        "delete by index",
    }
    deleted = results.cell("memdb", "delete by index", "sqlite3")
    assert deleted is not None and deleted.ops_per_sample > 0
    memdb_deleted = results.cell("memdb", "delete by index", "memdb[Tree]")
    assert memdb_deleted is not None and memdb_deleted.ops_per_sample == deleted.ops_per_sample  # same answer
    assert "ratio = rate / sqlite3's" in format_table(results)


# ------------------------------------------------------------------------------------------------- logstore and fsm

TINY_LOGSTORE = logstore_bench.Sizes(n=400, pywal_n=300, batches={1: 3, 64: 2, 1024: 1}, lookups=200, ranges=20)


@pytest.fixture
def tiny_layers(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The logstore and fsm layers at seconds-sized quick figures, their files under tmp_path/bench."""
    monkeypatch.setattr(logstore_bench, "QUICK", TINY_LOGSTORE)
    monkeypatch.setattr(logstore_bench, "SEGMENT_SIZE", 1 << 20)  # a WAL zero-fills its next segment ahead
    monkeypatch.setattr(fsm_bench, "QUICK_N", 500)
    where = tmp_path / "bench"
    where.mkdir()
    monkeypatch.setenv("RAFTSTORE_BENCH_DIR", str(where))
    return where


def _run_layer(layer: Any, rounds: int = 1) -> Results:
    results = Results(quick=True)
    run_layer(layer, results, quick=True, rounds=rounds, extra_backends=registry.plugin_specs(layer))
    return results


class DictLogStore:
    """A user's own LogStore (the protocol of raftstore.logstore.LogStore) in a dict; `drop` loses entries."""

    def __init__(self, directory: Path, drop: bool = False) -> None:
        self.directory, self.drop = directory, drop
        self.logs: dict[int, Log] = {}

    def first_index(self) -> int:
        return min(self.logs, default=0)

    def last_index(self) -> int:
        return max(self.logs, default=0)

    def get_log(self, index: int) -> Log:
        return self.logs[index]

    def get_logs(self, lo: int, hi: int) -> list[Log]:
        return [self.logs[i] for i in range(lo, hi + 1)]

    def store_logs(self, logs: Sequence[Log]) -> None:
        for log in logs[: len(logs) // 2 if self.drop and len(logs) > 1 else len(logs)]:
            self.logs[log.index] = log

    def delete_range(self, lo: int, hi: int) -> None:
        for i in range(lo, hi + 1):
            self.logs.pop(i, None)

    def close(self) -> None:
        pass


def test_logstore_quick_run_produces_well_formed_json(tiny_layers: Path) -> None:
    results = _run_layer(logstore_bench.LogstoreLayer(), rounds=2)
    document = json.loads(json.dumps(to_json(results)))
    assert document["parameters"]["logstore"]["n"] == 400
    assert document["baselines"]["logstore"] == "SQLiteStore"
    cells = {(r["workload"], r["backend"]): r for r in document["results"]}
    appends = [f"durable append, batch={size}" for size in (1, 64, 1024)]
    reads = ["random get_log", "get_logs of 64", "head truncation"]
    stores = {"WALStore", "PyWALStore", "SQLiteStore", "LMDBStore", "MemoryStore"}
    floors = {"floor (appended)", "floor (preallocated)"}
    for backend in stores | floors | {"WALStore (encoded batch)"}:
        for workload in appends:
            assert cells[(workload, backend)]["unit"] == "entries/s"
    for backend in stores:
        for workload in reads:
            assert (workload, backend) in cells
    assert cells[("durable append, batch=64", "WALStore")]["ops_per_sample"] == 2 * 64
    assert cells[("head truncation", "SQLiteStore")]["ops_per_sample"] == 400 - 64
    assert cells[("head truncation", "PyWALStore")]["ops_per_sample"] == 300 - 64
    for result in document["results"]:
        assert len(result["samples"]) == 2 and all(s > 0 for s in result["samples"])
        assert result["q1"] <= result["median"] <= result["q3"]
    reasons = {(n["workload"], n["backend"]): n["reason"] for n in document["not_applicable"]}
    assert reasons[("random get_log", "floor (appended)")] == "a plain file has no index: appends only"
    assert not list(tiny_layers.iterdir()), "the layer left files behind"
    assert "WALStore (encoded batch)" in format_table(results)


def test_a_registered_log_store_shows_up_in_the_table(tiny_layers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logstore_bench, "BUILT_IN", ("SQLiteStore",))  # the plugin is what is looked at
    register_backend("logstore", "DictLogStore", DictLogStore)
    results = _run_layer(logstore_bench.LogstoreLayer())
    for workload in ("durable append, batch=1", "random get_log", "get_logs of 64", "head truncation"):
        assert results.cell("logstore", workload, "DictLogStore") is not None
    assert "DictLogStore" in format_table(results)


def test_a_log_store_without_arguments_is_made_without_a_directory(
    tiny_layers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logstore_bench, "BUILT_IN", ("SQLiteStore",))  # the plugin is what is looked at
    register_backend("logstore", "my MemoryStore", MemoryStore)  # MemoryStore() takes no directory
    assert _run_layer(logstore_bench.LogstoreLayer()).cell("logstore", "head truncation", "my MemoryStore")


def test_a_log_store_losing_entries_fails_loudly(tiny_layers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logstore_bench, "BUILT_IN", ("SQLiteStore",))  # the plugin is what is looked at
    register_backend("logstore", "Lossy", lambda directory: DictLogStore(directory, drop=True))
    with pytest.raises(AssertionError, match="append at batch 64"):
        _run_layer(logstore_bench.LogstoreLayer())
    assert not list(tiny_layers.iterdir()), "a failed run left files behind"


def test_missing_lmdb_is_reported_as_skipped_with_its_hint(tiny_layers: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lmdbstore, "lmdb", None)  # as if `pip install lmdb` had never run
    results = _run_layer(logstore_bench.LogstoreLayer())
    assert results.skipped == [
        {
            "layer": "logstore",
            "backend": "LMDBStore",
            "reason": "the optional lmdb package is not installed: `pip install lmdb`",
        }
    ]
    assert "skipped LMDBStore: the optional lmdb package is not installed: `pip install lmdb`" in format_table(results)
    assert not [c for c in results.cells if c.backend == "LMDBStore"]
    assert results.cell("logstore", "random get_log", "SQLiteStore") is not None


def test_fsm_quick_run_produces_well_formed_json(tiny_layers: Path) -> None:
    results = _run_layer(fsm_bench.FsmLayer(), rounds=2)
    document = json.loads(json.dumps(to_json(results)))
    assert document["parameters"]["fsm"]["n"] == 500
    cells = {(r["workload"], r["backend"]): r for r in document["results"]}
    for workload in ("apply KV set, batch=64", "snapshot persist", "snapshot restore"):
        for backend in (fsm_bench.RAFTSTORE, fsm_bench.PEER):
            assert cells[(workload, backend)]["ops_per_sample"] == 500
    assert cells[("apply catalog mix", fsm_bench.RAFTSTORE)]["ops_per_sample"] == 100 * 2 + 25
    assert [(n["workload"], n["backend"]) for n in document["not_applicable"]] == [
        ("apply catalog mix", fsm_bench.PEER)
    ]
    for result in document["results"]:
        assert len(result["samples"]) == 2 and all(s > 0 for s in result["samples"])
    assert f"ratio = rate / {fsm_bench.PEER}'s" in format_table(results)


def test_a_registered_fsm_shows_up_and_a_wrong_one_fails(tiny_layers: Path) -> None:
    class MyFSM(FSM):
        """A user's FSM: here raftstore's under another name."""

    register_backend("fsm", "MyFSM", MyFSM)
    results = _run_layer(fsm_bench.FsmLayer())
    assert results.cell("fsm", "apply catalog mix", "MyFSM") is not None
    assert "MyFSM" in format_table(results)

    class HalfFSM(FSM):
        def apply_batch(self, logs: Iterable[Log]) -> list[Any]:
            return super().apply_batch(list(logs)[::2])

    registry.clear_plugins()
    register_backend("fsm", "HalfFSM", HalfFSM)
    with pytest.raises(AssertionError, match="KV apply"):
        _run_layer(fsm_bench.FsmLayer())


def test_cli_runs_logstore_and_fsm_with_a_plugin_progress_and_charts(
    tiny_layers: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("raftstore_test_bench_logstore_plugin")
    module.DictLogStore = DictLogStore  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    out_json, charts = tmp_path / "run.json", tmp_path / "charts"
    argv = ["bench", "logstore", "fsm", "--quick", "--rounds", "1", "--json", str(out_json), "--plot", str(charts)]
    assert main([*argv, "--backend", f"logstore={module.__name__}:DictLogStore"]) == 0
    captured = capsys.readouterr()
    assert "DictLogStore" in captured.out and "fsm  (1 interleaved rounds" in captured.out
    assert "[1/2 logstore] preparing" in captured.err and "[2/2 fsm] done in" in captured.err
    assert "100% [2/2 fsm]" in captured.err  # progress lines go to stderr, the table to stdout
    document = load_json(out_json)
    assert {r["layer"] for r in document["results"]} == {"logstore", "fsm"}
    assert {"DictLogStore", "WALStore", fsm_bench.RAFTSTORE} <= {r["backend"] for r in document["results"]}
    for layer in ("logstore", "fsm"):
        png = (charts / f"{layer}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_a_plugin_named_like_a_built_in_backend_gets_its_own_row(
    tiny_layers: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logstore_bench, "BUILT_IN", ("SQLiteStore",))  # the plugin is what is looked at
    register_backend("logstore", "SQLiteStore", SQLiteStore)  # e.g. `--backend logstore=raftstore.logstore:SQLiteStore`
    register_backend("logstore", "SQLiteStore", SQLiteStore)
    results = _run_layer(logstore_bench.LogstoreLayer())
    rows = [c for c in results.cells if c.workload == "random get_log" and c.backend.startswith("SQLiteStore")]
    assert sorted(c.backend for c in rows) == ["SQLiteStore", "SQLiteStore (plugin 2)", "SQLiteStore (plugin)"]
    assert all(len(c.samples) == 1 and c.samples[0] > 0 for c in rows)


def test_call_factory_reads_the_signature_instead_of_retrying() -> None:
    from raftstore.bench.harness import call_factory

    calls: list[Any] = []

    def takes_data(data: Any) -> str:
        calls.append(data)
        raise TypeError("a bug inside the plugin")

    with pytest.raises(TypeError, match="inside the plugin"):
        call_factory(takes_data, "data")
    assert calls == ["data"]  # called once, with its argument: the plugin's own error reaches the user
    assert call_factory(lambda: "none", "data") == "none"
    assert call_factory(lambda *args: args, "data") == ("data",)
