"""``raftstore operator autopilot get-config|set-config|state``, with Consul's flags and output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from raftstore.agent.client import HTTPClient

_BOOL = {"true": True, "false": False}


def _bool(text: str) -> bool:
    if text.lower() not in _BOOL:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return _BOOL[text.lower()]


def add(operator: Any, flag: Callable[..., None], client_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    autopilot = operator.add_parser("autopilot", help="autopilot's configuration and state").add_subparsers(
        dest="autopilot_command", required=True
    )
    get = autopilot.add_parser("get-config", help="show autopilot's configuration")
    client_flags(get)
    put = autopilot.add_parser("set-config", help="change autopilot's configuration (only the flags given)")
    flag(put, "cleanup-dead-servers", dest="cleanup_dead_servers", type=_bool, default=None)
    flag(put, "last-contact-threshold", dest="last_contact_threshold", default=None, help="a duration, e.g. 200ms")
    flag(put, "max-trailing-logs", dest="max_trailing_logs", type=int, default=None)
    flag(put, "min-quorum", dest="min_quorum", type=int, default=None)
    flag(put, "server-stabilization-time", dest="server_stabilization_time", default=None, help="e.g. 10s")
    client_flags(put)
    state = autopilot.add_parser("state", help="autopilot's view of the servers (on the leader)")
    flag(state, "format", default="pretty", choices=["pretty", "json"])
    client_flags(state)


def run(args: argparse.Namespace, client: HTTPClient) -> int:
    path = "/v1/operator/autopilot/configuration"
    if args.autopilot_command == "get-config":
        config = client.json("GET", path) or {}
        for key, value in config.items():  # the agent's order (AutopilotConfig.to_http), as Consul prints it
            if key in ("CreateIndex", "ModifyIndex"):
                continue
            shown = json.dumps(value) if isinstance(value, str) and key.endswith("Tag") else value
            print(f"{key} = {str(shown).lower() if isinstance(shown, bool) else shown}")
        return 0
    if args.autopilot_command == "set-config":
        config = client.json("GET", path) or {}
        changes = {
            "CleanupDeadServers": args.cleanup_dead_servers,
            "LastContactThreshold": args.last_contact_threshold,
            "MaxTrailingLogs": args.max_trailing_logs,
            "MinQuorum": args.min_quorum,
            "ServerStabilizationTime": args.server_stabilization_time,
        }
        config.update({k: v for k, v in changes.items() if v is not None})
        index = config.get("ModifyIndex")
        answer = client.json("PUT", path, {"cas": index} if index else None, json.dumps(config).encode())
        if answer is True:
            print("Configuration updated!")
            return 0
        print("Configuration could not be atomically updated, please try again")
        return 1
    _, _, body = client.request("GET", "/v1/operator/autopilot/state")
    state = json.loads(body)
    if args.format == "json":
        print(json.dumps(state, indent=4))
        return 0
    print(f"Healthy:                      {str(state.get('Healthy')).lower()}")
    print(f"Failure Tolerance:            {state.get('FailureTolerance')}")
    print(f"Optimistic Failure Tolerance: {state.get('OptimisticFailureTolerance', state.get('FailureTolerance'))}")
    print(f"Leader:                       {state.get('Leader')}")
    print("Voters:")
    for voter in state.get("Voters") or []:
        print(f"   {voter}")
    print("\nServers:")
    for server_id, server in sorted((state.get("Servers") or {}).items()):
        print(f"   {server.get('Name') or server_id}")
        for label, key in (
            ("ID", "ID"),
            ("Address", "Address"),
            ("Status", "Status"),
            ("Healthy", "Healthy"),
            ("Last Contact", "LastContact"),
            ("Last Term", "LastTerm"),
            ("Last Index", "LastIndex"),
            ("Stable Since", "StableSince"),
        ):
            value = server.get(key)
            print(f"      {label + ':':<18}{str(value).lower() if isinstance(value, bool) else value}")
    return 0
