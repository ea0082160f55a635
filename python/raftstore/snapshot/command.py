"""``raftstore snapshot save|restore|agent``: the CLI over `raftstore.snapshot.remote` (``inspect`` lives in
`raftstore.cli`). The agent's address comes from ``--http-addr``, else RAFTSTORE_HTTP_ADDR / CONSUL_HTTP_ADDR, else
127.0.0.1:8500; the token from ``--token``, else RAFTSTORE_HTTP_TOKEN / CONSUL_HTTP_TOKEN."""

from __future__ import annotations

import argparse
import os
import sys

from raftstore.snapshot.archive import ArchiveError
from raftstore.snapshot.remote import SnapshotRequestError, restore, save, snapshot_agent


def _http_addr() -> str:
    return os.environ.get("RAFTSTORE_HTTP_ADDR") or os.environ.get("CONSUL_HTTP_ADDR") or "127.0.0.1:8500"


def _token() -> str | None:
    return os.environ.get("RAFTSTORE_HTTP_TOKEN") or os.environ.get("CONSUL_HTTP_TOKEN") or None


def add_arguments(snapshot: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, text in (
        ("save", "save a verified snapshot archive of the cluster's state"),
        ("restore", "restore the cluster's state from an archive"),
        ("agent", "save rotated snapshot archives on a schedule"),
    ):
        sub = snapshot.add_parser(name, help=text)
        sub.add_argument("--http-addr", "-http-addr", default=None, help="the agent's HTTP address")
        sub.add_argument("--token", "-token", default=None, help="management token (or RAFTSTORE_HTTP_TOKEN)")
        if name == "save":
            sub.add_argument("--stale", "-stale", action="store_true", help="let a follower serve the snapshot")
            sub.add_argument("file")
        elif name == "restore":
            sub.add_argument("file")
        else:
            sub.add_argument("--interval", type=float, default=3600.0, help="seconds between snapshots")
            sub.add_argument("--retain", type=int, default=30, help="how many archives to keep")
            sub.add_argument("--path", required=True, help="directory for the archives")


def run(args: argparse.Namespace) -> int:
    http_addr = args.http_addr or _http_addr()
    token = args.token or _token()
    try:
        if args.snapshot_command == "save":
            index = save(http_addr, args.file, token, stale=args.stale)
            print(f"Saved and verified snapshot to index {index}")
        elif args.snapshot_command == "restore":
            restore(http_addr, args.file, token)
            print("Restored snapshot")
        else:
            if args.retain < 1 or args.interval <= 0:
                print("--retain must be at least 1 and --interval positive", file=sys.stderr)
                return 1
            snapshot_agent(http_addr, args.path, args.interval, args.retain, token)
    except (SnapshotRequestError, ArchiveError, OSError) as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
