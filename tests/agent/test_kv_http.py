"""The KV endpoint through the real Consul client (py-consul) and raw HTTP: shapes, flags, CAS, locks, headers."""

from __future__ import annotations

import base64

import consul
import pytest

from raftstore.agent.server import AgentThread


def test_put_get_delete_round_trip(client: consul.Consul) -> None:
    assert client.kv.put("app/config", "value-1", flags=42) is True
    index, entry = client.kv.get("app/config")
    assert entry["Value"] == b"value-1" and entry["Flags"] == 42 and entry["Key"] == "app/config"
    assert int(index) == entry["ModifyIndex"] == entry["CreateIndex"]
    assert client.kv.delete("app/config") is True
    index_after, missing = client.kv.get("app/config")
    assert missing is None and int(index_after) > int(index)


def test_recurse_keys_and_separator(client: consul.Consul) -> None:
    for key in ("base/base/", "base/foo", "base/base/bar", "other"):
        client.kv.put(key, key)
    _, keys = client.kv.get("base/", keys=True, separator="/")
    assert keys == ["base/base/", "base/foo"]
    _, keys = client.kv.get("base/", keys=True)
    assert keys == ["base/base/", "base/base/bar", "base/foo"]
    _, entries = client.kv.get("base/", recurse=True)
    assert [e["Key"] for e in entries] == ["base/base/", "base/base/bar", "base/foo"]
    assert client.kv.delete("base/", recurse=True) is True
    assert client.kv.get("base/", recurse=True)[1] is None
    assert client.kv.get("other")[1]["Value"] == b"other"


def test_keys_of_empty_store(raw) -> None:  # type: ignore[no-untyped-def]
    root = raw("GET", "/v1/kv/?keys")
    assert root.status == 200 and root.json() == []
    missing = raw("GET", "/v1/kv/nothing/?keys")
    assert missing.status == 404 and int(missing.headers["X-Consul-Index"]) >= 1


def test_cas_put_and_delete(client: consul.Consul) -> None:
    assert client.kv.put("k", "v0", cas=0) is True
    assert client.kv.put("k", "v1", cas=0) is False  # cas=0: create only
    _, entry = client.kv.get("k")
    assert client.kv.put("k", "v2", cas=entry["ModifyIndex"] - 1) is False
    assert client.kv.put("k", "v2", cas=entry["ModifyIndex"]) is True
    _, entry = client.kv.get("k")
    assert client.kv.delete("k", cas=entry["ModifyIndex"] + 100) is False
    assert client.kv.get("k")[1]["Value"] == b"v2"
    assert client.kv.delete("k", cas=entry["ModifyIndex"]) is True
    assert client.kv.get("k")[1] is None


def test_acquire_and_release_with_sessions(client: consul.Consul) -> None:
    first = client.session.create(lock_delay=0)
    second = client.session.create(lock_delay=0)
    assert client.kv.put("lock", "a", acquire=first) is True
    assert client.kv.put("lock", "b", acquire=second) is False
    _, entry = client.kv.get("lock")
    assert entry["Session"] == first and entry["LockIndex"] == 1
    assert client.kv.put("lock", "c", release=second) is False
    assert client.kv.put("lock", "c", release=first) is True
    _, entry = client.kv.get("lock")
    assert "Session" not in entry and entry["Value"] == b"c"
    assert client.kv.put("lock", "d", acquire=second) is True
    assert client.kv.get("lock")[1]["LockIndex"] == 2


def test_acquire_with_unknown_session_is_an_error(client: consul.Consul) -> None:
    with pytest.raises(consul.ConsulException):
        client.kv.put("foo", "bar", acquire="foo")


def test_lock_delay_refuses_relock_after_invalidation(client: consul.Consul) -> None:
    holder = client.session.create(lock_delay=30)
    assert client.kv.put("guarded", "x", acquire=holder) is True
    client.session.destroy(holder)
    other = client.session.create()
    assert client.kv.put("guarded", "y", acquire=other) is False  # lock-delay still running


def test_session_delete_behaviour_removes_locked_keys(client: consul.Consul) -> None:
    session = client.session.create(behavior="delete")
    client.kv.put("ephemeral", "x", acquire=session)
    client.session.destroy(session)
    assert client.kv.get("ephemeral")[1] is None


def test_raw_value_and_headers(raw, agent: AgentThread) -> None:  # type: ignore[no-untyped-def]
    value = bytes(range(256))
    assert raw("PUT", "/v1/kv/bin?flags=7", value).json() is True
    answer = raw("GET", "/v1/kv/bin?raw")
    assert answer.status == 200 and answer.body == value
    assert answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    listed = raw("GET", "/v1/kv/bin").json()[0]
    assert base64.b64decode(listed["Value"]) == value and listed["Flags"] == 7
    for header in ("X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact", "X-Consul-Effective-Consistency"):
        assert header in raw("GET", "/v1/kv/bin").headers
    missing = raw("GET", "/v1/kv/never-written")
    assert missing.status == 404 and int(missing.headers["X-Consul-Index"]) >= 1


def test_empty_value_is_null(raw) -> None:  # type: ignore[no-untyped-def]
    raw("PUT", "/v1/kv/empty", b"")
    assert raw("GET", "/v1/kv/empty").json()[0]["Value"] is None


def test_index_is_never_zero_on_a_fresh_store(raw) -> None:  # type: ignore[no-untyped-def]
    answer = raw("GET", "/v1/kv/x?stale")
    assert answer.status == 404 and int(answer.headers["X-Consul-Index"]) >= 1
    assert answer.headers["X-Consul-Effective-Consistency"] == "stale"


def test_consistency_modes(raw) -> None:  # type: ignore[no-untyped-def]
    raw("PUT", "/v1/kv/c", b"1")
    assert raw("GET", "/v1/kv/c?consistent").headers["X-Consul-Effective-Consistency"] == "consistent"
    assert raw("GET", "/v1/kv/c").headers["X-Consul-Effective-Consistency"] == "leader"
    answer = raw("GET", "/v1/kv/c?stale")
    assert answer.headers["X-Consul-KnownLeader"] == "true" and answer.headers["X-Consul-LastContact"] == "0"


@pytest.mark.parametrize("mode", ["consistent", "stale"])
def test_py_consul_consistency_option(agent: AgentThread, consul_for, mode: str) -> None:  # type: ignore[no-untyped-def]
    c = consul_for(agent, consistency=mode)
    c.kv.put("m", "v")
    assert c.kv.get("m")[1]["Value"] == b"v"


def test_keys_with_odd_characters(client: consul.Consul) -> None:
    key = "dir with space/ünïcode/%2F?&=#"
    assert client.kv.put(key, "odd") is True
    assert client.kv.get(key)[1]["Key"] == key
