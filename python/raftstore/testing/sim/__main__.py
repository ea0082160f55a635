"""``python -m raftstore.testing.sim``: run seeded simulations, or replay one seed with a readable trace.

    python -m raftstore.testing.sim --seeds 1000 [--servers 3|5] [--seed S] [--ops M] [--mutant NAME]
    python -m raftstore.testing.sim --seed S --trace

One line per failing seed, then ``N passed, F failed``; the exit status is 1 when any seed failed.
"""

from __future__ import annotations

import argparse
import sys

from raftstore.raft.core import RaftCore
from raftstore.testing.sim.cluster import run_seed
from raftstore.testing.sim.mutants import MUTANTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftstore.testing.sim", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, help="number of simulations to run (seeds S .. S+N-1)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (or the seed to replay)")
    parser.add_argument("--servers", type=int, choices=(3, 5), default=3)
    parser.add_argument("--ops", type=int, default=40, help="client operations per simulation")
    parser.add_argument("--trace", action="store_true", help="print the replayed seed's trace")
    parser.add_argument("--mutant", choices=sorted(MUTANTS), help="run a deliberately broken core instead")
    args = parser.parse_args(argv)
    if args.seeds is not None and args.seeds < 1:
        parser.error("--seeds must be at least 1")
    factory = MUTANTS[args.mutant] if args.mutant else RaftCore
    if args.seeds is None:
        result = run_seed(args.seed, args.servers, args.ops, trace=args.trace, core_factory=factory)
        if args.trace:
            print("\n".join(result.trace))
        if not result.ok:
            print(f"seed {args.seed} (servers {args.servers}, ops {args.ops}): FAILED: {result.error}")
        print(f"{int(result.ok)} passed, {int(not result.ok)} failed")
        return 0 if result.ok else 1
    failed = 0
    for seed in range(args.seed, args.seed + args.seeds):
        result = run_seed(seed, args.servers, args.ops, core_factory=factory)
        if not result.ok:
            failed += 1
            print(f"seed {seed} (servers {args.servers}, ops {args.ops}): FAILED: {result.error}", flush=True)
    print(f"{args.seeds - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # the output was piped into `head`: stop quietly, as Unix tools do
        sys.stderr.close()
        sys.exit(1)
