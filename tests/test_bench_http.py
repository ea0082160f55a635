"""The HTTP layer of `raftstore bench` and the latency reports: a quick run measures a dev agent's KV API with
latency percentiles and stops the agent; missing peers are skipped with their hint; the harness keeps a `Measured`
sample's percentiles; the latency chart is a PNG."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import raftstore.bench.http as http_bench
from raftstore.bench import Context, Results, Unavailable, Workload, run_layer
from raftstore.bench.harness import BackendSpec, Measured, latency_summary
from raftstore.bench.report import format_table, to_json

pytestmark = pytest.mark.pure_python


class _Recorder(http_bench.HTTPLayer):
    """The layer, keeping its data set so the test can see the processes it started."""

    data: http_bench.Dataset

    def prepare(self, quick: bool) -> http_bench.Dataset:
        self.data = super().prepare(quick)
        self.data.seconds = 0.2
        return self.data


def test_quick_http_run_measures_the_dev_agent_and_stops_it() -> None:
    layer = _Recorder()
    results = Results(quick=True)
    run_layer(layer, results, quick=True, rounds=2)
    document = json.loads(json.dumps(to_json(results)))
    cells = {r["workload"]: r for r in document["results"] if r["backend"] == "raftstore dev agent"}
    assert set(cells) == {"put, 1 client", "put, 32 clients", "get, 32 clients", "get ?consistent, 32 clients"}
    for cell in cells.values():
        assert len(cell["samples"]) == 2 and cell["median"] > 0 and cell["unit"] == "req/s"
        latency = cell["latency_us"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
        assert len(cell["latency_us_samples"]) == 2
    skipped = {s["backend"] for s in document["skipped"]}
    assert {"raftstore 3 servers", "consul dev agent", "etcd 3 members"} <= skipped
    assert layer.data.processes and all(p.poll() is not None for p in layer.data.processes)
    assert not layer.data.root.exists()
    assert "p99" in format_table(results)


def test_a_missing_consul_is_skipped_with_its_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no consul here
    with pytest.raises(Unavailable, match=r"developer\.hashicorp\.com/consul/install"):
        http_bench.consul_dev(http_bench.Dataset(1.0, tmp_path))


def test_a_missing_etcd_is_skipped_with_its_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("RAFTSTORE_PEERS_DIR", str(Path(__file__).resolve().parents[1] / "benchmarks"))
    data = http_bench.Dataset(1.0, tmp_path)
    with pytest.raises(Unavailable, match="apt-get install etcd-server"):
        http_bench.etcd_members(data)
    assert data.processes == []


class _Timed:
    name = "timed"
    default_baseline = "fake"

    def prepare(self, quick: bool) -> None:
        return None

    def parameters(self, data: Any) -> dict[str, Any]:
        return {}

    def workloads(self) -> list[Workload]:
        samples = iter([[0.001, 0.002, 0.010], [0.003, 0.004, 0.020], [0.002, 0.003, 0.030]])

        def run(ctx: Context) -> Measured:
            latencies = next(samples)
            return Measured(len(latencies), 0.5, latency_summary(latencies))

        return [Workload("op", run)]

    def backends(self) -> list[BackendSpec]:
        return [BackendSpec("fake", lambda data: object())]

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        return BackendSpec(name, lambda data: implementation(), origin="plugin")


def test_measured_samples_keep_their_percentiles_and_the_chart_shows_them(tmp_path: Path) -> None:
    results = Results()
    run_layer(_Timed(), results, quick=True, rounds=3)
    (cell,) = results.cells
    assert cell.samples == [6.0, 6.0, 6.0]  # 3 operations in 0.5 s each round
    # per round (rounded rank): p50 2, 4, 3 ms; p90 = p99 = max 10, 20, 30 ms; the cell keeps the medians
    assert cell.latency == pytest.approx({"p50": 3000.0, "p90": 20000.0, "p99": 20000.0, "max": 20000.0})
    pytest.importorskip("matplotlib", reason="charts need matplotlib (the plot extra)")
    from raftstore.bench.plot import write_charts

    written = write_charts(results, tmp_path)
    assert [p.name for p in written] == ["timed.png", "timed-latency.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000
