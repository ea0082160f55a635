"""memdb watches, WatchSet and the single-writer rule, over both radix backends, from threads and asyncio.

Timing: every wait has a generous deadline (only reached when something is broken); nothing sleeps-then-asserts.
Assertions that a watch has NOT fired are made only where nothing it covers can have changed (another table, or
before any commit).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import pytest

from raftstore.memdb import MemDB, WatchSet

MakeDB = Callable[..., MemDB]
DEADLINE = 60.0


def _insert(db: MemDB, *objs: Any, table: str = "services") -> None:
    with db.txn(write=True) as txn:
        for o in objs:
            txn.insert(table, o)


def test_first_watch_fires_on_commit_of_that_object(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x"), Svc("b", "n", "x"))
    watch, obj = db.txn().first_watch("services", "id", "a")
    assert obj.id == "a"
    other_table, _ = db.txn().first_watch("nodes", "id", "a")
    txn = db.txn(write=True)
    txn.insert("services", Svc("a", "n2", "x"))
    assert not watch.fired  # nothing is visible before the commit
    txn.commit()
    assert watch.fired
    assert not other_table.fired  # another table's trees were not touched


def test_watch_on_a_missing_object_fires_when_it_is_created(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x"))
    watch, obj = db.txn().first_watch("services", "id", "zzz")
    assert obj is None
    _insert(db, Svc("zzz", "n", "x"))
    assert watch.fired


@pytest.mark.parametrize(
    ("index", "args"), [("node", ("n1",)), ("tags", ("t",)), ("id_prefix", ("a",)), ("id", ()), ("port", (0,))]
)
def test_get_watch_fires_when_a_matching_object_appears(make_db: MakeDB, Svc: Any, index: str, args: Any) -> None:
    db = make_db()
    _insert(db, Svc("a1", "n1", "x", ("t",)), Svc("b1", "n2", "y"))
    watch, it = db.txn().get_watch("services", index, *args)
    before = list(it)
    assert before
    assert not watch.fired
    _insert(db, Svc("a2", "n1", "x", ("t",)))
    assert watch.fired
    assert len(list(db.txn().get("services", index, *args))) == len(before) + 1


def test_last_watch_and_get_reverse_watch(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n1", "x"), Svc("b", "n1", "x"))
    w1, last = db.txn().last_watch("services", "node", "n1")
    w2, it = db.txn().get_reverse_watch("services", "node", "n1")
    assert last.id == "b"
    assert [o.id for o in it] == ["b", "a"]
    with db.txn(write=True) as txn:
        txn.delete("services", Svc("a", "", ""))
    assert w1.fired and w2.fired


def test_a_woken_reader_sees_the_commit(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x", port=1))
    watch, _ = db.txn().first_watch("services", "id", "a")
    seen: list[int] = []
    watch.subscribe(lambda: seen.append(db.txn().first("services", "id", "a").port))  # runs in the firing thread
    _insert(db, Svc("a", "n", "x", port=2))
    assert seen == [2]


def test_watchset_wait_returns_true_on_timeout(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x"))
    ws = WatchSet()
    watch, _ = db.txn().first_watch("services", "id", "a")
    ws.add(watch)
    ws.add(watch)  # duplicates collapse
    ws.add(None)  # reads without a watch are ignored
    assert len(ws) == 1
    assert ws.wait(0.01) is True  # timed out
    assert not ws.fired()
    _insert(db, Svc("a", "n", "y"))
    assert ws.wait(0.01) is False  # fired (already, so no waiting at all)
    assert ws.fired()
    assert WatchSet().wait(0.0) is True
    with pytest.raises(ValueError, match="empty WatchSet"):
        WatchSet().wait()


def test_watchset_wakes_a_blocked_thread(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x"), Svc("b", "m", "x"))
    ws = WatchSet()
    txn = db.txn()
    for index, arg in (("id", "a"), ("node", "m"), ("id", "nope")):
        ws.add(txn.first_watch("services", index, arg)[0])
    result: list[Any] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        timed_out = ws.wait(DEADLINE)
        result.append((timed_out, db.txn().first("services", "id", "b").name))

    thread = threading.Thread(target=waiter)
    thread.start()
    try:
        assert waiting.wait(DEADLINE)
        _insert(db, Svc("b", "m", "changed"))
    finally:
        thread.join(DEADLINE)
    assert not thread.is_alive()
    assert result == [(False, "changed")]


def test_watchset_add_with_limit(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x"), Svc("b", "n", "x"))
    txn = db.txn()
    wa, _ = txn.first_watch("services", "id", "a")
    wb, _ = txn.first_watch("services", "id", "b")
    table, _ = txn.get_watch("services", "id")
    ws = WatchSet()
    ws.add_with_limit(1, wa, table)
    ws.add_with_limit(1, wb, table)
    assert set(ws) == {wa, table}


def test_watchset_async(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, Svc("a", "n", "x"))

    async def main() -> tuple[bool, bool, bool]:
        ws = WatchSet([db.txn().first_watch("services", "id", "a")[0]])
        timed_out = await ws.wait_async(0.01)
        waiter = asyncio.ensure_future(ws.wait_async(DEADLINE))
        await asyncio.sleep(0)
        # Fire from another thread: the loop is woken thread-safely.
        writer = threading.Thread(target=_insert, args=(db, Svc("a", "n", "y")))
        writer.start()
        fired_result = await asyncio.wait_for(waiter, DEADLINE)
        await asyncio.get_running_loop().run_in_executor(None, writer.join, DEADLINE)
        plain = await asyncio.wait_for(asyncio.ensure_future(_await(ws)), DEADLINE)
        return timed_out, fired_result, plain

    assert asyncio.run(main()) == (True, False, False)


async def _await(ws: WatchSet) -> bool:
    return await ws


def test_single_writer_blocks_until_the_first_ends(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    first = db.txn(write=True)
    first.insert("services", Svc("a", "n", "first"))
    started, acquired = threading.Event(), threading.Event()
    seen: list[Any] = []

    def second_writer() -> None:
        started.set()
        with db.txn(write=True) as txn:  # blocks while `first` is open
            acquired.set()
            seen.append(txn.first("services", "id", "a"))
            txn.insert("services", Svc("a", "n", "second"))

    thread = threading.Thread(target=second_writer)
    thread.start()
    try:
        assert started.wait(DEADLINE)
        # The second writer cannot get in while the first is open (checked for a while, without sleeping blind).
        assert not acquired.wait(0.2)
        assert db.txn().first("services", "id", "a") is None  # readers never block and see the old state
        first.commit()
        assert acquired.wait(DEADLINE)
    finally:
        if not acquired.is_set():
            first.abort()
        thread.join(DEADLINE)
    assert not thread.is_alive()
    assert seen[0].name == "first"  # the second writer started from the first's commit
    assert db.txn().first("services", "id", "a").name == "second"


def test_readers_during_a_long_write_see_the_old_snapshot(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _insert(db, *[Svc(f"s{i:03d}", "n", "x") for i in range(50)])
    writer_progress = threading.Event()
    reader_done = threading.Event()
    observed: list[int] = []

    def reader() -> None:
        assert writer_progress.wait(DEADLINE)
        txn = db.txn()
        observed.append(len(list(txn.get("services", "id"))))
        observed.append(len(list(txn.get("services", "node", "n"))))
        reader_done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with db.txn(write=True) as txn:
            for i in range(50, 200):
                txn.insert("services", Svc(f"s{i:03d}", "n", "x"))
            txn.delete("services", Svc("s000", "", ""))
            writer_progress.set()
            assert reader_done.wait(DEADLINE)  # the reader ran to the end while the write was still open
    finally:
        writer_progress.set()
        thread.join(DEADLINE)
    assert observed == [50, 50]
    assert len(list(db.txn().get("services", "id"))) == 199


def test_concurrent_readers_always_see_whole_commits(make_db: MakeDB, Svc: Any) -> None:
    """A writer rewrites every record in each txn (all with the same port); readers in other threads, racing it,
    must only ever see one commit's records, on every index at once (snapshot isolation, no torn reads)."""
    db = make_db()
    _insert(db, *[Svc(f"s{i:02d}", "n", "x", port=0) for i in range(20)])
    commits = 60
    stop = threading.Event()
    errors: list[str] = []
    reads = [0, 0]

    def reader(slot: int) -> None:
        while True:  # at least one read, however the threads are scheduled
            txn = db.txn()
            ports = {o.port for o in txn.get("services", "id")}
            by_node = {o.port for o in txn.get("services", "node", "n")}
            by_port = [o.port for o in txn.get("services", "port")]
            if len(ports) != 1 or ports != by_node or len(by_port) != 20 or set(by_port) != ports:
                errors.append(f"torn read: {ports} {by_node} {sorted(set(by_port))}")
                return
            reads[slot] += 1
            if stop.is_set():
                return

    threads = [threading.Thread(target=reader, args=(slot,)) for slot in range(2)]
    for t in threads:
        t.start()
    try:
        for c in range(1, commits + 1):
            _insert(db, *[Svc(f"s{i:02d}", "n", "x", port=c) for i in range(20)])
    finally:
        stop.set()
        for t in threads:
            t.join(DEADLINE)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert min(reads) >= 1
    assert {o.port for o in db.txn().get("services", "id")} == {commits}
