"""PNG charts of a bench run (needs matplotlib: ``pip install 'raftstore[plot]'``).

One chart per layer: a panel per workload, a horizontal bar per backend at its median rate, whiskers spanning the
interquartile range (on a log scale when the rates span more than 50x), the baseline in orange, the machine in the
title so a chart is never separated from where it was measured.
"""

from __future__ import annotations

import os
from pathlib import Path

from raftstore.bench.harness import Results, Unavailable
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
        figure.suptitle(f"raftstore bench: {layer} ({results.rounds} rounds)\n{machine}", fontsize=10)
        figure.tight_layout()
        path = out_dir / f"{layer}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
