"""Golden-state tests: JSON inputs -> the /v1/operator/autopilot/state and /health bodies Consul would serve.

Each directory under tests/autopilot/ holds `inputs.json` (one round of inputs; its "Description" says what the
case pins), `state.json` and `health.json`. The expected files were written once by the code and then checked by
hand against raft-autopilot's rules; set RAFTSTORE_REGENERATE_GOLDEN=1 to rewrite them after a deliberate change,
and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from raftstore.autopilot import (
    AutopilotConfig,
    NodeStatus,
    RaftServer,
    RaftState,
    Server,
    ServerHealth,
    ServerState,
    ServerStats,
    State,
    StateInputs,
    Suffrage,
    compute_state,
    health_to_consul,
    parse_rfc3339,
    state_to_consul,
)
from raftstore.util.goduration import parse_duration

pytestmark = pytest.mark.pure_python

GOLDEN = Path(__file__).parent / "autopilot"
CASES = sorted(path.name for path in GOLDEN.iterdir() if (path / "inputs.json").exists())


def _stats(body: dict[str, Any]) -> ServerStats:
    return ServerStats(parse_duration(body["LastContact"]), body["LastTerm"], body["LastIndex"])


def load_inputs(body: dict[str, Any]) -> StateInputs:
    """Build `StateInputs` from a case's inputs.json (durations as Go strings, times as RFC 3339)."""
    now = parse_rfc3339(body["Now"])
    current = None
    if "CurrentState" in body:
        servers = {
            server_id: ServerState(
                Server(id=server_id),
                RaftState.NONE,
                ServerStats(),
                ServerHealth(entry["Healthy"], parse_rfc3339(entry["StableSince"])),
            )
            for server_id, entry in body["CurrentState"]["Servers"].items()
        }
        current = State(False, 0, servers, "", (), parse_rfc3339(body["FirstStateTime"]))
    return StateInputs(
        now=now,
        config=AutopilotConfig.from_http(body["Config"]),
        raft_servers=[RaftServer(s["ID"], s["Address"], Suffrage(s["Suffrage"])) for s in body["RaftConfig"]],
        known_servers={
            server_id: Server(
                id=server_id,
                name=entry["Name"],
                address=entry["Address"],
                node_status=NodeStatus(entry["NodeStatus"]),
                version=entry["Version"],
                meta=entry.get("Meta"),
            )
            for server_id, entry in body["KnownServers"].items()
        },
        fetched_stats={server_id: _stats(entry) for server_id, entry in body["FetchedStats"].items()},
        leader_id=body["LeaderID"],
        is_leader=body["IsLeader"],
        latest_index=body["LatestIndex"],
        last_term=body["LastTerm"],
        current_state=current,
    )


def _check(path: Path, actual: Any) -> None:
    if os.environ.get("RAFTSTORE_REGENERATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert actual == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES)
def test_golden_state(case: str) -> None:
    inputs = load_inputs(json.loads((GOLDEN / case / "inputs.json").read_text(encoding="utf-8")))
    state = compute_state(inputs)
    _check(GOLDEN / case / "state.json", state_to_consul(state))
    status, body = health_to_consul(state)
    _check(GOLDEN / case / "health.json", {"StatusCode": status, "Body": body})


def test_the_cases_the_issue_names_are_present() -> None:
    assert {"typical", "one-failed", "non-voter", "no-leader", "not-the-leader"} <= set(CASES)
