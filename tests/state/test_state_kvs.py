"""Consul's KV semantics (after agent/consul/state/kvs_test.go), through the StateStore facade."""

from __future__ import annotations

import threading

import pytest

from raftstore.memdb import WatchSet
from raftstore.state import DirEntry, InvalidRequestError, StateStore

SID = "2f7d6b5a-0000-4000-8000-000000000001"


def kv(key: str, value: bytes = b"v", **fields: int | str) -> DirEntry:
    return DirEntry(Key=key, Value=value, **fields)  # type: ignore[arg-type]


@pytest.fixture
def store() -> StateStore:
    return StateStore()


def with_session(store: StateStore, idx: int = 1) -> None:
    store.ensure_registration(idx, {"Node": "n1", "Address": "10.0.0.1"})
    store.session_create(idx + 1, {"ID": SID, "Node": "n1", "LockDelay": 15 * 10**9})


def test_set_create_and_update_indexes(store: StateStore) -> None:
    store.kvs_set(1, kv("foo", b"bar"))
    idx, e = store.kvs_get("foo")
    assert (idx, e.CreateIndex, e.ModifyIndex, e.Value) == (1, 1, 1, b"bar")  # type: ignore[union-attr]
    store.kvs_set(2, kv("foo", b"baz", Flags=7))
    idx, e = store.kvs_get("foo")
    assert (idx, e.CreateIndex, e.ModifyIndex, e.Flags) == (2, 1, 2, 7)  # type: ignore[union-attr]
    assert store.max_index("kvs") == 2


def test_set_that_changes_nothing_keeps_modify_index(store: StateStore) -> None:
    store.kvs_set(1, kv("foo", b"bar"))
    store.kvs_set(5, kv("foo", b"bar"))
    assert store.kvs_get("foo")[1].ModifyIndex == 1  # type: ignore[union-attr]
    assert store.max_index("kvs") == 1


def test_set_cannot_change_session(store: StateStore) -> None:
    with_session(store)
    store.kvs_set(3, kv("foo", Session=SID))
    assert store.kvs_get("foo")[1].Session == ""  # type: ignore[union-attr]


def test_missing_key_reports_table_max(store: StateStore) -> None:
    assert store.kvs_get("nope") == (0, None)
    store.kvs_set(3, kv("a"))
    store.kvs_delete(4, "a")
    assert store.kvs_get("nope") == (4, None)


def test_cas(store: StateStore) -> None:
    assert store.kvs_set_cas(1, kv("foo", ModifyIndex=0)) is True
    assert store.kvs_set_cas(2, kv("foo", ModifyIndex=0)) is False  # create-only
    assert store.kvs_set_cas(3, kv("foo", b"x", ModifyIndex=9)) is False
    assert store.kvs_set_cas(4, kv("foo", b"x", ModifyIndex=1)) is True
    assert store.kvs_set_cas(5, kv("bar", ModifyIndex=3)) is False  # absent with nonzero index
    e = store.kvs_get("foo")[1]
    assert (e.Value, e.ModifyIndex, e.CreateIndex) == (b"x", 4, 1)  # type: ignore[union-attr]


def test_delete_leaves_tombstone_and_reap(store: StateStore) -> None:
    store.kvs_set(1, kv("foo/a"))
    store.kvs_set(2, kv("foo/b"))
    store.kvs_delete(3, "foo/b")
    store.kvs_delete(4, "missing")  # no-op, no tombstone
    assert [(t.Key, t.ModifyIndex) for t in store.tombstones()] == [("foo/b", 3)]
    assert store.kvs_list("foo/")[0] == 3  # the tombstone keeps the list index from going backwards
    store.reap_tombstones(5, 2)
    assert len(store.tombstones()) == 1
    store.reap_tombstones(6, 3)
    assert store.tombstones() == []
    assert store.kvs_list("foo/")[0] == 1


def test_delete_cas(store: StateStore) -> None:
    store.kvs_set(1, kv("foo"))
    assert store.kvs_delete_cas(2, 7, "foo") is False
    assert store.kvs_get("foo")[1] is not None
    assert store.kvs_delete_cas(3, 1, "foo") is True
    assert store.kvs_get("foo")[1] is None
    assert store.kvs_delete_cas(4, 1, "foo") is True  # absent counts as deleted


def test_delete_tree_one_tombstone(store: StateStore) -> None:
    for i, k in enumerate(["foo/a", "foo/b/c", "foo/b/d", "foobar", "zip"], start=1):
        store.kvs_set(i, kv(k))
    store.kvs_delete_tree(9, "foo/")
    assert [e.Key for e in store.kvs_list("")[1]] == ["foobar", "zip"]
    assert [(t.Key, t.ModifyIndex) for t in store.tombstones()] == [("foo/", 9)]
    store.kvs_delete_tree(10, "nothing/")
    assert store.max_index("kvs") == 9
    store.kvs_delete_tree(11, "")  # root: everything, no tombstone for ""
    assert store.kvs_list("")[1] == []
    assert [t.Key for t in store.tombstones()] == ["foo/"]


def test_list_index_and_order(store: StateStore) -> None:
    store.kvs_set(1, kv("foo/bar1"))
    store.kvs_set(2, kv("foo/"))
    store.kvs_set(3, kv("foo/bar2"))
    store.kvs_set(4, kv("other"))
    idx, entries = store.kvs_list("foo/")
    assert idx == 3 and [e.Key for e in entries] == ["foo/", "foo/bar1", "foo/bar2"]
    assert store.kvs_list("")[0] == 4
    assert store.kvs_list("nomatch")[0] == 4  # nothing found: the table's max


def test_list_keys_with_separator(store: StateStore) -> None:
    for i, k in enumerate(["foo/a", "foo/b/c", "foo/b/d", "foo/e/", "foo", "bar"], start=1):
        store.kvs_set(i, kv(k))
    assert store.kvs_list_keys("foo/", "/") == (4, ["foo/a", "foo/b/", "foo/e/"])
    assert store.kvs_list_keys("", "/")[1] == ["bar", "foo", "foo/"]
    assert store.kvs_list_keys("foo/", "")[1] == ["foo/a", "foo/b/c", "foo/b/d", "foo/e/"]


def test_lock_unlock_semantics(store: StateStore) -> None:
    with pytest.raises(InvalidRequestError, match="missing session"):
        store.kvs_lock(1, kv("k"))
    with pytest.raises(InvalidRequestError, match="invalid session"):
        store.kvs_lock(1, kv("k", Session=SID))
    with_session(store, 1)
    assert store.kvs_lock(3, kv("k", Session=SID)) is True
    e = store.kvs_get("k")[1]
    assert (e.LockIndex, e.Session, e.CreateIndex, e.ModifyIndex) == (1, SID, 3, 3)  # type: ignore[union-attr]
    assert store.kvs_lock(4, kv("k", b"new", Session=SID)) is True  # re-acquire by the holder keeps LockIndex
    assert store.kvs_get("k")[1].LockIndex == 1  # type: ignore[union-attr]
    other = "2f7d6b5a-0000-4000-8000-000000000002"
    store.session_create(5, {"ID": other, "Node": "n1"})
    assert store.kvs_lock(6, kv("k", Session=other)) is False
    assert store.kvs_unlock(7, kv("k", Session=other)) is False
    assert store.kvs_unlock(8, kv("k", Session=SID)) is True
    e = store.kvs_get("k")[1]
    assert (e.Session, e.LockIndex, e.ModifyIndex) == ("", 1, 8)  # type: ignore[union-attr]
    assert store.kvs_lock(9, kv("k", Session=other)) is True
    assert store.kvs_get("k")[1].LockIndex == 2  # type: ignore[union-attr]
    assert store.kvs_unlock(10, kv("absent", Session=SID)) is False


def test_destroy_session_releases_and_sets_lock_delay() -> None:
    now = [100.0]
    store = StateStore(clock=lambda: now[0])
    with_session(store)
    store.kvs_lock(3, kv("k", Session=SID))
    store.session_destroy(4, SID)
    e = store.kvs_get("k")[1]
    assert (e.Session, e.LockIndex, e.ModifyIndex) == ("", 1, 4)  # type: ignore[union-attr]
    assert store.kvs_lock_delay("k") == pytest.approx(15.0)
    now[0] += 16
    assert store.kvs_lock_delay("k") == 0.0


def test_destroy_delete_behavior_deletes_keys(store: StateStore) -> None:
    store.ensure_registration(1, {"Node": "n1"})
    store.session_create(2, {"ID": SID, "Node": "n1", "Behavior": "delete"})
    store.kvs_lock(3, kv("k", Session=SID))
    store.session_destroy(4, SID)
    assert store.kvs_get("k")[1] is None
    assert [t.Key for t in store.tombstones()] == ["k"]


def test_blocking_get_wakes_on_write(store: StateStore) -> None:
    store.kvs_set(1, kv("foo"))
    ws = WatchSet()
    idx, _ = store.kvs_get("foo", ws)
    assert idx == 1 and not ws.fired()
    store.kvs_set(2, kv("other"))
    assert not ws.fired()  # a different key
    writer = threading.Thread(target=store.kvs_set, args=(3, kv("foo", b"new")))
    writer.start()
    assert ws.wait(30.0) is False  # False: fired, not timed out
    writer.join()
    assert store.kvs_get("foo")[0] == 3


def test_blocking_list_wakes_on_delete(store: StateStore) -> None:
    store.kvs_set(1, kv("p/a"))
    ws = WatchSet()
    store.kvs_list("p/", ws)
    store.kvs_delete(2, "p/a")
    assert ws.wait(30.0) is False  # False: fired, not timed out


def test_blocking_query_waits_for_the_index_to_pass() -> None:
    from raftstore.state.blocking import blocking_query

    store = StateStore()
    store.kvs_set(5, kv("foo", b"1"))
    assert blocking_query(lambda: store, lambda s, ws: s.kvs_get("foo", ws), 0) == (5, store.kvs_get("foo")[1])
    timed_out = blocking_query(lambda: store, lambda s, ws: s.kvs_get("foo", ws), 5, timeout=0.05)
    assert timed_out[0] == 5
    writer = threading.Thread(target=lambda: [store.kvs_set(6, kv("other")), store.kvs_set(7, kv("foo", b"2"))])
    writer.start()
    index, entry = blocking_query(lambda: store, lambda s, ws: s.kvs_get("foo", ws), 5, timeout=60.0)
    writer.join()
    assert index == 7 and entry is not None and entry.Value == b"2"
    assert blocking_query(lambda: StateStore(), lambda s, ws: s.kvs_get("x", ws), 0)[0] == 1  # never below 1


def test_blocking_query_follows_a_restore() -> None:
    import io

    from raftstore.fsm import FSM, MessageType, encode
    from raftstore.logstore.log import Log
    from raftstore.state.blocking import blocking_query

    source = FSM()
    source.apply(Log(9, 1, data=encode(MessageType.KVS, {"Op": "set", "DirEnt": {"Key": "k", "Value": b"x"}})))
    sink = io.BytesIO()
    source.snapshot().persist(sink)
    target = FSM()
    restorer = threading.Thread(target=lambda: target.restore(io.BytesIO(sink.getvalue())))
    restorer.start()
    index, entry = blocking_query(lambda: target.state, lambda s, ws: s.kvs_get("k", ws), 1, timeout=60.0)
    restorer.join()
    assert index == 9 and entry is not None
