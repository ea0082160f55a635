"""Fuzzing the WAL's files on open (both implementations): random byte damage to segments and wal-meta is refused
with CorruptionError naming the file, or recovered as a torn tail; every entry read back is the one written, the
stable store is intact, and the recovered log takes new entries and reopens with them (WALTarget's contract)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.logstore import PyWALStore, WALStore
from raftstore.testing.fuzz import targets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import fuzz_settings

damage = st.builds(
    targets._DAMAGE.pack, st.integers(0, 255), st.integers(0, 3), st.integers(0, 2**32 - 1), st.integers(0, 255)
)
damages = st.lists(damage, min_size=1, max_size=4).map(b"".join)


@pytest.fixture(
    scope="module", params=["wal", pytest.param("pywal", marks=pytest.mark.pure_python)], ids=["wal", "pywal"]
)
def wal_target(request: pytest.FixtureRequest) -> Iterator[targets.WALTarget]:
    made = targets.WALTarget(WALStore if request.param == "wal" else PyWALStore)
    yield made
    made.close()


def test_the_image_spans_sealed_segments_and_a_tail(wal_target: targets.WALTarget) -> None:
    """The damage has something to hit: several sealed segments, a tail, metadata with stable-store values."""
    segments = [name for name in wal_target.image.files if name.endswith(".wal")]
    assert len(segments) >= 3 and "wal-meta" in wal_target.image.files
    assert 0 < wal_target.image.sealed_last < wal_target.image.last and wal_target.image.kv


@fuzz_settings(120)
@given(data=damages)
def test_random_damage(wal_target: targets.WALTarget, data: bytes) -> None:
    wal_target(data)


@pytest.mark.parametrize("file_index", range(6))
def test_each_file_flipped_at_its_seed_offsets(wal_target: targets.WALTarget, file_index: int) -> None:
    for seed in wal_target.seeds():
        if seed[0] == file_index:
            wal_target(seed)
