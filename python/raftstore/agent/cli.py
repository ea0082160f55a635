"""The agent's commands of ``raftstore``: ``agent`` (run a server), and the HTTP clients ``kv``, ``members``,
``operator raft`` and ``info``, with Consul's command names, flags (``-recurse`` and ``--recurse`` alike) and
output, so that scripts written for ``consul`` port over by changing the command name."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import signal
import sys
from typing import Any

from raftstore.agent.client import ClientError, HTTPClient
from raftstore.util import gctune

log = logging.getLogger("raftstore.agent")


def _flag(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> None:
    """``--name`` and Consul's single-dash ``-name``."""
    parser.add_argument(f"--{name}", f"-{name}", **kwargs)


def _client_flags(parser: argparse.ArgumentParser) -> None:
    _flag(parser, "http-addr", dest="http_addr", default=None, help="agent address (env RAFTSTORE_HTTP_ADDR)")
    _flag(parser, "token", default=None, help="management token (env RAFTSTORE_HTTP_TOKEN)")
    _flag(parser, "ca-file", dest="ca_file", default=None, help="CA certificate to verify an HTTPS agent")


def add_commands(commands: Any) -> None:
    """Add ``agent``, ``kv``, ``members``, ``operator`` and ``info`` to the ``raftstore`` subcommands."""
    agent = commands.add_parser("agent", help="run a raftstore server (Consul-compatible HTTP API)")
    _flag(agent, "dev", action="store_true", default=None, help="one in-memory server, ready at once")
    _flag(agent, "node", dest="node_name", default=None, help="node name (default: the host name)")
    _flag(agent, "datacenter", default=None)
    _flag(agent, "data-dir", dest="data_dir", default=None, help="where a server keeps its Raft log and snapshots")
    _flag(agent, "http-addr", dest="http_addr", default=None, help="HTTP API address (default 127.0.0.1:8500)")
    _flag(agent, "raft-addr", dest="raft_addr", default=None, help="Raft RPC address (default 127.0.0.1:8300)")
    _flag(agent, "bootstrap-expect", dest="bootstrap_expect", type=int, default=None)
    _flag(agent, "retry-join", dest="retry_join", action="extend", nargs="+", default=None, metavar="ADDR")
    _flag(agent, "config-file", dest="config_files", action="append", default=[], metavar="FILE")
    _flag(agent, "token", default=None, help="management token required for writes, snapshots, operator")
    _flag(agent, "tls-cert-file", dest="tls_cert_file", default=None)
    _flag(agent, "tls-key-file", dest="tls_key_file", default=None)
    _flag(agent, "tls-ca-file", dest="tls_ca_file", default=None)
    _flag(agent, "tls-verify-incoming", dest="tls_verify_incoming", action="store_true", default=None)
    _flag(agent, "log-level", dest="log_level", default=None, choices=["debug", "info", "warning", "error"])

    kv = commands.add_parser("kv", help="read and write keys").add_subparsers(dest="kv_command", required=True)
    get = kv.add_parser("get", help="read a key, a prefix (-recurse) or key names (-keys)")
    get.add_argument("key", nargs="?", default="")
    for name in ("recurse", "keys", "detailed", "base64"):
        _flag(get, name, action="store_true")
    _flag(get, "separator", default=None)
    _flag(get, "stale", action="store_true")
    _flag(get, "consistent", action="store_true")
    _client_flags(get)
    put = kv.add_parser("put", help="write a key (VALUE, - for stdin, @file for a file)")
    put.add_argument("key")
    put.add_argument("value", nargs="?", default=None)
    _flag(put, "flags", type=int, default=None)
    _flag(put, "cas", action="store_true")
    _flag(put, "modify-index", dest="modify_index", type=int, default=None)
    _flag(put, "acquire", action="store_true")
    _flag(put, "release", action="store_true")
    _flag(put, "session", default=None)
    _flag(put, "base64", action="store_true", help="VALUE is base64-encoded")
    _client_flags(put)
    delete = kv.add_parser("delete", help="delete a key or a prefix (-recurse)")
    delete.add_argument("key", nargs="?", default="")
    _flag(delete, "recurse", action="store_true")
    _flag(delete, "cas", action="store_true")
    _flag(delete, "modify-index", dest="modify_index", type=int, default=None)
    _client_flags(delete)

    members = commands.add_parser("members", help="the cluster's servers")
    _client_flags(members)
    operator = commands.add_parser("operator", help="cluster operations").add_subparsers(
        dest="operator_command", required=True
    )
    raft = operator.add_parser("raft", help="the Raft configuration").add_subparsers(dest="raft_command", required=True)
    peers = raft.add_parser("list-peers", help="the Raft peers and their roles")
    _flag(peers, "stale", action="store_true")
    _client_flags(peers)
    remove = raft.add_parser("remove-peer", help="remove a server from the Raft configuration")
    _flag(remove, "id", dest="peer_id", default=None)
    _flag(remove, "address", default=None)
    _client_flags(remove)
    from raftstore.agent import autopilot_cli

    autopilot_cli.add(operator, _flag, _client_flags)
    info = commands.add_parser("info", help="the agent's status (Consul's `consul info`)")
    _client_flags(info)


def run(args: argparse.Namespace) -> int | None:
    """Run one of this module's commands; None when `args` names none of them."""
    handlers = {"agent": run_agent, "kv": _kv, "members": _members, "operator": _operator, "info": _info}
    handler = handlers.get(args.command)
    if handler is None:
        return None
    try:
        return handler(args)
    except ClientError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1


# ------------------------------------------------------------------------------------------------------ agent


def run_agent(args: argparse.Namespace) -> int:
    from raftstore.agent import logs
    from raftstore.agent.config import ConfigError, build_config, load_file
    from raftstore.agent.server import Agent

    flags = {
        key: getattr(args, key)
        for key in (
            "dev",
            "node_name",
            "datacenter",
            "data_dir",
            "http_addr",
            "raft_addr",
            "bootstrap_expect",
            "retry_join",
            "token",
            "tls_cert_file",
            "tls_key_file",
            "tls_ca_file",
            "tls_verify_incoming",
            "log_level",
        )
    }
    try:
        config = build_config([load_file(path) for path in args.config_files], flags)
    except (ConfigError, TypeError) as error:
        print(f"raftstore agent: {error}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    try:
        gctune.thresholds_from_env(os.environ.get("RAFTSTORE_GC"))  # refuse a bad setting before starting anything
    except gctune.GCSettingError as error:
        print(f"raftstore agent: {error}", file=sys.stderr)
        return 2

    async def main() -> int:
        agent = Agent(config)
        try:
            await agent.start()
        except ConfigError as error:
            print(f"raftstore agent: {error}", file=sys.stderr)
            return 2
        except OSError as error:  # an address in use, a data directory it may not write: say so, no traceback
            print(f"raftstore agent: cannot start: {error}", file=sys.stderr)
            return 1
        gctune.tune_for_server()  # after start-up, so that what start-up built is frozen too
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"raftstore agent: HTTP API on {agent.scheme}://{agent.http_address}", flush=True)
        await stop.wait()
        log.info("shutting down (signal received)")
        await agent.stop()
        return 0

    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(main())
    return 0


# ------------------------------------------------------------------------------------------------------ clients


def _client(args: argparse.Namespace) -> HTTPClient:
    return HTTPClient(args.http_addr, args.token, args.ca_file)


def _kv(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.kv_command == "get":
        return _kv_get(client, args)
    if args.kv_command == "put":
        return _kv_put(client, args)
    return _kv_delete(client, args)


def _decode(entry: dict[str, Any]) -> bytes:
    return base64.b64decode(entry["Value"]) if entry.get("Value") else b""


def _kv_get(client: HTTPClient, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"stale": True if args.stale else None, "consistent": True if args.consistent else None}
    out = sys.stdout.buffer
    if args.keys:
        params.update(keys=True, separator=args.separator if args.separator is not None else "/")
        keys = client.json("GET", f"/v1/kv/{args.key}", params) or []
        for key in keys:
            out.write(key.encode() + b"\n")
        return 0
    if args.recurse:
        params["recurse"] = True
        entries = client.json("GET", f"/v1/kv/{args.key}", params) or []
        for entry in entries:
            value = _decode(entry)
            if args.base64:
                value = base64.b64encode(value)
            if args.detailed:
                _print_detailed(entry, value)
            else:
                out.write(entry["Key"].encode() + b":" + value + b"\n")
        return 0
    if not args.key:
        print("Error! Missing KEY argument", file=sys.stderr)
        return 1
    entries = client.json("GET", f"/v1/kv/{args.key}", params)
    if not entries:
        print(f"Error! No key exists at: {args.key}", file=sys.stderr)
        return 1
    value = _decode(entries[0])
    if args.base64:
        value = base64.b64encode(value)
    if args.detailed:
        _print_detailed(entries[0], value)
    else:
        out.write(value + b"\n")
    return 0


def _print_detailed(entry: dict[str, Any], value: bytes) -> None:
    rows = [
        ("CreateIndex", entry["CreateIndex"]),
        ("Flags", entry["Flags"]),
        ("Key", entry["Key"]),
        ("LockIndex", entry["LockIndex"]),
        ("ModifyIndex", entry["ModifyIndex"]),
        ("Session", entry.get("Session") or "-"),
        ("Value", value.decode("utf-8", "replace")),
    ]
    for name, item in rows:
        print(f"{name:<16} {item}")
    sys.stdout.flush()


def _kv_put(client: HTTPClient, args: argparse.Namespace) -> int:
    raw = args.value
    if raw is None or raw == "-":
        data = sys.stdin.buffer.read() if raw == "-" else b""
    elif raw.startswith("@"):
        with open(raw[1:], "rb") as source:
            data = source.read()
    else:
        data = raw.encode()
    if args.base64:
        data = base64.b64decode(data)
    params: dict[str, Any] = {"flags": args.flags}
    if args.cas:
        if args.modify_index is None:
            print("Error! Must specify -modify-index with -cas", file=sys.stderr)
            return 1
        params["cas"] = args.modify_index
    if args.acquire or args.release:
        if not args.session:
            print("Error! Missing -session (required with -acquire and -release)", file=sys.stderr)
            return 1
        params["acquire" if args.acquire else "release"] = args.session
    ok = client.json("PUT", f"/v1/kv/{args.key}", params, data)
    if not ok:
        reason = "CAS failed" if args.cas else "lock not acquired" if args.acquire else "lock not held"
        print(f"Error! Did not write to {args.key}: {reason}", file=sys.stderr)
        return 1
    done = "Lock acquired on" if args.acquire else "Lock released on" if args.release else "Data written to"
    print(f"Success! {done}: {args.key}")
    return 0


def _kv_delete(client: HTTPClient, args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"recurse": True if args.recurse else None}
    if args.cas:
        if args.modify_index is None:
            print("Error! Must specify -modify-index with -cas", file=sys.stderr)
            return 1
        params["cas"] = args.modify_index
    ok = client.json("DELETE", f"/v1/kv/{args.key}", params)
    if not ok:
        print(f"Error! Did not delete key {args.key}: CAS failed", file=sys.stderr)
        return 1
    print(f"Success! Deleted key{'s under' if args.recurse else ''}: {args.key}")
    return 0


def _table(rows: list[list[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def _members(args: argparse.Namespace) -> int:
    members = _client(args).json("GET", "/v1/agent/members") or []
    rows = [["Node", "Address", "Status", "Type", "Build", "Protocol", "DC"]]
    for m in members:
        tags = m.get("Tags", {})
        status = {1: "alive", 2: "leaving", 3: "left", 4: "failed"}.get(m.get("Status"), "unknown")
        rows.append(
            [m["Name"], f"{m['Addr']}:{m['Port']}", status, "server", tags.get("build", ""), "2", tags.get("dc", "")]
        )
    _table(rows)
    return 0


def _operator(args: argparse.Namespace) -> int:
    client = _client(args)
    if args.operator_command == "autopilot":
        from raftstore.agent import autopilot_cli

        return autopilot_cli.run(args, client)
    if args.raft_command == "list-peers":
        config = client.json("GET", "/v1/operator/raft/configuration", {"stale": True if args.stale else None})
        rows = [["Node", "ID", "Address", "State", "Voter", "RaftProtocol"]]
        for server in (config or {}).get("Servers", []):
            state = "leader" if server["Leader"] else "follower"
            rows.append(
                [
                    server["Node"],
                    server["ID"],
                    server["Address"],
                    state,
                    str(server["Voter"]).lower(),
                    server["ProtocolVersion"],
                ]
            )
        _table(rows)
        return 0
    if (args.peer_id is None) == (args.address is None):
        print("Error! Give exactly one of -id and -address", file=sys.stderr)
        return 1
    params = {"id": args.peer_id} if args.peer_id else {"address": args.address}
    client.request("DELETE", "/v1/operator/raft/peer", params)
    what = f"id {args.peer_id!r}" if args.peer_id else f"address {args.address!r}"
    print(f"Removed peer with {what}")
    return 0


def _info(args: argparse.Namespace) -> int:
    info = _client(args).json("GET", "/v1/agent/self") or {}
    for section, values in sorted((info.get("Stats") or {}).items()):
        print(f"{section}:")
        for key, value in sorted(values.items()):
            print(f"\t{key} = {value}")
    return 0
