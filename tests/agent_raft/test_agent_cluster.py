"""A 3-server cluster of `raftstore agent` processes (server mode, WAL with fsync, Raft over TCP) driven with the
real Consul client: writes through any server (followers forward), consistent and stale reads, the Raft
configuration, snapshot save and restore with the CLI, and a graceful stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import consul
import pytest

from raftstore.cli import main

from .support import AgentProcess, start_cluster

DEADLINE = 60.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[AgentProcess]]:
    agents = start_cluster(tmp_path, 3)
    try:
        yield agents
    finally:
        for agent in agents:
            agent.stop()


def client(agent: AgentProcess) -> consul.Consul:
    host, port = agent.http_addr.rsplit(":", 1)
    return consul.Consul(host=host, port=int(port))


def wait_leader(agents: list[AgentProcess]) -> str:
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            leaders = {client(a).status.leader() for a in agents}
        except Exception:  # not up yet
            leaders = set()
        if len(leaders) == 1 and "" not in leaders:
            return leaders.pop()
        time.sleep(0.05)
    raise AssertionError("no leader agreed on by every server")


def test_writes_through_any_server_and_snapshots(cluster: list[AgentProcess], tmp_path: Path) -> None:
    wait_leader(cluster)
    for n, agent in enumerate(cluster):  # every server accepts writes: followers forward to the leader
        assert client(agent).kv.put(f"key/{n}", f"value-{n}") is True
    for agent in cluster:
        index, items = client(agent).kv.get("key/", recurse=True, consistency="consistent")
        assert sorted(i["Key"] for i in items) == ["key/0", "key/1", "key/2"] and int(index) > 0
    peers = client(cluster[0]).status.peers()
    assert sorted(peers) == sorted(a.raft_addr for a in cluster)
    config = client(cluster[1]).operator.raft_config()
    assert len(config["Servers"]) == 3 and sum(s["Leader"] for s in config["Servers"]) == 1

    # Sessions, locks, txn, catalog and health through a follower (each forwarded to the leader).
    leader_address = wait_leader(cluster)
    follower = next(a for a in cluster if a.raft_addr != leader_address)
    c = client(follower)
    end = time.monotonic() + DEADLINE
    while len([n for n in c.catalog.nodes()[1] if n["Node"].startswith("server-")]) < 3:  # the leader's duty
        assert time.monotonic() < end, "the leader did not register the servers in the catalog"
        time.sleep(0.05)
    session = c.session.create(name="lock-holder", ttl=30)
    assert c.kv.put("locks/a", "mine", acquire=session) is True
    assert client(cluster[2]).kv.get("locks/a", consistency="consistent")[1]["Session"] == session
    assert c.session.info(session)[1]["Name"] == "lock-holder"
    ok = c.txn.put([{"KV": {"Verb": "set", "Key": "txn/x", "Value": "eA=="}}, {"KV": {"Verb": "get", "Key": "txn/x"}}])
    assert ok["Errors"] is None and len(ok["Results"]) == 2
    assert (
        c.catalog.register(
            "web-node",
            "10.0.0.7",
            service={"Service": "web", "Port": 80},
            check={"Name": "web-alive", "Status": "passing", "ServiceID": "web"},
        )
        is True
    )
    _, nodes = c.health.service("web", passing=True)
    assert [n["Node"]["Node"] for n in nodes] == ["web-node"]
    index, _ = c.kv.get("block/me")
    import threading

    def later() -> None:
        time.sleep(0.3)
        client(cluster[2]).kv.put("block/me", "now")

    writer = threading.Thread(target=later)
    writer.start()
    new_index, entry = c.kv.get("block/me", index=index, wait="20s")  # a blocking query on a follower
    writer.join()
    assert entry is not None and entry["Value"] == b"now" and int(new_index) > int(index)
    assert c.session.destroy(session) is True

    archive = tmp_path / "backup.snap"
    assert main(["snapshot", "save", "--http-addr", cluster[2].http_addr, str(archive)]) == 0
    assert archive.exists() and not (tmp_path / "backup.snap.unverified").exists()
    client(cluster[0]).kv.put("key/after", "x")
    client(cluster[0]).kv.delete("key/0")
    assert main(["snapshot", "restore", "--http-addr", cluster[1].http_addr, str(archive)]) == 0
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:  # every server ends with the restored state
        views = [
            sorted(i["Key"] for i in (client(a).kv.get("key/", recurse=True, consistency="stale")[1] or []))
            for a in cluster
        ]
        if all(v == ["key/0", "key/1", "key/2"] for v in views):
            break
        time.sleep(0.05)
    assert all(v == ["key/0", "key/1", "key/2"] for v in views), views
    assert client(cluster[0]).kv.put("key/3", "after-restore") is True


def test_autopilot_endpoints_and_cli(cluster: list[AgentProcess], capsys: pytest.CaptureFixture[str]) -> None:
    import json
    import urllib.error
    import urllib.request

    wait_leader(cluster)
    follower = cluster[0]
    url = f"http://{follower.http_addr}/v1/operator/autopilot"
    end = time.monotonic() + DEADLINE
    health: dict[str, object] = {}
    while time.monotonic() < end:  # autopilot's first round on the leader (every 2 s); followers forward
        try:
            with urllib.request.urlopen(url + "/health", timeout=10) as answer:
                health = json.loads(answer.read())
                break
        except urllib.error.HTTPError as error:
            assert error.code in (429, 500), error.code
            time.sleep(0.2)
    assert health.get("Healthy") is True and health.get("FailureTolerance") == 1
    assert len(health["Servers"]) == 3  # type: ignore[arg-type]
    with urllib.request.urlopen(url + "/state", timeout=10) as answer:
        state = json.loads(answer.read())
    assert state["Healthy"] is True and len(state["Voters"]) == 3

    address = ["--http-addr", cluster[1].http_addr]
    assert (
        main(["operator", "autopilot", "set-config", "-min-quorum", "3", "-server-stabilization-time", "5s", *address])
        == 0
    )
    capsys.readouterr()
    assert main(["operator", "autopilot", "get-config", *address]) == 0
    out = capsys.readouterr().out
    assert "MinQuorum = 3" in out and "ServerStabilizationTime = 5s" in out
    assert main(["operator", "autopilot", "state", *address]) == 0
    assert "Healthy:" in capsys.readouterr().out
