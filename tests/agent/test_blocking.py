"""Blocking queries: a write wakes them, the wait times them out (with Consul's jitter bound), shutdown releases
them, and every family of blocking endpoint honours ``index``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import consul

from raftstore.agent.server import AgentThread


def _in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    thread.start()
    return thread, out


def test_kv_blocking_query_returns_on_write(client: consul.Consul) -> None:
    client.kv.put("watched", "v1")
    index, _ = client.kv.get("watched")
    thread, out = _in_background(lambda: client.kv.get("watched", index=index, wait="30s"))
    time.sleep(0.2)
    assert thread.is_alive(), "the query must wait while nothing changes"
    client.kv.put("watched", "v2")
    thread.join(15)
    assert not thread.is_alive()
    new_index, entry = out[0]
    assert int(new_index) > int(index) and entry["Value"] == b"v2"


def test_blocking_query_times_out_with_same_index(client: consul.Consul) -> None:
    client.kv.put("quiet", "v")
    index, _ = client.kv.get("quiet")
    started = time.monotonic()
    same_index, entry = client.kv.get("quiet", index=index, wait="300ms")
    elapsed = time.monotonic() - started
    assert same_index == index and entry["Value"] == b"v"
    assert 0.29 <= elapsed < 10  # waited the full wait (plus at most wait/16 of jitter, and a loaded machine)


def test_unrelated_write_does_not_answer_a_key_query(client: consul.Consul) -> None:
    client.kv.put("a", "1")
    index, _ = client.kv.get("a")
    thread, out = _in_background(lambda: client.kv.get("a", index=index, wait="1s"))
    time.sleep(0.1)
    client.kv.put("b", "2")  # wakes the watch of a neighbouring path, but a's index does not move
    thread.join(15)
    assert out[0][0] == index


def test_prefix_blocking_query_sees_deletes(client: consul.Consul) -> None:
    client.kv.put("dir/x", "1")
    index, _ = client.kv.get("dir/", recurse=True)
    thread, out = _in_background(lambda: client.kv.get("dir/", recurse=True, index=index, wait="30s"))
    time.sleep(0.1)
    client.kv.delete("dir/x")
    thread.join(15)
    assert int(out[0][0]) > int(index) and out[0][1] is None


def test_catalog_health_and_session_queries_block(client: consul.Consul) -> None:
    index, _ = client.catalog.services()
    services, services_out = _in_background(lambda: client.catalog.services(index=index, wait="30s"))
    health_index, _ = client.health.service("api")
    health, health_out = _in_background(lambda: client.health.service("api", index=health_index, wait="30s"))
    session_index, _ = client.session.list()
    sessions, sessions_out = _in_background(lambda: client.session.list(index=session_index, wait="30s"))
    time.sleep(0.2)
    client.catalog.register("api-1", "10.0.0.5", service={"service": "api", "port": 9000})
    client.session.create()
    for thread in (services, health, sessions):
        thread.join(15)
        assert not thread.is_alive()
    assert "api" in services_out[0][1]
    assert [e["Service"]["Service"] for e in health_out[0][1]] == ["api"]
    assert len(sessions_out[0][1]) == 1


def test_shutdown_releases_waiting_queries(agent_factory: Callable[..., AgentThread], consul_for: Any) -> None:
    agent = agent_factory()
    c = consul_for(agent)
    c.kv.put("k", "v")
    index, _ = c.kv.get("k")
    thread, out = _in_background(lambda: c.kv.get("k", index=index, wait="5m"))
    time.sleep(0.2)
    started = time.monotonic()
    agent.stop()
    thread.join(15)
    assert not thread.is_alive() and out and out[0][0] == index
    assert time.monotonic() - started < 10


def test_wait_is_clamped_to_max_query_time(agent_factory: Callable[..., AgentThread], consul_for: Any) -> None:
    from raftstore.agent.config import AgentConfig

    agent = agent_factory(AgentConfig(dev=True, node_name="n", http_addr="127.0.0.1:0", max_query_time=0.3))
    c = consul_for(agent)
    c.kv.put("k", "v")
    index, _ = c.kv.get("k")
    started = time.monotonic()
    assert c.kv.get("k", index=index, wait="10m")[0] == index
    assert time.monotonic() - started < 10  # 0.3 s (+ jitter), not ten minutes
