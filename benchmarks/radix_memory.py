#!/usr/bin/env python3
"""Memory per key of each radix benchmark backend, each measured in a fresh subprocess.

    python benchmarks/radix_memory.py [--n N] [backend ...]

Backends: Tree (the C tree), PyTree (the pure-Python reference), dict, SortedDict (sortedcontainers),
immutables.Map. Default: all of them; N defaults to $RAFTSTORE_BENCH_N or 1,000,000.

How one backend is measured (``--child``, in a fresh interpreter so that nothing measured before can hide
in freed but still mapped memory):

1. import the backend and build (then drop) a small structure, so that imports and lazily created caches are
   paid before the first reading;
2. read the key *material* — the 8 random digits and the node number of every key — from a file into two flat
   arrays (5 bytes per key, no Python objects, written by the parent), ``gc.collect()``, read RSS;
3. bulk-insert all N keys, formatting each ``bytes`` key freshly right before its insert and dropping every
   other reference to it, so that whatever the structure keeps alive (dict/SortedDict/Map keep the key
   objects; the trees keep the bytes they copied) is charged to it and nothing is shared with a keys list the
   baseline already holds; every key gets the same value object, so values cost nothing;
4. ``gc.collect()``, read RSS again: ``bytes_per_key = (rss_after - rss_before) / N``.

RSS is /proc/self/statm's resident pages times the page size, so it includes allocator overhead and the
fragmentation left by the build, which is memory a process really holds. The child also reports how many
objects the garbage collector tracks per key (the C tree's nodes are invisible to it, a Python tree's not).

The key generator, the backends and their builders live in raftstore.bench.radix, shared with the benchmark suite
and `raftstore bench`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any


def _ensure_importable() -> None:
    """Run as a script from a source checkout that is not installed: fall back to the repository's python/."""
    if importlib.util.find_spec("raftstore") is None:
        src = Path(__file__).resolve().parents[1] / "python"
        if (src / "raftstore").is_dir():
            sys.path.insert(0, str(src))


_ensure_importable()
from raftstore.bench.radix import (  # noqa: E402 - after the fallback above
    ALIASES,
    BACKENDS,
    DEFAULT_N,
    KEY_FORMAT,
    Unavailable,
    bulk_insert,
    iter_keys,
    key_parts,
    load,
)

# ------------------------------------------------------------------------------------------------- measuring


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def write_key_parts(path: str | os.PathLike[str], digits: array, nodes: bytes) -> None:
    with open(path, "wb") as f:
        digits.tofile(f)
        f.write(nodes)


def _child(name: str, n: int, data_path: str) -> dict[str, Any]:
    try:
        cls = load(name)
    except Unavailable as exc:
        return {"backend": name, "n": n, "skipped": str(exc)}
    # 1. pay imports and first-use caches before the baseline
    warm = bulk_insert(name, cls, iter_keys(range(10_000, 10_256), bytes(256)))
    assert len(warm) == 256
    del warm
    # 2. the key material only: two flat arrays, no per-key objects
    digits = array("I")
    with open(data_path, "rb") as f:
        digits.fromfile(f, n)
        nodes = f.read(n)
    assert len(nodes) == n
    gc.collect()
    rss_before = rss_bytes()
    tracked_before = len(gc.get_objects())
    # 3. build: each key is a fresh bytes object that only the structure can keep alive
    t0 = time.perf_counter()
    structure = bulk_insert(name, cls, iter_keys(digits, nodes))
    build_s = time.perf_counter() - t0
    # 4. measure
    gc.collect()
    rss_after = rss_bytes()
    tracked_after = len(gc.get_objects())
    assert len(structure) == n, (name, len(structure), n)
    impl = f"{type(structure).__module__}.{type(structure).__qualname__}"
    return {
        "backend": name,
        "impl": impl,
        "n": n,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "bytes_per_key": (rss_after - rss_before) / n,
        "gc_tracked_per_key": (tracked_after - tracked_before) / n,
        "build_seconds": build_s,
    }


def measure(name: str, n: int, data_path: str | os.PathLike[str], python: str = sys.executable) -> dict[str, Any]:
    """Run one fresh child interpreter for one backend; its report (with "skipped" when unavailable)."""
    proc = subprocess.run(
        [python, str(Path(__file__).resolve()), "--child", name, "--n", str(n), "--data", str(data_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory child for {name} failed ({proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def format_table(reports: list[dict[str, Any]]) -> str:
    lines = [
        f"{'backend':<16}{'N':>11}{'bytes/key':>11}{'MiB total':>11}{'gc objs/key':>13}{'build s':>9}  impl",
    ]
    for r in reports:
        if "skipped" in r:
            lines.append(f"{r['backend']:<16}{r['n']:>11,}  skipped: {r['skipped']}")
            continue
        total = (r["rss_after"] - r["rss_before"]) / 2**20
        lines.append(
            f"{r['backend']:<16}{r['n']:>11,}{r['bytes_per_key']:>11.1f}{total:>11.1f}"
            f"{max(r['gc_tracked_per_key'], 0.0):>13.2f}{r['build_seconds']:>9.2f}  {r['impl']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backends", nargs="*", help=f"any of: {', '.join(BACKENDS)} (default: all)")
    parser.add_argument("--n", type=int, default=int(os.environ.get("RAFTSTORE_BENCH_N", DEFAULT_N)))
    parser.add_argument("--json", action="store_true", help="print one JSON report per line instead of a table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(_child(args.child, args.n, args.data)))
        return 0

    names = []
    for b in args.backends or BACKENDS:
        if b.lower() not in ALIASES:
            parser.error(f"unknown backend {b!r}; known: {', '.join(BACKENDS)}")
        names.append(ALIASES[b.lower()])

    with tempfile.TemporaryDirectory(prefix="radix-memory-") as tmp:
        data = Path(tmp) / f"keys-{args.n}.bin"
        write_key_parts(data, *key_parts(args.n))
        reports = []
        for name in names:
            reports.append(measure(name, args.n, data))
            if args.json:
                print(json.dumps(reports[-1]), flush=True)
    if not args.json:
        print(
            f"memory per key: RSS growth of a fresh interpreter per backend, N={args.n:,}, keys "
            f"like {KEY_FORMAT.decode()!r}, one shared value object"
        )
        print(format_table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
