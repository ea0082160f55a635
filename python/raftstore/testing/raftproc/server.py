"""One Raft server process: ``python -m raftstore.testing.raftproc.server --id a --raft 127.0.0.1:7001 --data DIR
--peers a=127.0.0.1:7001,b=...,c=... --control-file F``.

It runs a `Node` over a WAL (fsync on unless ``--no-sync``) and file snapshots with the KV FSM, bootstraps the
given peers when its stores are empty, and serves a control socket on loopback (its port written to
``--control-file`` once listening, so the launcher never guesses ports): one JSON object per line in, one per line
out. Operations: ``status``, ``apply`` (key, value as strings), ``items`` (the FSM's content), ``load`` (in-flight,
seconds, key and value sizes: `raftstore.testing.raftproc.load`), ``snapshot``, ``shutdown``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

from raftstore.logstore import WALStore
from raftstore.raft import Config, Configuration, Server
from raftstore.raft.errors import RaftError
from raftstore.raft.node import Node, tcp_transport
from raftstore.raft.snapshots import FileSnapshotStore
from raftstore.testing.raftproc.kvfsm import KVFSM, command
from raftstore.testing.raftproc.load import run_load
from raftstore.util import gctune

log = logging.getLogger("raftstore.raftproc")


def parse_peers(text: str) -> Configuration:
    servers = []
    for item in text.split(","):
        server_id, _, address = item.partition("=")
        if not server_id or not address:
            raise SystemExit(f"--peers: expected id=host:port, got {item!r}")
        servers.append(Server(server_id, address))
    return Configuration(tuple(servers))


class ProcessServer:
    def __init__(self, args: argparse.Namespace) -> None:
        data = Path(args.data)
        data.mkdir(parents=True, exist_ok=True)
        self.wal = WALStore(data / "wal", sync=not args.no_sync)
        self.fsm = KVFSM()
        config = Config(
            local_id=args.id,
            heartbeat_timeout=args.heartbeat_timeout,
            election_timeout=args.election_timeout,
            leader_lease_timeout=min(args.heartbeat_timeout, args.heartbeat_timeout / 2),
            commit_timeout=0.05,
            tick_interval=0.01,
            snapshot_threshold=args.snapshot_threshold,
            snapshot_interval=args.snapshot_interval,
            trailing_logs=args.trailing_logs,
            max_append_entries=args.max_append_entries,
            max_inflight_appends=args.max_inflight_appends,
        )
        snapshots = FileSnapshotStore(data, retain=2)
        self.node = Node(config, self.fsm, self.wal, self.wal, snapshots, tcp_transport(args.raft))
        self.peers = parse_peers(args.peers)
        self.control_file = Path(args.control_file)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.node.start)
        if self.wal.last_index() == 0 and not self.node.storage.snapshots.list():
            await self.node.bootstrap_cluster(self.peers)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self._stop = stop
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        temporary = self.control_file.with_suffix(".tmp")
        temporary.write_text(str(port))
        os.replace(temporary, self.control_file)
        log.info("server %s: raft %s, control port %d", self.node.id, self.node.address, port)
        await stop.wait()
        server.close()
        await self.node.shutdown()
        self.wal.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    request = json.loads(line)
                    reply = await self._handle(request)
                except (ValueError, KeyError, TypeError) as error:
                    reply = {"ok": False, "error": f"bad request: {error}"}
                except RaftError as error:
                    reply = {"ok": False, "error": f"{type(error).__name__}: {error}"}
                writer.write(json.dumps(reply).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request["op"]
        node = self.node
        if op == "status":
            address, leader = node.leader()
            return {
                "ok": True,
                "id": node.id,
                "state": node.stats()["state"],
                "leader": leader,
                "leader_address": address,
                "applied": node.applied_index(),
                "commit": node.commit_index(),
                "last_snapshot_index": int(node.stats()["last_snapshot_index"]),
                "first_index": self.wal.first_index(),
            }
        if op == "apply":
            future = node.apply(command(request["key"].encode(), request["value"].encode()))
            index = await asyncio.wait_for(asyncio.wrap_future(future), 30)
            return {"ok": True, "index": index}
        if op == "items":
            return {"ok": True, "items": {k.decode(): v.decode() for k, v in self.fsm.items().items()}}
        if op == "load":
            result = await asyncio.get_running_loop().run_in_executor(
                None,
                run_load,
                node,
                int(request["in_flight"]),
                float(request["seconds"]),
                int(request.get("key_size", 16)),
                int(request.get("value_size", 128)),
            )
            return {"ok": True, **result}
        if op == "snapshot":
            meta = await node.snapshot()
            return {"ok": True, "index": meta.index}
        if op == "shutdown":
            self._stop.set()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--id", required=True)
    parser.add_argument("--raft", required=True, help="host:port to listen on for Raft")
    parser.add_argument("--data", required=True)
    parser.add_argument("--peers", required=True, help="id=host:port,... (the initial configuration)")
    parser.add_argument("--control-file", required=True)
    parser.add_argument("--no-sync", action="store_true", help="unsafe: skip fsync (tests only)")
    parser.add_argument("--heartbeat-timeout", type=float, default=0.5)
    parser.add_argument("--election-timeout", type=float, default=1.0)
    parser.add_argument("--snapshot-threshold", type=int, default=8192)
    parser.add_argument("--snapshot-interval", type=float, default=5.0)
    parser.add_argument("--trailing-logs", type=int, default=10240)
    parser.add_argument("--max-append-entries", type=int, default=256)
    parser.add_argument("--max-inflight-appends", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.id} %(levelname)s %(name)s: %(message)s")
    gctune.tune_for_server()  # as `raftstore agent` does: see raftstore.util.gctune for why
    asyncio.run(ProcessServer(args).run())


if __name__ == "__main__":
    main()
