"""``python -m raftstore.testing.faults [--servers 3|5] [--seconds S] [--seed S]``: a Jepsen-style fault run.

Prints the fault schedule, then what was injected, the operations done and acknowledged, whether the servers
converged, and the linearizability checker's verdict. Exit status: 0 when every acknowledged write is present,
the servers converged and the history is linearizable; 1 otherwise; 2 when the cluster could not be started.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from raftstore.testing.faults.cluster import ClusterHandle, FaultUnsupported, launch_cluster
from raftstore.testing.faults.runner import RunConfig, run
from raftstore.testing.faults.schedule import ALL_KINDS, FaultKind, make_schedule
from raftstore.testing.history import dump_jsonl

Launcher = Callable[[int, Path, int], ClusterHandle]


def main(argv: Sequence[str] | None = None, launch: Launcher = launch_cluster) -> int:
    parser = argparse.ArgumentParser(prog="python -m raftstore.testing.faults", description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, choices=(3, 5), default=3)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long clients run under faults")
    parser.add_argument("--seed", type=int, default=None, help="the schedule's and the clients' seed (printed)")
    parser.add_argument("--clients-per-server", type=int, default=2)
    parser.add_argument("--keys", type=int, default=6)
    parser.add_argument("--faults", default=",".join(k.value for k in ALL_KINDS), help="comma-separated fault kinds")
    parser.add_argument("--history", type=Path, help="write the recorded history here (JSON lines)")
    parser.add_argument("--workdir", type=Path, help="the servers' data directories (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    try:
        kinds = tuple(FaultKind(name.strip()) for name in args.faults.split(",") if name.strip())
    except ValueError as error:
        parser.error(str(error))
    seed = args.seed if args.seed is not None else int(time.time())
    schedule = make_schedule(args.servers, args.seconds, seed, kinds=kinds)
    print(f"seed {seed}: {len(schedule)} faults scheduled over {args.seconds:g}s on {args.servers} servers")
    for fault in schedule:
        print(f"  {fault.describe()}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="raftstore-faults-"))
    try:
        try:
            cluster = launch(args.servers, workdir, seed)
        except (FaultUnsupported, RuntimeError, OSError) as error:  # no cluster to test: not a verdict
            print(f"cannot start the cluster: {error}", file=sys.stderr)
            return 2
        try:
            config = RunConfig(args.seconds, seed, args.clients_per_server, args.keys)
            report = run(cluster, schedule, config)
        finally:
            cluster.close()
        for line in report.lines():
            print(line)
        if args.history is not None:
            dump_jsonl(report.history, args.history)
            print(f"history written to {args.history}")
        return 0 if report.ok else 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
