"""The ``raftstore`` command.

Only ``demo`` exists so far: a short tour of what is built (the radix tree that the state store will sit on). Later
layers add ``agent`` (the server), ``snapshot`` and ``bench``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from itertools import islice

from raftstore import __version__


def _demo(keys: int) -> int:
    """Shows, on both tree implementations, what the state store relies on: transactions, snapshot isolation,
    ordered prefix scans, seeks and watches."""
    from raftstore.radix import PyTree, Tree

    rng = random.Random(42)
    names = [b"service/%08d/node-%d" % (rng.randrange(10**8), i % 7) for i in range(keys)]
    print(f"raftstore {__version__}: persistent radix trees, C (Tree) and pure Python (PyTree)\n")
    for cls in (Tree, PyTree):
        start = time.perf_counter()
        txn = cls().txn()
        for i, key in enumerate(names):
            txn.insert(key, i)
        tree = txn.commit()
        built = time.perf_counter() - start

        start = time.perf_counter()
        for key in names:
            tree[key]
        looked_up = time.perf_counter() - start

        prefix = names[0][:12]
        watch = tree.watch_prefix(prefix)
        newer = tree.delete_prefix(prefix)
        print(f"{cls.__name__}:")
        print(f"  {len(tree):,} keys inserted in one txn in {built:.2f} s; {len(names):,} lookups in {looked_up:.2f} s")
        print(
            f"  keys under {prefix!r}: {sum(1 for _ in tree.keys(prefix))} in the old tree,"
            f" {sum(1 for _ in newer.keys(prefix))} in the new one (the old tree never changes)"
        )
        print(f"  the watch on that prefix fired: {watch.fired}")
        start_key = names[1][:14]
        print(f"  first three keys from {start_key!r}: {[k for k, _ in islice(tree.seek_lower_bound(start_key), 3)]}")
        print(f"  smallest {tree.minimum()!r:.40}, largest {tree.maximum()!r:.40}\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raftstore", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"raftstore {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="a short tour of what is built so far")
    demo.add_argument("--keys", type=int, default=200_000, help="how many keys to load (default 200,000)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo(args.keys)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
