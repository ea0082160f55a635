"""`raftstore bench`: quick runs give well-formed JSON, plugins and missing peers show up, charts are PNGs."""

from __future__ import annotations

import importlib.metadata
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

import raftstore.bench.memdb as memdb_bench
import raftstore.bench.radix as radix_bench
from raftstore.bench import Results, Unavailable, register_backend, registry, run_layer
from raftstore.bench.report import compare, format_table, load_json, to_json
from raftstore.cli import main
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
    a, b, charts = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "charts"
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
