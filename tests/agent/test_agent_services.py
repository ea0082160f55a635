"""Services and TTL checks registered through the agent (/v1/agent/service, /v1/agent/check): they land in the
catalog on the agent's node, TTL checks turn critical when not fed, health queries see it all; through a follower
the catalog writes are relayed to the leader for the follower's own node."""

from __future__ import annotations

import time
from typing import Any

import consul
import consul.check
import pytest

from raftstore.agent.server import AgentThread

Check = consul.check.Check


def _wait_for(condition: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached before the deadline")


def test_service_with_ttl_check(client: consul.Consul) -> None:
    assert client.agent.service.register("web", service_id="web-1", port=80, tags=["v1"], check=Check.ttl("1s"))
    assert client.agent.services()["web-1"]["Port"] == 80
    assert "consul" not in client.agent.services()  # the server's own service is the cluster's, not the agent's
    assert client.agent.checks()["service:web-1"]["Status"] == "critical"  # a TTL check starts critical
    assert client.health.service("web", passing=True)[1] == []
    client.agent.check.ttl_pass("service:web-1", notes="all good")
    entries = client.health.service("web", passing=True)[1]
    assert [e["Service"]["ID"] for e in entries] == ["web-1"]
    assert entries[0]["Node"]["Node"] == "node-1"
    assert client.agent.checks()["service:web-1"]["Output"] == "all good"
    # Not fed again: the TTL lapses and the check turns critical on its own.
    _wait_for(lambda: client.agent.checks()["service:web-1"]["Status"] == "critical")
    assert client.agent.checks()["service:web-1"]["Output"] == "TTL expired"
    assert client.agent.service.deregister("web-1") is True
    assert client.catalog.service("web")[1] == [] and client.agent.checks() == {}


def test_node_check_and_status_updates(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    assert client.agent.check.register("heartbeat", Check.ttl("30s"), notes="app heartbeat") is True
    assert client.agent.checks()["heartbeat"]["Notes"] == "app heartbeat"
    client.agent.check.ttl_warn("heartbeat", notes="slow")
    assert client.agent.checks()["heartbeat"]["Status"] == "warning"
    assert raw("PUT", "/v1/agent/check/update/heartbeat", '{"Status": "passing", "Output": "ok"}').status == 200
    assert client.agent.checks()["heartbeat"]["Status"] == "passing"
    client.agent.check.ttl_fail("heartbeat")
    assert client.health.state("critical")[1][0]["CheckID"] == "heartbeat"
    # A session tied to the check dies with it going critical.
    client.agent.check.ttl_pass("heartbeat")
    session = client.session.create(checks=["serfHealth", "heartbeat"])
    client.agent.check.ttl_fail("heartbeat")
    assert client.session.info(session)[1] is None
    assert client.agent.check.deregister("heartbeat") is True
    assert client.agent.checks() == {}


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/agent/service/register", '{"Port": 80}', "Missing service name"),
        ("/v1/agent/service/register", '{"Name": "x", "Check": {"HTTP": "http://x", "Interval": "10s"}}', "TTL checks"),
        ("/v1/agent/service/register", '{"Name": "x", "Check": {"TTL": "soon"}}', "Invalid TTL"),
        ("/v1/agent/service/register", '{"Name": "x", "Port": -1}', "Port"),
        ("/v1/agent/check/register", '{"TTL": "10s"}', "Missing check name"),
        ("/v1/agent/check/register", '{"Name": "c", "TTL": "10s", "ServiceID": "nope"}', "does not exist"),
        ("/v1/agent/check/update/nope", '{"Status": "passing"}', "Unknown check"),
        ("/v1/agent/check/update/x", '{"Status": "sideways"}', "status"),
    ],
)
def test_bad_registrations(raw, path: str, body: str, fragment: str) -> None:  # type: ignore[no-untyped-def]
    answer = raw("PUT", path, body)
    assert answer.status in (400, 404) and fragment.lower() in answer.text.lower(), answer.text


def test_unknown_ids_are_404(raw) -> None:  # type: ignore[no-untyped-def]
    assert raw("PUT", "/v1/agent/service/deregister/ghost").status == 404
    assert raw("PUT", "/v1/agent/check/pass/ghost").status == 404
    assert raw("GET", "/v1/agent/service/ghost").status == 404


def test_follower_registers_on_its_own_node(agent_factory, consul_for, follower_backend) -> None:  # type: ignore[no-untyped-def]
    """A follower's agent endpoints write the catalog through the leader, for the follower's node."""
    from raftstore.agent.config import AgentConfig

    leader: AgentThread = agent_factory(AgentConfig(dev=True, node_name="leader", http_addr="127.0.0.1:0"))
    on_leader = consul_for(leader)
    # The follower's node must exist in the catalog (a Raft leader registers every server; here, by hand).
    assert on_leader.catalog.register("follower", "10.0.0.2") is True
    holder: dict[str, Any] = {}

    async def make(config: AgentConfig) -> Any:
        holder["backend"] = follower_backend("follower", lambda: leader.http_address)
        return holder["backend"]

    follower = agent_factory(AgentConfig(dev=True, node_name="follower", http_addr="127.0.0.1:0"), backend_factory=make)
    # The follower's own (never written) state lacks its node; point its reads at the leader's state instead.
    holder["backend"]._local = leader.agent.core.backend  # type: ignore[union-attr]
    via_follower = consul_for(follower)
    assert via_follower.agent.service.register("api", service_id="api-1", port=9000, check=Check.ttl("30s")) is True
    _, instances = on_leader.catalog.service("api")
    assert [(i["Node"], i["ServicePort"]) for i in instances] == [("follower", 9000)]
    via_follower.agent.check.ttl_pass("service:api-1")
    assert on_leader.health.service("api", passing=True)[1][0]["Node"]["Node"] == "follower"
