"""What `raftstore bench` prints and saves: the table of medians and ratios, the JSON document, and comparisons of
two JSON documents (two machines, two versions)."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from raftstore import __version__
from raftstore.bench.harness import Cell, Results

JSON_FORMAT = 1
_PACKAGES = ("sortedcontainers", "immutables", "msgpack", "lmdb", "matplotlib", "numpy", "cython")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return None


def environment() -> dict[str, Any]:
    """Where the figures come from: enough to tell two machines (and two installs) apart."""
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "raftstore": __version__,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": _memory_bytes(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "packages": versions,
    }


def rate(value: float) -> str:
    """Operations per second, human sized."""
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}/s"
    return f"{value:.3g}/s"


def _duration(microseconds: float | None) -> str:
    """A latency, human sized ("-" when not measured)."""
    if microseconds is None:
        return "-"
    if microseconds >= 1e6:
        return f"{microseconds / 1e6:.3g} s"
    if microseconds >= 1e3:
        return f"{microseconds / 1e3:.3g} ms"
    return f"{microseconds:.3g} µs"


def _ratio(cell: Cell, baseline: Cell | None) -> str:
    if baseline is None or not baseline.median:
        return "-"
    ratio = cell.median / baseline.median
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"  # 0.0013x, not 0.00x


def format_table(results: Results, baseline: dict[str, str] | None = None) -> str:
    """Per layer and workload, the backends fastest first: median rate, spread, and ratio to the baseline."""
    baselines = {**results.baselines, **(baseline or {})}
    out: list[str] = []
    layers = list(dict.fromkeys(cell.layer for cell in results.cells))
    for layer in layers:
        params = ", ".join(
            f"{k}={v:,}" if isinstance(v, int) else f"{k}={v}" for k, v in results.parameters.get(layer, {}).items()
        )
        base = baselines.get(layer, "")
        out.append(
            f"{layer}  ({results.rounds_of(layer)} interleaved rounds; median rate, ± half the interquartile range, "
            f"ratio = rate / {base}'s)"
        )
        if params:
            out.append(f"  {params}")
        timed = any(c.latencies for c in results.cells if c.layer == layer)
        latency_header = f"{'p50':>10}{'p99':>10}" if timed else ""
        out.append(f"  {'workload':<28}{'backend':<26}{'median':>12}{'spread':>9}{'ratio':>9}{latency_header}")
        workloads = [w for w in results.workload_order.get(layer, []) if results.cells_of(layer, w)]
        for workload in workloads:
            cells = sorted(
                (c for c in results.cells if c.layer == layer and c.workload == workload),
                key=lambda c: -c.median,
            )
            reference = results.cell(layer, workload, base)
            for i, cell in enumerate(cells):
                label = workload if i == 0 else ""
                latency = cell.latency
                latency_columns = (
                    f"{_duration(latency.get('p50')):>10}{_duration(latency.get('p99')):>10}" if timed else ""
                )
                out.append(
                    f"  {label:<28}{cell.backend:<26}{rate(cell.median):>12}{f'±{cell.spread * 50:.0f}%':>9}"
                    f"{_ratio(cell, reference):>9}{latency_columns}"
                )
        for skip in results.skipped:
            if skip["layer"] == layer:
                out.append(f"  skipped {skip['backend']}: {skip['reason']}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def to_json(results: Results, config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "environment": environment(),
        "config": {
            "rounds": results.rounds,
            "layer_rounds": results.layer_rounds,
            "quick": results.quick,
            **(config or {}),
        },
        "parameters": results.parameters,
        "baselines": results.baselines,
        "results": [
            {
                "layer": c.layer,
                "workload": c.workload,
                "backend": c.backend,
                "unit": f"{c.unit}/s",
                "ops_per_sample": c.ops_per_sample,
                "samples": c.samples,
                "median": c.median,
                "q1": c.quartiles[0],
                "q3": c.quartiles[1],
                **({"latency_us": c.latency, "latency_us_samples": c.latencies} if c.latencies else {}),
            }
            for c in results.cells
        ],
        "skipped": results.skipped,
        "not_applicable": results.not_applicable,
    }


def save_json(results: Results, path: str | os.PathLike[str], config: dict[str, Any] | None = None) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)  # like --plot DIR: a run's results are never lost to a path
    target.write_text(json.dumps(to_json(results, config), indent=1) + "\n")


def load_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    document = json.loads(Path(path).read_text())
    if not isinstance(document, dict) or document.get("format") != JSON_FORMAT or "results" not in document:
        raise ValueError(f"{path}: not a raftstore bench JSON document (format {JSON_FORMAT})")
    return document


def compare(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str] = ("A", "B")) -> str:
    """Medians of the (layer, workload, backend) cells both documents have, and B's rate as a multiple of A's."""
    index_a = {(r["layer"], r["workload"], r["backend"]): r for r in a["results"]}
    index_b = {(r["layer"], r["workload"], r["backend"]): r for r in b["results"]}
    out = [
        f"A: {names[0]} ({a['environment'].get('cpu')}, Python {a['environment'].get('python')}, {a['created']})",
        f"B: {names[1]} ({b['environment'].get('cpu')}, Python {b['environment'].get('python')}, {b['created']})",
        f"{'layer':<10}{'workload':<28}{'backend':<18}{'A median':>12}{'B median':>12}{'B/A':>8}",
    ]
    for key in sorted(index_a.keys() & index_b.keys()):
        ra, rb = index_a[key], index_b[key]
        ratio = f"{rb['median'] / ra['median']:.2f}x" if ra["median"] else "-"
        out.append(f"{key[0]:<10}{key[1]:<28}{key[2]:<18}{rate(ra['median']):>12}{rate(rb['median']):>12}{ratio:>8}")
    only_a, only_b = index_a.keys() - index_b.keys(), index_b.keys() - index_a.keys()
    if only_a or only_b:
        out.append(f"({len(only_a)} results only in A, {len(only_b)} only in B)")
    return "\n".join(out) + "\n"
