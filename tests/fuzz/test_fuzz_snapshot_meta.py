"""Fuzzing the file snapshot store's meta.json (raftstore.raft.snapshots): list() skips what it cannot read, open()
returns a verified snapshot or SnapshotCorruptError."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.testing.fuzz import targets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import fuzz_settings, json_values, mutants

pytestmark = pytest.mark.pure_python

FIELDS = ["id", "index", "term", "configuration", "configuration_index", "size", "sha256", "version", "created_at"]


@pytest.fixture(scope="module")
def target() -> Iterator[targets.SnapshotMetaTarget]:
    made = targets.SnapshotMetaTarget()
    yield made
    made.close()


@fuzz_settings(150)
@given(data=st.data())
def test_meta_json_fields_of_any_type(target: targets.SnapshotMetaTarget, data: st.DataObject) -> None:
    meta: dict[str, Any] = json.loads(target.seed)
    replaced = data.draw(st.dictionaries(st.sampled_from([*FIELDS, "extra"]), json_values, max_size=3))
    dropped = data.draw(st.sets(st.sampled_from(FIELDS), max_size=2))
    meta.update(replaced)
    for name in dropped:
        meta.pop(name, None)
    target(json.dumps(meta).encode())


@fuzz_settings(150)
@given(data=st.data())
def test_meta_json_mutated(target: targets.SnapshotMetaTarget, data: st.DataObject) -> None:
    target(data.draw(mutants([target.seed])))


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"a":' * 50_000],
    ids=["deep-array", "deep-object"],
)
def test_deeply_nested_meta_json_is_skipped(target: targets.SnapshotMetaTarget, raw: bytes) -> None:
    """Regression (fuzzing): json raised RecursionError, which is not a ValueError, out of list() and open()."""
    target(raw)


@pytest.mark.parametrize("created_at", ["x", None, True, [1]])
def test_non_numeric_created_at_is_corrupt(target: targets.SnapshotMetaTarget, created_at: object) -> None:
    """Regression (fuzzing): a snapshot of the same term and index as another with a created_at that is not a
    number made list() raise TypeError from the sort."""
    meta = json.loads(target.seed)
    meta.update(index=10, created_at=created_at)
    target(json.dumps(meta).encode())
    assert target.fuzzed not in [m.id for m in target.store.list()]
