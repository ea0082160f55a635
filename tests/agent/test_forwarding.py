"""Forwarding: a server that is not the leader relays writes and leader/consistent reads to the leader's HTTP
address (one hop, whole request, answer relayed unchanged); stale reads stay local; no leader means 500."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import consul
import pytest
import requests

from raftstore.agent.config import AgentConfig
from raftstore.agent.server import AgentThread


def _config(name: str, **overrides: Any) -> AgentConfig:
    return AgentConfig(dev=True, node_name=name, http_addr="127.0.0.1:0", session_ttl_min=0.1, **overrides)


@pytest.fixture
def pair(agent_factory: Callable[..., AgentThread], follower_backend: Any) -> tuple[AgentThread, AgentThread, Any]:
    leader = agent_factory(_config("leader"))
    holder: dict[str, Any] = {}

    async def make(config: AgentConfig) -> Any:
        holder["b"] = follower_backend("follower", lambda: leader.http_address)
        return holder["b"]

    follower = agent_factory(_config("follower"), backend_factory=make)
    return leader, follower, holder["b"]


def test_writes_through_a_follower_land_on_the_leader(pair, consul_for) -> None:  # type: ignore[no-untyped-def]
    leader, follower, backend = pair
    via_follower, on_leader = consul_for(follower), consul_for(leader)
    assert via_follower.kv.put("fwd/a", "1", flags=9) is True
    assert on_leader.kv.get("fwd/a")[1]["Flags"] == 9
    session = via_follower.session.create()
    assert on_leader.session.info(session)[1]["Node"] == "leader"  # the leader's node is the default
    assert via_follower.kv.put("fwd/lock", "x", acquire=session) is True
    assert via_follower.catalog.register("n9", "10.0.0.9", service={"service": "s9"}) is True
    assert via_follower.txn.put([{"KV": {"Verb": "set", "Key": "fwd/t", "Value": "dA=="}}])["Errors"] is None
    assert via_follower.kv.delete("fwd/", recurse=True) is True
    assert on_leader.kv.get("fwd/", recurse=True)[1] is None
    assert "apply" in backend.calls


def test_reads_follow_the_consistency_mode(pair, consul_for) -> None:  # type: ignore[no-untyped-def]
    leader, follower, _ = pair
    consul_for(leader).kv.put("r", "leader-value")
    assert consul_for(follower).kv.get("r")[1]["Value"] == b"leader-value"  # default: the leader answers
    assert consul_for(follower, consistency="consistent").kv.get("r")[1]["Value"] == b"leader-value"
    stale = requests.get(f"http://{follower.http_address}/v1/kv/r?stale", timeout=30)
    assert stale.status_code == 404  # served by the (lagging) follower itself
    assert stale.headers["X-Consul-LastContact"] == "25" and stale.headers["X-Consul-KnownLeader"] == "true"
    too_stale = requests.get(f"http://{follower.http_address}/v1/kv/r?stale&max_stale=10ms", timeout=30)
    assert too_stale.status_code == 200  # older than max_stale: the leader answers


def test_blocking_query_through_a_follower(pair, consul_for) -> None:  # type: ignore[no-untyped-def]
    leader, follower, _ = pair
    c = consul_for(follower)
    c.kv.put("b", "1")
    index, _ = c.kv.get("b")
    out: list[Any] = []
    waiter = threading.Thread(target=lambda: out.append(c.kv.get("b", index=index, wait="30s")))
    waiter.start()
    time.sleep(0.2)
    consul_for(leader).kv.put("b", "2")
    waiter.join(15)
    assert out and out[0][1]["Value"] == b"2"


def test_snapshot_and_session_renew_through_a_follower(pair, consul_for) -> None:  # type: ignore[no-untyped-def]
    leader, follower, _ = pair
    via = consul_for(follower)
    via.kv.put("s", "before")
    archive = via.snapshot.save()
    assert archive[:2] == b"\x1f\x8b"
    via.kv.put("s", "after")
    assert via.snapshot.restore(archive) is True
    assert consul_for(leader).kv.get("s")[1]["Value"] == b"before"
    session = via.session.create()
    assert via.session.renew(session)["ID"] == session


def test_forwarding_carries_the_token(agent_factory, consul_for, follower_backend) -> None:  # type: ignore[no-untyped-def]
    leader = agent_factory(_config("leader", token="tok"))

    async def make(config: AgentConfig) -> Any:
        return follower_backend("follower", lambda: leader.http_address)

    follower = agent_factory(_config("follower", token="tok"), backend_factory=make)
    assert consul_for(follower, token="tok").kv.put("k", "v") is True
    with pytest.raises(consul.ACLPermissionDenied):
        consul_for(follower, token="nope").kv.put("k", "v")


def test_one_hop_only(agent_factory, follower_backend) -> None:  # type: ignore[no-untyped-def]
    addresses: dict[str, str] = {}

    async def make(config: AgentConfig) -> Any:
        return follower_backend("confused", lambda: addresses.get("self"))  # names itself as the leader

    confused = agent_factory(_config("confused"), backend_factory=make, ready_timeout=0.5)
    addresses["self"] = confused.http_address
    answer = requests.put(f"http://{confused.http_address}/v1/kv/loop", data=b"v", timeout=30)
    assert answer.status_code == 500 and "No cluster leader" in answer.text


def test_no_known_leader(agent_factory, follower_backend) -> None:  # type: ignore[no-untyped-def]
    async def make(config: AgentConfig) -> Any:
        return follower_backend("orphan", lambda: None)

    orphan = agent_factory(_config("orphan"), backend_factory=make, ready_timeout=0.2)
    base = f"http://{orphan.http_address}"
    for method, path in (("PUT", "/v1/kv/k"), ("GET", "/v1/kv/k"), ("GET", "/v1/kv/k?consistent")):
        answer = requests.request(method, base + path, data=b"v" if method == "PUT" else None, timeout=30)
        assert answer.status_code == 500 and answer.text == "No cluster leader"
    stale = requests.get(base + "/v1/kv/k?stale", timeout=30)
    assert stale.status_code == 404 and stale.headers["X-Consul-KnownLeader"] == "false"


def test_unreachable_leader(agent_factory, follower_backend) -> None:  # type: ignore[no-untyped-def]
    async def make(config: AgentConfig) -> Any:
        return follower_backend("lonely", lambda: "127.0.0.1:9")  # nothing listens on the discard port

    lonely = agent_factory(_config("lonely"), backend_factory=make, ready_timeout=0.2)
    answer = requests.put(f"http://{lonely.http_address}/v1/kv/k", data=json.dumps("v"), timeout=30)
    assert answer.status_code == 500 and "forward" in answer.text
