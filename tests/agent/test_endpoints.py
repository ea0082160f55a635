"""Every endpoint family other than KV through py-consul (and raw HTTP where the client hides the answer):
sessions, catalog, health, txn, status, operator raft, agent, snapshot."""

from __future__ import annotations

import base64
import json
import time

import consul
import pytest

from raftstore.agent.server import AgentThread
from raftstore.fsm import MessageType


def _wait_for(condition, timeout: float = 15.0, interval: float = 0.05):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not reached before the deadline")


# ------------------------------------------------------------------------------------------------ sessions


def test_session_lifecycle(client: consul.Consul) -> None:
    session_id = client.session.create(name="worker", lock_delay=5, behavior="release")
    _, info = client.session.info(session_id)
    assert info["Name"] == "worker" and info["Node"] == "node-1" and info["LockDelay"] == 5 * 10**9
    assert info["NodeChecks"] == ["serfHealth"] and info["Behavior"] == "release"
    assert [s["ID"] for s in client.session.list()[1]] == [session_id]
    assert [s["ID"] for s in client.session.node("node-1")[1]] == [session_id]
    assert client.session.node("other")[1] == []
    renewed = client.session.renew(session_id)
    assert renewed["ID"] == session_id
    assert client.session.destroy(session_id) is True
    assert client.session.info(session_id)[1] is None
    assert client.session.info("1" * 36)[1] is None


def test_session_renew_unknown_is_404(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    answer = raw("PUT", "/v1/session/renew/" + "2" * 36)
    assert answer.status == 404 and "not found" in answer.text
    with pytest.raises(consul.NotFound):
        client.session.renew("2" * 36)


def test_session_create_lowercase_fields_and_defaults(raw) -> None:  # type: ignore[no-untyped-def]
    created = raw("PUT", "/v1/session/create", json.dumps({"name": "x", "lockdelay": "7s", "behavior": "delete"}))
    assert created.status == 200
    session = raw("GET", f"/v1/session/info/{created.json()['ID']}").json()[0]
    assert (session["Name"], session["LockDelay"], session["Behavior"]) == ("x", 7 * 10**9, "delete")
    empty = raw("PUT", "/v1/session/create")
    assert empty.status == 200 and len(empty.json()["ID"]) == 36


def test_ttl_session_expires_unless_renewed(raw) -> None:  # type: ignore[no-untyped-def]
    doomed = raw("PUT", "/v1/session/create", json.dumps({"TTL": "0.3s", "LockDelay": 0})).json()["ID"]
    kept = raw("PUT", "/v1/session/create", json.dumps({"TTL": "0.3s"})).json()["ID"]
    assert raw("PUT", "/v1/kv/held?acquire=" + doomed, b"v").json() is True
    deadline = time.monotonic() + 20
    while raw("GET", f"/v1/session/info/{doomed}").json():
        assert raw("PUT", f"/v1/session/renew/{kept}").status == 200
        assert time.monotonic() < deadline, "the TTL session never expired"
        time.sleep(0.05)
    assert raw("GET", f"/v1/session/info/{kept}").json()[0]["ID"] == kept
    assert "Session" not in raw("GET", "/v1/kv/held").json()[0]  # its lock was released


def test_session_ttl_bounds(raw) -> None:  # type: ignore[no-untyped-def]
    answer = raw("PUT", "/v1/session/create", json.dumps({"TTL": "100000h"}))
    assert answer.status == 400 and "must be between" in answer.text


def test_session_needs_registered_checks(raw) -> None:  # type: ignore[no-untyped-def]
    answer = raw("PUT", "/v1/session/create", json.dumps({"Checks": ["no-such-check"]}))
    assert answer.status == 500 and "no-such-check" in answer.text


# ------------------------------------------------------------------------------------------------ catalog & health


def _register_web(client: consul.Consul) -> None:
    client.catalog.register(
        "web-1",
        "10.0.0.1",
        service={"service": "web", "id": "web-a", "port": 80, "tags": ["v1", "blue"]},
        check={"checkid": "web-a-alive", "name": "alive", "status": "passing", "serviceid": "web-a"},
    )
    client.catalog.register(
        "web-2",
        "10.0.0.2",
        service={"service": "web", "id": "web-b", "port": 81, "tags": ["v2"]},
        check={"checkid": "web-b-alive", "name": "alive", "status": "critical", "serviceid": "web-b"},
    )


def test_catalog_register_and_queries(client: consul.Consul) -> None:
    _register_web(client)
    _, nodes = client.catalog.nodes()
    assert {n["Node"] for n in nodes} == {"node-1", "web-1", "web-2"}
    _, services = client.catalog.services()
    assert services["web"] == ["v1", "blue", "v2"] and "consul" in services
    _, instances = client.catalog.service("web")
    assert sorted((i["ServiceID"], i["Address"], i["ServicePort"]) for i in instances) == [
        ("web-a", "10.0.0.1", 80),
        ("web-b", "10.0.0.2", 81),
    ]
    assert [i["ServiceID"] for i in client.catalog.service("web", tag="v2")[1]] == ["web-b"]
    _, node = client.catalog.node("web-1")
    assert node["Node"]["Address"] == "10.0.0.1" and node["Services"]["web-a"]["Port"] == 80
    assert client.catalog.node("nobody")[1] is None


def test_catalog_node_meta_filter(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    body = {"Node": "meta-node", "Address": "10.1.1.1", "NodeMeta": {"rack": "r1"}}
    assert raw("PUT", "/v1/catalog/register", json.dumps(body)).json() is True
    _, nodes = client.catalog.nodes(node_meta={"rack": "r1"})
    assert [n["Node"] for n in nodes] == ["meta-node"]


def test_catalog_deregister(client: consul.Consul) -> None:
    _register_web(client)
    assert client.catalog.deregister("web-1", service_id="web-a") is True
    assert [i["ServiceID"] for i in client.catalog.service("web")[1]] == ["web-b"]
    assert client.catalog.deregister("web-2") is True
    assert client.catalog.service("web")[1] == []
    assert {n["Node"] for n in client.catalog.nodes()[1]} == {"node-1", "web-1"}


def test_health_service_passing(client: consul.Consul) -> None:
    _register_web(client)
    _, everything = client.health.service("web")
    assert len(everything) == 2 and all({"Node", "Service", "Checks"} <= set(e) for e in everything)
    _, passing = client.health.service("web", passing=True)
    assert [e["Service"]["ID"] for e in passing] == ["web-a"]
    assert passing[0]["Checks"][0]["Status"] == "passing"
    _, tagged = client.health.service("web", tag="v2")
    assert [e["Service"]["ID"] for e in tagged] == ["web-b"]


def test_health_node_checks_and_state(raw, client: consul.Consul) -> None:  # type: ignore[no-untyped-def]
    _register_web(client)
    assert {c["CheckID"] for c in raw("GET", "/v1/health/node/web-1").json()} == {"web-a-alive"}
    assert {c["CheckID"] for c in raw("GET", "/v1/health/checks/web").json()} == {"web-a-alive", "web-b-alive"}
    assert {c["CheckID"] for c in raw("GET", "/v1/health/state/critical").json()} == {"web-b-alive"}
    assert raw("GET", "/v1/health/state/bogus").status == 400


def test_critical_check_invalidates_sessions(client: consul.Consul) -> None:
    _register_web(client)
    session = client.session.create(node="web-1", checks=["web-a-alive"], lock_delay=0)
    client.catalog.register(
        "web-1", "10.0.0.1", check={"checkid": "web-a-alive", "status": "critical", "serviceid": "web-a"}
    )
    assert client.session.info(session)[1] is None


# ------------------------------------------------------------------------------------------------ txn


def test_txn_success_and_rollback(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    value = base64.b64encode(b"hello").decode()
    result = client.txn.put(
        [
            {"KV": {"Verb": "set", "Key": "t/a", "Value": value}},
            {"KV": {"Verb": "set", "Key": "t/b", "Value": value, "Flags": 3}},
            {"KV": {"Verb": "get", "Key": "t/a"}},
        ]
    )
    assert result["Errors"] is None and len(result["Results"]) == 3
    assert result["Results"][2]["KV"]["Value"] == value and result["Results"][0]["KV"]["Value"] is None
    failed = raw(
        "PUT",
        "/v1/txn",
        json.dumps(
            [{"KV": {"Verb": "set", "Key": "t/c", "Value": value}}, {"KV": {"Verb": "cas", "Key": "t/a", "Index": 1}}]
        ),
    )
    assert failed.status == 409
    body = failed.json()
    assert body["Results"] is None and body["Errors"][0]["OpIndex"] == 1 and "stale" in body["Errors"][0]["What"]
    assert client.kv.get("t/c")[1] is None  # rolled back
    with pytest.raises(consul.ConsulException):
        client.txn.put([{"KV": {"Verb": "get", "Key": "missing"}}])


def test_read_only_txn_is_served_without_a_write(raw) -> None:  # type: ignore[no-untyped-def]
    raw("PUT", "/v1/kv/r", b"1")
    before = int(raw("GET", "/v1/kv/r").headers["X-Consul-Index"])
    answer = raw("PUT", "/v1/txn?stale", json.dumps([{"KV": {"Verb": "get", "Key": "r"}}]))
    assert answer.status == 200 and answer.headers["X-Consul-Effective-Consistency"] == "stale"
    raw("PUT", "/v1/kv/r2", b"1")
    assert int(raw("GET", "/v1/kv/r2").headers["X-Consul-Index"]) == before + 1  # the read took no index


def test_txn_catalog_and_session_ops(raw, client: consul.Consul) -> None:  # type: ignore[no-untyped-def]
    ops = [
        {"Node": {"Verb": "set", "Node": {"Node": "txn-node", "Address": "10.9.9.9"}}},
        {"Service": {"Verb": "set", "Node": "txn-node", "Service": {"ID": "db", "Service": "db", "Port": 5432}}},
    ]
    answer = raw("PUT", "/v1/txn", json.dumps(ops))
    assert answer.status == 200, answer.text
    assert client.catalog.service("db")[1][0]["ServicePort"] == 5432
    session = client.session.create()
    answer = raw("PUT", "/v1/txn", json.dumps([{"Session": {"Verb": "delete", "Session": {"ID": session}}}]))
    assert answer.status == 200 and client.session.info(session)[1] is None


# ------------------------------------------------------------------------------------------------ cluster views


def test_status_operator_and_agent(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    assert client.status.leader() == "127.0.0.1:8300"
    assert client.status.peers() == ["127.0.0.1:8300"]
    config = client.operator.raft_config()
    assert config["Index"] == 1 and len(config["Servers"]) == 1  # the bootstrap configuration is entry 1
    server = config["Servers"][0]
    assert server["Leader"] and server["Voter"] and server["Node"] == "node-1"
    me = client.agent.self()
    assert me["Config"]["NodeName"] == "node-1" and me["Stats"]["consul"]["leader_addr"] == "127.0.0.1:8300"
    assert me["Stats"]["raft"]["state"] == "Leader" and me["Config"]["Version"]
    members = client.agent.members()
    assert [m["Name"] for m in members] == ["node-1"] and members[0]["Tags"]["role"] == "consul"


def test_remove_peer_answers(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    assert raw("DELETE", "/v1/operator/raft/peer").status == 400
    assert raw("DELETE", "/v1/operator/raft/peer?id=a&address=b:1").status == 400
    with pytest.raises(consul.ConsulException):
        client.operator.raft_remove_peer(address="10.0.0.9:8300")
    answer = raw("DELETE", "/v1/operator/raft/peer?address=127.0.0.1:8300")
    assert answer.status == 500 and "only server" in answer.text


# ------------------------------------------------------------------------------------------------ snapshots


def test_snapshot_save_and_restore(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    client.kv.put("snap/a", "1")
    client.kv.put("snap/b", "2")
    session = client.session.create()
    saved = raw("GET", "/v1/snapshot")
    assert saved.status == 200 and saved.body[:2] == b"\x1f\x8b"
    index = int(saved.headers["X-Consul-Index"])
    assert index >= int(client.kv.get("snap/b")[0])
    assert client.snapshot.save()[:2] == b"\x1f\x8b"
    client.kv.delete("snap/", recurse=True)
    client.kv.put("after", "x")
    assert client.snapshot.restore(saved.body) is True
    _, entries = client.kv.get("snap/", recurse=True)
    assert [(e["Key"], e["Value"]) for e in entries] == [("snap/a", b"1"), ("snap/b", b"2")]
    assert client.kv.get("after")[1] is None
    assert client.session.info(session)[1]["ID"] == session
    client.kv.put("post-restore", "y")
    assert int(client.kv.get("post-restore")[0]) > index  # indexes keep growing after a restore


def test_restore_wakes_blocking_queries(agent: AgentThread, client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    import threading

    client.kv.put("w", "old")
    archive = raw("GET", "/v1/snapshot").body
    client.kv.put("w", "newer")
    index, _ = client.kv.get("w")
    answers: list[object] = []
    waiter = threading.Thread(target=lambda: answers.append(client.kv.get("w", index=index, wait="30s")))
    waiter.start()
    time.sleep(0.2)
    started = time.monotonic()
    assert client.snapshot.restore(archive) is True
    waiter.join(20)
    assert answers and answers[0][1]["Value"] == b"old"  # type: ignore[index]
    assert time.monotonic() - started < 15


def test_bad_snapshot_is_refused_and_state_kept(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    client.kv.put("keep", "me")
    good = raw("GET", "/v1/snapshot").body
    for body in (b"not a snapshot", good[:-20], good[:40] + bytes(20) + good[60:]):
        answer = raw("PUT", "/v1/snapshot", body)
        assert answer.status == 400 and "snapshot" in answer.text.lower()
    assert client.kv.get("keep")[1]["Value"] == b"me"


def test_autopilot_configuration(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    config = client.operator.autopilot_configuration()
    assert config["CleanupDeadServers"] is True and config["LastContactThreshold"] == "200ms"
    answer = raw(
        "PUT", "/v1/operator/autopilot/configuration", json.dumps({"cleanupdeadservers": False, "MaxTrailingLogs": 99})
    )
    assert answer.status == 200 and answer.json() is True
    stored = raw("GET", "/v1/operator/autopilot/configuration").json()
    assert stored["CleanupDeadServers"] is False and stored["MaxTrailingLogs"] == 99 and stored["ModifyIndex"] > 0
    stale_cas = raw("PUT", f"/v1/operator/autopilot/configuration?cas={stored['ModifyIndex'] - 1}", json.dumps(stored))
    assert stale_cas.json() is False
    good_cas = raw(
        "PUT",
        f"/v1/operator/autopilot/configuration?cas={stored['ModifyIndex']}",
        json.dumps({**stored, "MinQuorum": 3}),
    )
    assert good_cas.json() is True and raw("GET", "/v1/operator/autopilot/configuration").json()["MinQuorum"] == 3
    bad = raw("PUT", "/v1/operator/autopilot/configuration", json.dumps({"LastContactThreshold": "soon"}))
    assert bad.status == 400


def test_catalog_details_consul_clients_rely_on(client: consul.Consul, raw) -> None:  # type: ignore[no-untyped-def]
    assert client.catalog.datacenters() == ["dc1"]
    with pytest.raises(consul.ConsulException):
        client.catalog.register("far", "10.0.0.1", dc="dc2")  # the body's Datacenter names another datacenter
    with pytest.raises(consul.ConsulException):
        client.catalog.nodes(dc="dc2")
    assert client.catalog.register("n1", "10.1.10.11", service={"service": "s1"}, check={"name": "c1"}) is True
    assert [c["CheckID"] for c in raw("GET", "/v1/health/node/n1").json()] == ["c1"]  # ID defaults to the name
    assert client.catalog.service("s1", peer="unknown-peer")[1] == []
    assert client.catalog.connect("s1")[1] == []


def test_transfer_leader_without_another_voter(client: consul.Consul) -> None:
    with pytest.raises(consul.ConsulException, match="no other voter"):
        client.operator.raft_transfer_leader()


def test_filter_expressions_on_catalog_and_health(client: consul.Consul) -> None:
    _register_web(client)
    _, nodes = client.catalog.nodes(filter_expr='Node == "web-1"')
    assert [n["Node"] for n in nodes] == ["web-1"]
    _, services = client.catalog.services(filter_expr='"v2" in ServiceTags')
    assert services == {"web": ["v2"]}
    _, instances = client.catalog.service("web", filter_expr="ServicePort == 80")
    assert [i["ServiceID"] for i in instances] == ["web-a"]
    _, node = client.catalog.node("web-1", filter_expr="Service == nothing")
    assert node["Services"] == {}
    _, entries = client.health.service("web", filter_expr="Service.Port == 81")
    assert [e["Service"]["ID"] for e in entries] == ["web-b"]
    _, checks = client.health.state("any", filter_expr="Status == critical")
    assert [c["CheckID"] for c in checks] == ["web-b-alive"]
    with pytest.raises(consul.ConsulException):
        client.catalog.nodes(filter_expr="not a valid expression((")


def test_leader_reaps_old_tombstones(agent_factory) -> None:  # type: ignore[no-untyped-def]
    from raftstore.agent.config import AgentConfig

    agent = agent_factory(
        AgentConfig(dev=True, node_name="gc", http_addr="127.0.0.1:0", tombstone_ttl=0.3, tombstone_granularity=0.05)
    )
    backend = agent.agent.core.backend
    agent.call(backend.apply(MessageType.KVS, {"Op": "set", "DirEnt": {"Key": "doomed", "Value": b"v"}}))
    agent.call(backend.apply(MessageType.KVS, {"Op": "delete", "DirEnt": {"Key": "doomed"}}))
    assert [t.Key for t in backend.state.tombstones()] == ["doomed"]
    _wait_for(lambda: backend.state.tombstones() == [])
