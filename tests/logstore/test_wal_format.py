"""The WAL's files: the C and pure-Python implementations write the same bytes and read each other's logs; every
region of a segment and of the metadata is damaged (flipped, zeroed, truncated) and the result must be either a
clean discard of the unacknowledged tail or a CorruptionError, never a crash and never wrong data."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from raftstore.logstore import CorruptionError, InvalidEntryError, Log, LogNotFoundError, PyWALStore, WALStore, codec
from raftstore.logstore._wal import crc32c, decode_logs, encode_logs, read_entries

SEG = 64 << 10
IMPLS = {"wal": WALStore, "pywal": PyWALStore}


def logs_for(lo: int, hi: int, term: int = 1) -> list[Log]:
    return [Log(i, term, data=bytes([i % 251]) * (40 + i % 13), extensions=b"x" * (i % 3)) for i in range(lo, hi + 1)]


def files(directory: Path) -> dict[str, bytes]:
    """The log's files (the C WAL's background spare segment is not part of the log)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.name != "spare.seg"}


def scenario(store: Any) -> None:
    store.store_logs(logs_for(1, 300))
    for lo in range(301, 1500, 97):
        store.store_logs(logs_for(lo, lo + 96))
    store.set_uint64(b"CurrentTerm", 3)
    store.delete_range(1, 250)
    store.delete_range(1400, 2000)
    store.store_logs(logs_for(1400, 1450, term=2))
    store.set(b"LastVoteCand", b"n1")


def test_encoding_is_identical() -> None:
    logs = [*logs_for(1, 50), Log(51, 9, data=b"", extensions=b"", appended_at=1.25)]
    raw = encode_logs(logs)
    assert raw == codec.encode_logs(logs)
    assert decode_logs(raw) == logs == codec.decode_logs(raw)
    assert codec.crc32c(b"123456789") == 0xE3069283


def test_c_crc32c_matches_the_reference() -> None:
    rng = random.Random(5)
    for length in [0, 1, 7, 8, 9, 63, 64, 65, 4095, 4096, 12289, 40000]:
        data = rng.randbytes(length)
        seed = rng.getrandbits(32)
        assert crc32c(data) == codec.crc32c(data)
        assert crc32c(data, seed) == codec.crc32c(data, seed)
        cut = length // 3
        assert crc32c(data[cut:], crc32c(data[:cut])) == crc32c(data)  # continuation
        assert crc32c(bytearray(data)) == crc32c(memoryview(data)) == crc32c(data)
    assert crc32c(b"123456789") == 0xE3069283


def test_read_entries_checks_what_store_logs_checks(tmp_path: Path) -> None:
    """The benchmarks' handover probe reads entries exactly as store_logs does: what one refuses, so does the other."""
    assert read_entries(logs_for(1, 300)) == 300 and read_entries([]) == 0
    bad_batches = [[Log(0, 1)], [Log(1, 1, type=99)], [Log(1, -1)], [Log(1, 1, data="text")]]  # type: ignore[arg-type]
    with WALStore(tmp_path / "w", segment_size=SEG) as store:
        for bad in bad_batches:
            with pytest.raises((InvalidEntryError, TypeError)) as probe_error:
                read_entries(bad)
            with pytest.raises(probe_error.type):
                store.store_logs(bad)
        assert store.last_index() == 0


@pytest.mark.parametrize("writer,reader", [("wal", "pywal"), ("pywal", "wal")])
def test_each_reads_the_others_files(writer: str, reader: str, tmp_path: Path) -> None:
    with IMPLS[writer](tmp_path / "w", segment_size=SEG) as s:
        scenario(s)
        expected = s.get_logs(s.first_index(), s.last_index())
    with IMPLS[reader](tmp_path / "w", segment_size=SEG) as s:
        assert s.get_logs(s.first_index(), s.last_index()) == expected
        assert s.get_uint64(b"CurrentTerm") == 3 and s.get(b"LastVoteCand") == b"n1"
        s.store_logs(logs_for(1451, 1600, term=2))  # and continues writing them (rotation included)
        s.delete_range(1, 600)
    with IMPLS[writer](tmp_path / "w", segment_size=SEG) as s:
        assert s.get_logs(601, 1600) == expected[601 - 251 :] + logs_for(1451, 1600, term=2)


def test_same_operations_same_bytes(tmp_path: Path) -> None:
    for name, cls in IMPLS.items():
        with cls(tmp_path / name, segment_size=SEG) as s:
            scenario(s)
    assert files(tmp_path / "wal") == files(tmp_path / "pywal")


def test_encoded_batches_replicate(tmp_path: Path) -> None:
    """A follower appends the leader's frames unchanged (encode once); frames are checked first."""
    with WALStore(tmp_path / "a", segment_size=SEG) as a, PyWALStore(tmp_path / "b", segment_size=SEG) as b:
        a.store_logs(logs_for(1, 500))
        pos = 1
        while pos <= 500:
            frames = a.get_encoded(pos, 500, max_bytes=4096)
            assert 0 < len(frames) <= 4096
            b.store_encoded(frames)
            pos = b.last_index() + 1
        assert b.get_logs(1, 500) == logs_for(1, 500)
        assert a.get_logs(1, 500, max_bytes=1000) == logs_for(1, len(a.get_logs(1, 500, max_bytes=1000)))
        bad = bytearray(a.get_encoded(1, 1))
        bad[-1 - 8] ^= 1
        for s in (a, b):
            with pytest.raises(Exception) as info:
                s.store_encoded(bytes(bad))
            assert type(info.value).__name__ in ("InvalidEntryError", "NonContiguousError")


# ------------------------------------------------------------------------------------------------ corruption


def regions(path: Path, live: int = 0) -> list[tuple[str, int, int]]:
    """(name, start, end) of every region of a segment file: header, each frame's parts, the unused rest."""
    raw = path.read_bytes()
    out = [("header", 0, codec.HEADER_SIZE)]
    pos = codec.HEADER_SIZE
    while pos + 8 <= len(raw) and raw[pos] in (1, 2, 3):
        kind = raw[pos]
        if kind == codec.COMMIT_FRAME:
            out.append(("commit", pos, pos + codec.COMMIT_SIZE))
            pos += codec.COMMIT_SIZE
            continue
        length = int.from_bytes(raw[pos + 4 : pos + 8], "little")
        end = pos + 8 + codec.pad8(length)
        if kind == codec.ENTRY_FRAME:
            # Entries below `live` were deleted by a head truncation (their segment is kept whole): never read.
            what = "entry" if int.from_bytes(raw[pos + 8 : pos + 16], "little") >= live else "deleted entry"
            out += [(f"{what} header", pos, pos + 8), (f"{what} fixed", pos + 8, pos + 40)]
            if length > 32:
                out.append((f"{what} body", pos + 40, pos + 8 + length))
            if end > pos + 8 + length:
                out.append((f"{what} padding", pos + 8 + length, end))
        else:
            out.append(("index frame", pos, end))
        pos = end
    if pos < len(raw):
        out.append(("unused", pos, len(raw)))
    return out


def pick_regions(path: Path, live: int) -> list[tuple[str, int, int]]:
    """A sample covering every kind of region at the start, the middle and the end of the file."""
    rs = regions(path, live)
    kinds: dict[str, list[tuple[str, int, int]]] = {}
    for r in rs:
        kinds.setdefault(r[0], []).append(r)
    chosen = []
    for same in kinds.values():
        chosen += {same[0], same[len(same) // 2], same[-1]}
    return sorted(chosen, key=lambda r: r[1])


def build(tmp_path: Path, impl: str) -> tuple[Path, list[Log], int]:
    """A pristine log: sealed segments and a tail of several batches. Returns (directory, entries, index where the
    final batch starts)."""
    d = tmp_path / "pristine"
    with IMPLS[impl](d, segment_size=SEG) as s:
        s.store_logs(logs_for(1, 200))
        for lo in range(201, 2600, 100):
            s.store_logs(logs_for(lo, lo + 99))
        s.delete_range(1, 150)
        s.set_uint64(b"CurrentTerm", 5)
        s.store_logs(logs_for(2601, 2610))  # the final batch
        expected = s.get_logs(151, 2610)
    return d, expected, 2601


def check_outcome(cls: Any, d: Path, expected: list[Log], final_batch: int) -> str:
    """Opens and reads everything: CorruptionError, or exactly the acknowledged entries (the final batch may be
    missing as a whole: a garbled final batch is indistinguishable from a torn write)."""
    try:
        with cls(d, segment_size=SEG, sync=False) as s:
            first, last = s.first_index(), s.last_index()
            assert first == expected[0].index
            assert last in (expected[-1].index, final_batch - 1)
            got = s.get_logs(first, last)
            assert got == expected[: len(got)]
            for i in {first, (first + last) // 2, last}:
                assert s.get_log(i) == got[i - first]
            assert s.get_uint64(b"CurrentTerm") == 5
            with pytest.raises(LogNotFoundError):
                s.get_log(last + 1)
            return "discarded" if last != expected[-1].index else "intact"
    except CorruptionError as exc:
        assert str(d) in str(exc) and "offset" in str(exc), exc
        return "refused"


MUTATIONS = ("flip", "zero", "truncate")


def mutate(path: Path, offset: int, how: str) -> bool:
    """Damages the file; False when the damage changes nothing (zeros over zeros)."""
    before = path.read_bytes()
    raw = bytearray(before)
    if how == "flip":
        raw[offset] ^= 0xFF
    elif how == "zero":
        raw[offset : offset + 8] = bytes(len(raw[offset : offset + 8]))
    else:
        del raw[offset:]
    path.write_bytes(bytes(raw))
    return bytes(raw) != before


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["wal", pytest.param("pywal", marks=pytest.mark.pure_python)])
def test_damage_in_every_region(impl: str, tmp_path: Path) -> None:
    cls = IMPLS[impl]
    pristine, expected, final_batch = build(tmp_path, impl)
    segments = sorted(p.name for p in pristine.iterdir() if p.suffix == ".wal")
    assert len(segments) >= 3
    outcomes: dict[str, set[str]] = {}
    work = tmp_path / "work"
    for name in segments:
        tail = name == segments[-1]
        for region, start, end in pick_regions(pristine / name, expected[0].index):
            for offset in sorted({start, (start + end) // 2, end - 1}):
                for how in MUTATIONS:
                    shutil.rmtree(work, ignore_errors=True)
                    shutil.copytree(pristine, work)
                    if not mutate(work / name, offset, how):
                        continue
                    result = check_outcome(cls, work, expected, final_batch)
                    key = f"{'tail' if tail else 'sealed'} {region} {how}"
                    outcomes.setdefault(key, set()).add(result)
    # Damage to the data of a sealed segment or to the tail's earlier batches is refused, never ignored.
    for key in ("sealed header flip", "sealed entry fixed flip", "sealed entry body flip", "sealed index frame flip"):
        assert outcomes[key] == {"refused"}, (key, outcomes[key])
    assert "refused" in outcomes["tail entry body flip"]
    assert outcomes["sealed header truncate"] == {"refused"}
    assert outcomes["tail header flip"] == {"refused"}
    assert outcomes["tail unused flip"] <= {"intact"}


@pytest.mark.parametrize("impl", ["wal", pytest.param("pywal", marks=pytest.mark.pure_python)])
def test_damaged_metadata(impl: str, tmp_path: Path) -> None:
    cls = IMPLS[impl]
    pristine, expected, final_batch = build(tmp_path, impl)
    meta = (pristine / "wal-meta").read_bytes()
    work = tmp_path / "work"
    results = set()
    for offset in sorted({*range(0, 40), *range(40, len(meta), 7), len(meta) - 1}):
        for how in MUTATIONS:
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(pristine, work)
            if not mutate(work / "wal-meta", offset, how):
                continue
            result = check_outcome(cls, work, expected, final_batch)
            assert result == "refused", (offset, how)
            results.add(result)
    shutil.rmtree(work)
    shutil.copytree(pristine, work)
    os.unlink(work / "wal-meta")
    assert check_outcome(cls, work, expected, final_batch) == "refused"  # segments without metadata


@pytest.mark.parametrize("impl", ["wal", pytest.param("pywal", marks=pytest.mark.pure_python)])
def test_missing_or_stray_segment(impl: str, tmp_path: Path) -> None:
    cls = IMPLS[impl]
    pristine, expected, final_batch = build(tmp_path, impl)
    segments = sorted(p.name for p in pristine.iterdir() if p.suffix == ".wal")
    work = tmp_path / "work"
    for victim in (segments[0], segments[1], segments[-1]):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(pristine, work)
        os.unlink(work / victim)
        assert check_outcome(cls, work, expected, final_batch) == "refused"
    # A segment file the metadata does not list (a crash between creating it and the metadata update) is removed.
    shutil.rmtree(work)
    shutil.copytree(pristine, work)
    stray = work / codec.segment_name(99999, 999)
    stray.write_bytes(b"\0" * 100)
    assert check_outcome(cls, work, expected, final_batch) == "intact"
    assert not stray.exists()


@pytest.mark.parametrize("impl", ["wal", pytest.param("pywal", marks=pytest.mark.pure_python)])
def test_torn_final_batch_is_discarded_then_overwritten(impl: str, tmp_path: Path) -> None:
    cls = IMPLS[impl]
    pristine, expected, final_batch = build(tmp_path, impl)
    tail = sorted(p for p in pristine.iterdir() if p.suffix == ".wal")[-1]
    commits = [r for r in regions(tail) if r[0] == "commit"]
    # A torn write: the last batch's commit frame never reached the disk.
    mutate(tail, commits[-1][1], "zero")
    mutate(tail, commits[-1][1] + 8, "zero")
    assert check_outcome(cls, pristine, expected, final_batch) == "discarded"
    with cls(pristine, segment_size=SEG) as s:
        assert s.last_index() == final_batch - 1
        s.store_logs(logs_for(final_batch, final_batch + 2, term=4))
    with cls(pristine, segment_size=SEG) as s:
        assert s.get_logs(final_batch, final_batch + 2) == logs_for(final_batch, final_batch + 2, term=4)
        assert s.get_log(final_batch - 1) == expected[-11]
