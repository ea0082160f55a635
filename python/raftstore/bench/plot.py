"""PNG charts of a bench run (needs matplotlib: ``pip install 'raftstore[plot]'``).

One chart per layer: a panel per workload, a horizontal bar per backend at its median rate, whiskers spanning the
interquartile range (on a log scale when the rates span more than 50x), the baseline in orange, the machine in the
title so a chart is never separated from where it was measured.

Layers whose workloads measure each operation's latency (cluster, http) also get ``<layer>-latency.png``: per
workload, each backend's p50, p90, p99 and max (medians over the rounds) as points on one line per backend, on a
log scale, because a tail 100 times the median is exactly what such a chart has to show.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from raftstore.bench.harness import PERCENTILES, Results, Unavailable
from raftstore.bench.report import environment


def write_charts(results: Results, directory: str | os.PathLike[str]) -> list[Path]:
    """Write ``<directory>/<layer>.png`` for every layer measured; returns the paths."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise Unavailable(f"charts need matplotlib: pip install 'raftstore[plot]' ({error})") from None
    out_dir = Path(directory)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = environment()
    machine = f"{env['cpu']}, {env['cpu_count']} cores, Python {env['python']}"
    written = []
    for layer in dict.fromkeys(cell.layer for cell in results.cells):
        workloads = [w for w in results.workload_order.get(layer, []) if results.cells_of(layer, w)]
        figure, axes = plt.subplots(len(workloads), 1, figsize=(8, 1.2 + 1.1 * len(workloads) * 1.6), squeeze=False)
        for axis, workload in zip(axes[:, 0], workloads, strict=True):
            cells = sorted(
                (c for c in results.cells if c.layer == layer and c.workload == workload), key=lambda c: c.median
            )
            medians = [c.median for c in cells]
            low = [c.median - c.quartiles[0] for c in cells]
            high = [c.quartiles[1] - c.median for c in cells]
            baseline = results.baselines.get(layer)
            colours = ["#dd8452" if c.backend == baseline else "#4c72b0" for c in cells]  # ratios are against it
            labels = [f"{c.backend} (baseline)" if c.backend == baseline else c.backend for c in cells]
            axis.barh(labels, medians, xerr=[low, high], color=colours, capsize=3)
            if medians and min(medians) > 0 and max(medians) / min(medians) > 50:
                axis.set_xscale("log")  # e.g. a memory store next to fsync-bound ones: linear bars would hide them
            axis.set_title(workload, fontsize=9, loc="left")
            axis.set_xlabel(f"{cells[0].unit}/s (median, IQR whiskers)" if cells else "", fontsize=8)
            axis.tick_params(labelsize=8)
        figure.suptitle(f"raftstore bench: {layer} ({results.rounds_of(layer)} rounds)\n{machine}", fontsize=10)
        figure.tight_layout()
        path = out_dir / f"{layer}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
        if any(cell.latencies for cell in results.cells if cell.layer == layer):
            written.append(_latency_chart(plt, results, layer, workloads, out_dir, machine))
    return written


_PERCENTILE_COLOURS = {"p50": "#4c72b0", "p90": "#55a868", "p99": "#dd8452", "max": "#c44e52"}


def _latency_chart(plt: Any, results: Results, layer: str, workloads: list[str], out_dir: Path, machine: str) -> Path:
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    timed = [w for w in workloads if any(c.latencies for c in results.cells_of(layer, w))]
    figure, axes = plt.subplots(len(timed), 1, figsize=(8, 1.4 + 1.6 * len(timed)), squeeze=False)
    for axis, workload in zip(axes[:, 0], timed, strict=True):
        cells = sorted((c for c in results.cells_of(layer, workload) if c.latencies), key=lambda c: c.backend)
        for row, cell in enumerate(cells):
            figures = [(name, cell.latency[name] / 1000.0) for name in PERCENTILES if cell.latency.get(name)]
            axis.plot([v for _, v in figures], [row] * len(figures), color="#bbbbbb", zorder=1)  # the spread
            for name, value in figures:
                axis.scatter([value], [row], color=_PERCENTILE_COLOURS[name], s=36, zorder=2, label=name)
        axis.set_yticks(range(len(cells)), [c.backend for c in cells])
        axis.set_ylim(-0.6, len(cells) - 0.4)
        axis.set_xscale("log")
        axis.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.xaxis.set_minor_formatter(NullFormatter())
        axis.set_title(workload, fontsize=9, loc="left")
        axis.set_xlabel("latency, ms (median over rounds; log scale)", fontsize=8)
        axis.tick_params(labelsize=8)
        axis.grid(axis="x", alpha=0.3)
        axis.invert_yaxis()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    axes[0, 0].legend(unique.values(), unique.keys(), fontsize=7, loc="best")
    figure.suptitle(f"raftstore bench: {layer} latency ({results.rounds_of(layer)} rounds)\n{machine}", fontsize=10)
    figure.tight_layout()
    path = out_dir / f"{layer}-latency.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
