"""The ``raftstore`` command.

``demo`` is a short tour of what is built (the radix tree that the state store will sit on); ``snapshot inspect``
reads a snapshot archive (Consul's or raftstore's) or an internal state.bin; ``bench`` compares raftstore's layers
with their peers on this machine. ``agent`` runs a server with Consul's HTTP API; ``kv``, ``members``,
``operator raft`` and ``info`` talk to one (raftstore.agent.cli). Later layers add ``snapshot save/restore``.
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
    _demo_fsm()
    _demo_simulation()
    return 0


def _demo_fsm() -> None:
    """Consul's KV commands through the FSM into the state store, then a snapshot archive and its inspection."""
    import io
    import tempfile
    from pathlib import Path

    from raftstore.fsm import FSM, MessageType, encode
    from raftstore.logstore import Log
    from raftstore.snapshot import format_pretty, inspect_file, write_archive

    fsm = FSM()
    commands = [("set", f"app/config/{name}", value.encode()) for name, value in [("port", "8500"), ("mode", "dev")]]
    commands += [("set", f"app/flags/f{i}", b"on") for i in range(3)] + [("delete-tree", "app/flags/", b"")]
    for index, (op, key, value) in enumerate(commands, start=1):
        fsm.apply(Log(index, 1, data=encode(MessageType.KVS, {"Op": op, "DirEnt": {"Key": key, "Value": value}})))
    cas = encode(
        MessageType.KVS, {"Op": "cas", "DirEnt": {"Key": "app/config/port", "Value": b"8501", "ModifyIndex": 1}}
    )
    swapped = fsm.apply(Log(len(commands) + 1, 1, data=cas))
    index, entries = fsm.state.kvs_list("app/")
    print("FSM and state store: Consul's KV commands ([type][msgpack]) applied as a Raft log would apply them:")
    print(f"  {len(commands)} commands, then a cas at ModifyIndex 1 -> {swapped}; index {index}:")
    for entry in entries:
        print(f"    {entry.Key} = {entry.Value!r} (CreateIndex {entry.CreateIndex}, ModifyIndex {entry.ModifyIndex})")
    state = io.BytesIO()
    fsm.snapshot().persist(state)
    meta = {"Version": 1, "ID": f"1-{index}-0", "Index": index, "Term": 1, "Size": len(state.getvalue())}
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "demo.snap"
        with open(archive, "wb") as out:
            write_archive(out, meta, io.BytesIO(state.getvalue()))
        size = archive.stat().st_size
        print(f"  snapshot archive ({size} bytes, Consul's format) as `raftstore snapshot inspect` shows it:")
        print("\n".join("    " + line for line in format_pretty(inspect_file(archive)).splitlines()), "\n")


def _demo_simulation() -> None:
    """Seeded Raft clusters under faults, every invariant checked, each history checked for linearizability."""
    from raftstore.testing.sim import run_seed

    print("Raft core in the seeded fault simulator (drops, delays, partitions, crashes, membership changes):")
    for servers in (3, 5):
        started = time.perf_counter()
        results = [run_seed(seed, servers=servers, ops=40) for seed in range(20)]
        failed = [r.seed for r in results if not r.ok]
        committed = sum(r.stats.get("committed", 0) for r in results)
        print(
            f"  {servers} servers: 20 seeds, {committed} entries committed, {len(failed)} failed"
            f" (invariants after every step, histories linearizable) in {time.perf_counter() - started:.1f} s"
        )
    print("  more: python -m raftstore.testing.sim --seeds 1000 --servers 5")


def _snapshot_inspect(args: argparse.Namespace) -> int:
    """Consul's `snapshot inspect`: metadata, then records per type, largest first."""
    from raftstore.fsm.snapshot_stream import SnapshotFormatError
    from raftstore.snapshot.archive import ArchiveError
    from raftstore.snapshot.inspect import format_json, format_pretty, inspect_file

    if (args.kvdepth is not None or args.kvfilter) and not args.kvdetails:
        print("-kvdepth and -kvfilter need -kvdetails", file=sys.stderr)
        return 1
    try:
        info = inspect_file(
            args.file, kv_depth=(args.kvdepth or 2) if args.kvdetails else None, kv_filter=args.kvfilter
        )
    except FileNotFoundError as error:
        print(f"Error opening snapshot file: {error}", file=sys.stderr)
        return 1
    except (ArchiveError, SnapshotFormatError, OSError) as error:
        print(f"Error reading snapshot: {error}", file=sys.stderr)
        return 1
    print(format_json(info) if args.format == "json" else format_pretty(info))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="raftstore", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"raftstore {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="a short tour of what is built so far")
    demo.add_argument("--keys", type=int, default=200_000, help="how many keys to load (default 200,000)")
    from raftstore.bench import command as bench_command

    bench = commands.add_parser("bench", help="compare raftstore's layers with their peers on this machine")
    bench_command.add_arguments(bench)
    snapshot = commands.add_parser("snapshot", help="work with snapshot archives").add_subparsers(
        dest="snapshot_command", required=True
    )
    inspect = snapshot.add_parser("inspect", help="what a snapshot archive (or an internal state.bin) holds")
    inspect.add_argument("file", help="an archive, or a state.bin with its meta.json beside it")
    inspect.add_argument("--format", "-format", choices=["pretty", "json"], default="pretty")
    inspect.add_argument("--kvdetails", "-kvdetails", action="store_true", help="break KV usage down by key prefix")
    inspect.add_argument("--kvdepth", "-kvdepth", type=int, default=None, help="key prefix depth (default 2)")
    inspect.add_argument("--kvfilter", "-kvfilter", default="", help="only keys starting with this prefix")
    from raftstore.snapshot import command as snapshot_command

    snapshot_command.add_arguments(snapshot)
    from raftstore.agent import cli as agent_cli

    agent_cli.add_commands(commands)
    args = parser.parse_args(argv)
    handled = agent_cli.run(args)
    if handled is not None:
        return handled
    if args.command == "demo":
        return _demo(args.keys)
    if args.command == "bench":
        return bench_command.run(args)
    if args.command == "snapshot" and args.snapshot_command == "inspect":
        return _snapshot_inspect(args)
    if args.command == "snapshot":
        return snapshot_command.run(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
