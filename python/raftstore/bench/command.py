"""The `raftstore bench` command line (wired into `raftstore.cli`)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TextIO

from raftstore.bench.harness import Results, Unavailable, run_layer
from raftstore.bench.registry import layers, load_entry_points, load_spec, plugin_specs, register_backend
from raftstore.bench.report import compare, format_table, load_json, save_json

QUICK_ROUNDS = 3
FULL_ROUNDS = 5


class TextProgress:
    """Progress on stderr (stdout keeps only the table): a one-line bar redrawn in place on a terminal; in a log, a
    line per tenth of each layer's work, so a 15-minute run stays readable. Each line says which layer of how many
    is running, the time since the run began, and the layer's estimated time left."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr  # looked up now, not at import: tests and callers may redirect it
        self.tty = self.stream.isatty()
        self.total = self.done = 0
        self.run_started = self.started = time.monotonic()
        self.layer = ""
        self.layer_started = self.run_started
        self._last_tenth = -1

    def begin_layer(self, name: str, position: int, count: int) -> None:
        """Announce a layer before its data set is built (which can take a while at full size)."""
        self.layer = f"[{position}/{count} {name}]"
        self.layer_started = time.monotonic()
        self._write_line(f"{self.layer} preparing data and backends")

    def start(self, total: int) -> None:
        self.total, self.done, self.started, self._last_tenth = total, 0, time.monotonic(), -1

    def step(self, label: str) -> None:
        self.done += 1
        fraction = self.done / self.total if self.total else 1.0
        now = time.monotonic()
        left = (now - self.started) * (1 - fraction) / fraction if fraction else 0.0
        status = f"{self.layer} {self.done}/{self.total} {now - self.run_started:5.0f}s, layer ~{left:.0f}s left"
        if self.tty:
            bar = "#" * int(fraction * 30)
            self.stream.write(f"\r[{bar:<30}] {status}  {label[:50]:<50}")
            self.stream.flush()
        elif int(fraction * 10) > self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self.stream.write(f"{fraction:4.0%} {status}  {label}\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self._write_line(f"{self.layer} done in {time.monotonic() - self.layer_started:.0f}s")

    def _write_line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "layers", nargs="*", help="layers to run (default: all); or `compare A.json B.json` to compare two runs"
    )
    parser.add_argument("--quick", action="store_true", help="small data and 3 rounds: under a minute")
    parser.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds per layer (default 3 quick; 5 full, 3 for the cluster and http layers, whose samples "
        "run for seconds each)",
    )
    parser.add_argument("--json", metavar="FILE", help="save every sample, the environment and versions as JSON")
    parser.add_argument("--plot", metavar="DIR", help="write a PNG chart per layer (needs matplotlib)")
    parser.add_argument(
        "--baseline", action="append", default=[], metavar="LAYER=BACKEND", help="the backend ratios are against"
    )
    parser.add_argument(
        "--backend", action="append", default=[], metavar="LAYER=module:object", help="add your own backend"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the round order")


def run(args: argparse.Namespace) -> int:
    if args.layers[:1] == ["compare"]:
        if len(args.layers) != 3:
            print("usage: raftstore bench compare A.json B.json", file=sys.stderr)
            return 2
        try:
            a, b = load_json(args.layers[1]), load_json(args.layers[2])
        except (OSError, ValueError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(compare(a, b, (args.layers[1], args.layers[2])), end="")
        return 0
    load_entry_points()
    known = layers()
    chosen = args.layers or list(known)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        print(f"error: unknown layer(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    try:
        for text in args.backend:
            register_backend(*load_spec(text))
        baselines = dict(item.split("=", 1) for item in args.baseline)
    except (ValueError, ImportError, AttributeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    results = Results(quick=args.quick)
    progress = TextProgress()
    for position, name in enumerate(chosen, 1):
        progress.begin_layer(name, position, len(chosen))
        layer = known[name]()
        rounds = args.rounds or (QUICK_ROUNDS if args.quick else getattr(layer, "full_rounds", FULL_ROUNDS))
        run_layer(
            layer,
            results,
            quick=args.quick,
            rounds=rounds,
            extra_backends=plugin_specs(layer),
            seed=args.seed,
            progress=progress,
        )
    results.baselines.update(baselines)
    progress.stream.write(f"all {len(chosen)} layer(s) in {time.monotonic() - progress.run_started:.0f}s\n")
    print(format_table(results), end="")
    if args.json:
        save_json(results, args.json, {"layers": chosen, "seed": args.seed})
        print(f"saved {args.json}")
    if args.plot:
        from raftstore.bench.plot import write_charts

        try:
            for path in write_charts(results, args.plot):
                print(f"wrote {path}")
        except Unavailable as why:
            print(f"no charts: {why}", file=sys.stderr)
    return 0
