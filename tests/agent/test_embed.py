"""The embedding API: a server inside the test process used from plain synchronous code, without HTTP (and with
HTTP when asked, both views agreeing)."""

from __future__ import annotations

import threading
import time

import consul
import pytest

from raftstore.agent import Server
from raftstore.agent.errors import CommandRejected, InvalidRequest, TooLarge


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    with Server(node_name="embedded", session_ttl_min=0.1) as s:
        yield s


def test_kv(server: Server) -> None:
    assert server.kv_put("cfg/port", b"8500", flags=3) is True
    entry = server.kv_get("cfg/port")
    assert entry is not None and entry.Value == b"8500" and entry.Flags == 3
    entry.Value = b"mutated copy"  # a copy: the store is unaffected
    assert server.kv_get("cfg/port").Value == b"8500"  # type: ignore[union-attr]
    server.kv_put("cfg/mode", "dev")
    assert [e.Key for e in server.kv_list("cfg/")] == ["cfg/mode", "cfg/port"]
    assert server.kv_keys("", "/") == ["cfg/"]
    modify = server.kv_get("cfg/mode").ModifyIndex  # type: ignore[union-attr]
    assert server.kv_put("cfg/mode", "prod", cas=modify - 1) is False
    assert server.kv_put("cfg/mode", "prod", cas=modify) is True
    assert server.kv_delete("cfg/", recurse=True) is True
    assert server.kv_list("cfg/") == []
    assert server.kv_get("cfg/mode", consistency="stale") is None


def test_errors_are_the_agents(server: Server) -> None:
    with pytest.raises(InvalidRequest):
        server.kv_put("", b"v")
    with pytest.raises(TooLarge):
        server.kv_put("big", b"x" * (512 * 1024 + 1))
    with pytest.raises(CommandRejected):
        server.kv_put("k", b"v", acquire="no-such-session")
    with pytest.raises(ValueError):
        server.kv_get("k", consistency="sometimes")


def test_blocking_get(server: Server) -> None:
    server.kv_put("watched", b"1")
    index = server.kv_get("watched").ModifyIndex  # type: ignore[union-attr]
    out: list[object] = []
    waiter = threading.Thread(target=lambda: out.append(server.kv_get_blocking("watched", index=index, wait=30)))
    waiter.start()
    time.sleep(0.1)
    server.kv_put("watched", b"2")
    waiter.join(15)
    new_index, entry = out[0]  # type: ignore[misc]
    assert new_index > index and entry.Value == b"2"
    started = time.monotonic()
    assert server.kv_get_blocking("watched", index=new_index, wait=0.2)[0] == new_index
    assert time.monotonic() - started >= 0.19


def test_sessions_and_locks(server: Server) -> None:
    session = server.session_create(name="leader-election", lock_delay=0)
    assert server.kv_put("leader", "me", acquire=session) is True
    assert server.kv_get("leader").Session == session  # type: ignore[union-attr]
    assert server.session_info(session)["Name"] == "leader-election"  # type: ignore[index]
    assert [s["ID"] for s in server.session_list()] == [session]
    assert server.session_renew(session)["ID"] == session
    server.session_destroy(session)
    assert server.kv_get("leader").Session == ""  # type: ignore[union-attr]


def test_ttl_session_expires(server: Server) -> None:
    session = server.session_create(ttl="0.2s")
    deadline = time.monotonic() + 20
    while server.session_info(session) is not None:
        assert time.monotonic() < deadline, "TTL session never expired"
        time.sleep(0.05)


def test_catalog(server: Server) -> None:
    server.register(
        "web-1",
        "10.0.0.1",
        service={"Service": "web", "Port": 80, "Tags": ["v1"]},
        check={"CheckID": "alive", "Status": "passing", "ServiceID": "web"},
    )
    assert {n["Node"] for n in server.nodes()} == {"embedded", "web-1"}
    assert [s["ServicePort"] for s in server.service_nodes("web")] == [80]
    assert len(server.health_service("web", passing=True)) == 1
    server.deregister("web-1", service_id="web")
    assert server.service_nodes("web") == []


def test_txn(server: Server) -> None:
    result = server.txn([{"KV": {"Verb": "set", "DirEnt": {"Key": "t", "Value": b"v"}}}])
    assert result["Errors"] is None and server.kv_get("t").Value == b"v"  # type: ignore[union-attr]


def test_embedded_with_http() -> None:
    with Server(node_name="both", http_addr="127.0.0.1:0") as server:
        server.kv_put("shared", b"from python")
        host, port = server.http_address.rsplit(":", 1)
        c = consul.Consul(host=host, port=int(port))
        try:
            assert c.kv.get("shared")[1]["Value"] == b"from python"
            c.kv.put("shared", "from http")
        finally:
            c.http.session.close()
        assert server.kv_get("shared").Value == b"from http"  # type: ignore[union-attr]
