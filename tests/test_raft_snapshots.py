"""Snapshot stores: durability, ordering, retention, verification on open, and damaged files refused clearly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from raftstore.raft.snapshots import (
    FileSnapshotStore,
    MemorySnapshotStore,
    SnapshotCorruptError,
    SnapshotNotFoundError,
    SnapshotStoreError,
)

pytestmark = pytest.mark.pure_python

CONFIG = [{"id": "a", "address": "127.0.0.1:1", "suffrage": "voter"}]


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "file":
        return FileSnapshotStore(tmp_path, retain=2)
    return MemorySnapshotStore()


def _save(store: Any, index: int, term: int, state: bytes) -> Any:
    sink = store.create(index, term, CONFIG, configuration_index=1)
    for start in range(0, len(state), 7):
        sink.write(state[start : start + 7])
    return sink.close()


def _read(store: Any, snapshot_id: str) -> tuple[Any, bytes]:
    meta, reader = store.open(snapshot_id)
    with reader:
        return meta, reader.read()


def test_save_list_open(store: Any) -> None:
    assert store.list() == []
    meta = _save(store, index=10, term=2, state=b"state of the fsm" * 100)
    assert (meta.index, meta.term, meta.configuration, meta.configuration_index, meta.size) == (10, 2, CONFIG, 1, 1600)
    assert meta.id.startswith("2-10-")
    [listed] = store.list()
    assert listed == meta
    opened, data = _read(store, meta.id)
    assert opened == meta and data == b"state of the fsm" * 100


def test_newest_first_and_retention(store: Any) -> None:
    ids = [_save(store, index, term, b"s%d" % index).id for term, index in [(1, 5), (1, 9), (2, 12)]]
    listed = [meta.id for meta in store.list()]
    expected = [ids[2], ids[1]] if isinstance(store, FileSnapshotStore) else [ids[2]]
    assert listed == expected
    assert _read(store, ids[2])[1] == b"s12"
    with pytest.raises(SnapshotNotFoundError):
        store.open(ids[0])


def test_newest_is_by_term_then_index_not_by_name(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path, retain=5)
    for term, index in [(9, 100), (10, 99), (10, 1000)]:
        _save(store, index, term, b"x")
    assert [(meta.term, meta.index) for meta in store.list()] == [(10, 1000), (10, 99), (9, 100)]


def test_cancel_and_context_manager(store: Any) -> None:
    sink = store.create(3, 1, CONFIG, 1)
    sink.write(b"partial")
    sink.cancel()
    sink.cancel()
    with pytest.raises(SnapshotStoreError):
        sink.write(b"more")
    with pytest.raises(RuntimeError), store.create(4, 1, CONFIG, 1) as sink2:
        sink2.write(b"partial")
        raise RuntimeError("the FSM failed mid-persist")
    assert store.list() == []
    with store.create(5, 1, CONFIG, 1) as sink3:
        sink3.write(b"whole")
    assert [meta.index for meta in store.list()] == [5]
    assert sink3.close() == store.list()[0]  # close is idempotent
    with pytest.raises(SnapshotStoreError):
        sink3.write(b"late")


def test_open_refuses_unknown_and_escaping_ids(store: Any) -> None:
    for bad in ["nope", "", ".", "..", "../etc", "1-2-3.tmp"]:
        with pytest.raises(SnapshotNotFoundError):
            store.open(bad)


def test_same_index_twice_gets_distinct_ids(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path, retain=10)
    ids = {_save(store, 7, 1, b"%d" % i).id for i in range(5)}
    assert len(ids) == 5


def test_retain_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retain"):
        FileSnapshotStore(tmp_path, retain=0)


@pytest.mark.parametrize("damage", ["flip", "truncate", "extend", "delete"])
def test_damaged_state_is_refused_with_the_file_named(tmp_path: Path, damage: str) -> None:
    store = FileSnapshotStore(tmp_path)
    meta = _save(store, 10, 2, bytes(range(256)) * 40)
    state = store.path / meta.id / "state.bin"
    data = bytearray(state.read_bytes())
    if damage == "flip":
        data[5000] ^= 0x01
        state.write_bytes(data)
    elif damage == "truncate":
        state.write_bytes(data[:-1])
    elif damage == "extend":
        state.write_bytes(data + b"\0")
    else:
        state.unlink()
    with pytest.raises(SnapshotCorruptError, match=r"state\.bin"):
        store.open(meta.id)
    assert store.list() == [meta]  # still listed: the metadata is intact; refusing to restore it is open()'s job


@pytest.mark.parametrize(
    "meta_text",
    ["", "{", "[]", '{"id": 1}', "null"],
)
def test_unreadable_metadata_is_skipped_by_list_and_refused_by_open(tmp_path: Path, meta_text: str) -> None:
    store = FileSnapshotStore(tmp_path)
    good = _save(store, 5, 1, b"good")
    bad = _save(store, 6, 1, b"bad")
    (store.path / bad.id / "meta.json").write_text(meta_text)
    assert store.list() == [good]
    with pytest.raises(SnapshotCorruptError, match=r"meta\.json"):
        store.open(bad.id)


def test_metadata_with_wrong_types_or_id_is_refused(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    meta = _save(store, 5, 1, b"x")
    path = store.path / meta.id / "meta.json"
    original = json.loads(path.read_text())
    for change in [{"index": -1}, {"term": "1"}, {"version": 99}, {"id": "1-5-0"}, {"size": True}]:
        path.write_text(json.dumps({**original, **change}))
        with pytest.raises(SnapshotCorruptError):
            store.open(meta.id)
    path.write_text(json.dumps(original))
    assert _read(store, meta.id)[1] == b"x"


def test_leftover_temporaries_are_removed_on_open(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path)
    sink = store.create(5, 1, CONFIG, 1)
    sink.write(b"never closed")  # a crash now leaves 1-5-<ms>.tmp behind
    assert store.list() == []
    reopened = FileSnapshotStore(tmp_path)
    assert list(reopened.path.iterdir()) == []


def test_concurrent_closes_keep_exactly_retain(tmp_path: Path) -> None:
    store = FileSnapshotStore(tmp_path, retain=3)
    errors: list[BaseException] = []

    def save(index: int) -> None:
        try:
            _save(store, index, 1, b"%d" % index)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=save, args=(index,)) for index in range(1, 13)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    listed = store.list()
    assert [meta.index for meta in listed] == [12, 11, 10]
    for meta in listed:
        assert _read(store, meta.id)[1] == b"%d" % meta.index


WRITER = textwrap.dedent(
    """
    import sys
    from raftstore.raft.snapshots import FileSnapshotStore
    store = FileSnapshotStore(sys.argv[1], retain=100)
    index = 0
    while True:
        index += 1
        sink = store.create(index, 1, [], 0)
        for _ in range(64):
            sink.write(bytes([index % 256]) * 4096)
        meta = sink.close()
        print(meta.id, flush=True)
    """
)


@pytest.mark.slow
def test_killed_writer_leaves_only_whole_snapshots(tmp_path: Path) -> None:
    """SIGKILL a writer at several points: every snapshot it acknowledged opens and verifies, nothing else shows."""
    for round_number in range(6):
        directory = tmp_path / str(round_number)
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(directory)], stdout=subprocess.PIPE, text=True)
        acknowledged: list[str] = []
        try:
            assert child.stdout is not None
            target = 1 + round_number * 3
            deadline = time.monotonic() + 60
            while len(acknowledged) < target and time.monotonic() < deadline:
                line = child.stdout.readline()
                if not line:
                    break
                acknowledged.append(line.strip())
            # Let it get partway into the next snapshot before the kill (timing varies; any point is valid).
            time.sleep(0.001 * round_number)
        finally:
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=60)
            if child.stdout is not None:
                child.stdout.close()
        assert len(acknowledged) >= 1 + round_number * 3
        store = FileSnapshotStore(directory, retain=100)
        listed = {meta.id: meta for meta in store.list()}
        assert set(acknowledged) <= set(listed)
        for snapshot_id, meta in listed.items():
            _, data = _read(store, snapshot_id)
            assert data == bytes([meta.index % 256]) * 4096 * 64
        assert not [entry for entry in store.path.iterdir() if entry.name.endswith(".tmp")]
