"""One Raft cluster benchmark configuration, by itself: three (or five) server processes on 127.0.0.1, durable WAL
with fsync, 16-byte keys and 128-byte values applied through the leader's Python API with N in flight.

    python benchmarks/cluster.py --servers 3 --in-flight 64 --seconds 10
    python benchmarks/cluster.py --peer hashicorp-raft --in-flight 64     (a peer from benchmarks/peers, if present)

prints one JSON line: commits_per_s, p50_us, p99_us, cpu_us_per_commit (the CPU all server processes spent per
commit during the measured load, raftstore and peers read alike from /proc: steadier than commits/s on a shared
machine), and ops, errors, the configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from raftstore.testing.raftproc.cluster import ProcessCluster
from raftstore.testing.raftproc.cpu import cpu_us_per_commit, process_cpu_seconds


def run_raftstore(
    servers: int, in_flight: int, seconds: float, key_size: int, value_size: int, sync: bool, workdir: Path
) -> dict[str, Any]:
    options = [] if sync else ["--no-sync"]
    cluster = ProcessCluster(workdir, servers, options)
    try:
        cluster.start()
        leader = cluster.leader()
        leader.request(op="load", in_flight=min(in_flight, 8), seconds=min(1.0, seconds / 5))  # warm-up
        pids = cluster.pids()
        cpu_before = process_cpu_seconds(pids)
        result = leader.request(
            op="load", in_flight=in_flight, seconds=seconds, key_size=key_size, value_size=value_size
        )
        result["cpu_us_per_commit"] = cpu_us_per_commit(cpu_before, process_cpu_seconds(pids), int(result["ops"]))
    finally:
        cluster.close()
    result.pop("ok", None)
    return {"peer": "raftstore", "servers": servers, "sync": sync, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--key-size", type=int, default=16)
    parser.add_argument("--value-size", type=int, default=128)
    parser.add_argument("--no-sync", action="store_true", help="skip fsync (unsafe; for comparison only)")
    parser.add_argument("--peer", default="raftstore", help="raftstore, or a peer from benchmarks/peers")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="raftstore-cluster-") as tmp:
        workdir = Path(tmp)
        if args.peer == "raftstore":
            result = run_raftstore(
                args.servers, args.in_flight, args.seconds, args.key_size, args.value_size, not args.no_sync, workdir
            )
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import peers  # type: ignore[import-not-found]

            try:
                result = peers.run(
                    args.peer,
                    servers=args.servers,
                    in_flight=args.in_flight,
                    seconds=args.seconds,
                    key_size=args.key_size,
                    value_size=args.value_size,
                    workdir=workdir,
                )
            except peers.PeerUnavailable as missing:
                print(json.dumps({"peer": args.peer, "skipped": str(missing)}))
                return 0
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
