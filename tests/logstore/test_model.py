"""Hypothesis: random operation sequences against every backend and a list model, and the two WAL implementations
against each other (same operations, byte-identical files)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raftstore.logstore import Log, LogNotFoundError, LogStoreError, NonContiguousError, PyWALStore, WALStore

ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 40), st.integers(0, 600)),
        st.tuples(st.just("append_at"), st.integers(-3, 3), st.integers(0, 10)),
        st.tuples(st.just("delete"), st.integers(-3, 60), st.integers(-3, 60)),
        st.tuples(st.just("get"), st.integers(-2, 60), st.integers(0, 30)),
        st.tuples(st.just("set"), st.sampled_from([b"CurrentTerm", b"LastVoteCand", b""]), st.binary(max_size=20)),
        st.tuples(st.just("reopen"), st.just(0), st.just(0)),
    ),
    max_size=35,
)


class ListModel:
    def __init__(self) -> None:
        self.logs: list[Log] = []
        self.kv: dict[bytes, bytes] = {}

    @property
    def first(self) -> int:
        return self.logs[0].index if self.logs else 0

    @property
    def last(self) -> int:
        return self.logs[-1].index if self.logs else 0


def make(lo: int, n: int, size: int, term: int) -> list[Log]:
    return [Log(i, term, data=bytes([i % 256]) * (size + i % 3), appended_at=i * 0.5) for i in range(lo, lo + n)]


def run(opener: Any, sequence: list[tuple[str, int, Any]], durable: bool) -> Any:
    """Applies the operations to a fresh store and the model, comparing every result; returns the open store."""
    model = ListModel()
    store = opener()
    term = 1
    try:
        for name, a, b in sequence:
            if name == "append":
                batch = make(model.last + 1 if model.logs else 10 + a, a, b, term)
                store.store_logs(batch)
                model.logs += batch
            elif name == "append_at":
                lo = max(1, model.last + 1 + a) if model.logs else max(1, 5 + a)
                batch = make(lo, 1 + b, 8, term)
                if model.logs and a != 0:
                    try:
                        store.store_logs(batch)
                        raise AssertionError("a gap or rewind was accepted")
                    except NonContiguousError:
                        pass
                else:
                    store.store_logs(batch)
                    model.logs += batch
            elif name == "delete":
                lo, hi = model.first + a - 3, model.first + b - 3
                first, last = model.first, model.last
                middle = model.logs and lo > first and hi < last and lo <= hi
                if middle:
                    try:
                        store.delete_range(lo, hi)
                        raise AssertionError("a hole was accepted")
                    except NonContiguousError:
                        pass
                else:
                    store.delete_range(lo, hi)
                    model.logs = [x for x in model.logs if not lo <= x.index <= hi]
                    if lo <= last and hi >= last and model.logs:
                        term += 1  # after a conflict the next entries come from a newer term
            elif name == "get":
                index = model.first + a
                if model.logs and model.first <= index <= model.last:
                    assert store.get_log(index) == model.logs[index - model.first]
                    hi = min(model.last, index + b)
                    assert store.get_logs(index, hi) == model.logs[index - model.first : hi - model.first + 1]
                else:
                    try:
                        store.get_log(index)
                        raise AssertionError(f"entry {index} found outside {model.first}..{model.last}")
                    except LogNotFoundError:
                        pass
            elif name == "set":
                store.set(a, b)  # "set" carries (key, value) in the two slots
                model.kv[a] = b
            elif name == "reopen" and durable:
                store.close()
                store = opener()
            assert (store.first_index(), store.last_index()) == (model.first, model.last)
        for k, v in model.kv.items():
            assert store.get(k) == v
        return store
    except BaseException:
        store.close()
        raise


# The `backend` fixture only names a backend (no state): every example opens its own store in its own directory.
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sequence=ops)
def test_backend_matches_the_list_model(backend: Any, sequence: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        kw = {"sync": False} if backend.durable else {}
        run(lambda: backend.open(Path(d), **kw), sequence, backend.durable).close()


@settings(max_examples=60)
@given(sequence=ops)
def test_c_and_python_wal_write_the_same_files(sequence: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        for name, cls in (("c", WALStore), ("py", PyWALStore)):
            path = Path(d) / name
            run(lambda cls=cls, path=path: cls(path, segment_size=64 << 10, sync=False), sequence, True).close()
        c_files = {p.name: p.read_bytes() for p in (Path(d) / "c").iterdir() if p.name != "spare.seg"}
        py_files = {p.name: p.read_bytes() for p in (Path(d) / "py").iterdir()}
        assert c_files == py_files


def test_errors_share_one_base() -> None:
    assert issubclass(NonContiguousError, LogStoreError) and issubclass(LogNotFoundError, LogStoreError)
