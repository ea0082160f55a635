"""Fuzzing snapshot archives (raftstore.snapshot.archive): a verified meta and state, or ArchiveError. The seed
archive is built from a sample FSM (C memdb), so this module is not pure_python."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
from pathlib import Path

import pytest
from hypothesis import given

from raftstore.snapshot import archive as archive_module
from raftstore.testing.fuzz import targets

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_support import fuzz_settings, mutants

SEEDS = targets._archive_seeds()


@fuzz_settings(400)
@given(mutants(SEEDS))
def test_archive_mutated(data: bytes) -> None:
    targets.archive(data)


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = b""
    for name, content in members:
        out += archive_module._tar_header(name, len(content), 0) + content + archive_module._padding(len(content))
    return out + b"\0" * 1024


def test_deeply_nested_meta_json_with_matching_hashes_is_an_archive_error() -> None:
    """Regression (fuzzing): meta.json nested thousands deep, listed with its true hash, raised RecursionError."""
    meta, state = b"[" * 100_000, b""
    sums = "".join(f"{hashlib.sha256(c).hexdigest()}  {n}\n" for n, c in (("meta.json", meta), ("state.bin", state)))
    raw = gzip.compress(_tar([("meta.json", meta), ("state.bin", state), ("SHA256SUMS", sums.encode())]))
    with pytest.raises(archive_module.ArchiveError, match=r"meta\.json is not JSON"):
        archive_module.read_archive(io.BytesIO(raw), io.BytesIO())
