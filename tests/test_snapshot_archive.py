"""Consul's snapshot archive: round trip, byte layout Consul accepts, and every verification rule refusing damage."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import tarfile
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftstore.snapshot.archive import ArchiveError, read_archive, verify_archive, write_archive

pytestmark = pytest.mark.pure_python

STATE = bytes(range(256)) * 37 + b"tail"
META: dict[str, Any] = {
    "Version": 1,
    "ID": "2-13-1602222343947",
    "Index": 13,
    "Term": 2,
    "Peers": "ka8xMjcuMC4wLjE6ODMwMA==",
    "Configuration": {"Servers": [{"Suffrage": 0, "ID": "a", "Address": "127.0.0.1:8300"}]},
    "ConfigurationIndex": 1,
    "Size": len(STATE),
}


def _archive(meta: dict[str, Any] | None = None, state: bytes = STATE) -> bytes:
    out = io.BytesIO()
    write_archive(out, META if meta is None else meta, io.BytesIO(state))
    return out.getvalue()


def _read(data: bytes) -> tuple[dict[str, Any], bytes]:
    state = io.BytesIO()
    meta = read_archive(io.BytesIO(data), state)
    return meta, state.getvalue()


def _tar(members: list[tuple[str, bytes]], end: bytes = b"\0" * 1024) -> bytes:
    """A tar built block by block, like Go's writer: no padding after the end-of-archive blocks."""
    out = bytearray()
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o600
        out += info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)
    return gzip.compress(bytes(out + end))


def _sums(*members: tuple[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in members).encode()


def _good_members(meta: dict[str, Any] | None = None, state: bytes = STATE) -> list[tuple[str, bytes]]:
    meta_bytes = json.dumps(META if meta is None else meta).encode() + b"\n"
    return [
        ("meta.json", meta_bytes),
        ("state.bin", state),
        ("SHA256SUMS", _sums(("meta.json", meta_bytes), ("state.bin", state))),
    ]


def test_round_trip() -> None:
    assert _read(_archive()) == (META, STATE)
    assert verify_archive(io.BytesIO(_archive())) == META


def test_layout_matches_consuls_writer() -> None:
    raw = gzip.decompress(_archive())
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["meta.json", "state.bin", "SHA256SUMS"]
        assert all(m.mode == 0o600 and m.isreg() for m in members)
        meta_file = tar.extractfile("meta.json")
        sums_file = tar.extractfile("SHA256SUMS")
        assert meta_file is not None and sums_file is not None
        meta_bytes, sums = meta_file.read(), sums_file.read().decode()
    assert meta_bytes.endswith(b"}\n") and json.loads(meta_bytes) == META
    assert (
        sums == f"{hashlib.sha256(meta_bytes).hexdigest()}  meta.json\n{hashlib.sha256(STATE).hexdigest()}  state.bin\n"
    )
    # Nothing after the two end-of-archive blocks: Consul counts any further byte as trailing data.
    expected = sum(512 + len(d) + (-len(d) % 512) for d in (meta_bytes, STATE, sums.encode())) + 1024
    assert len(raw) == expected


def test_an_archive_built_by_hand_like_go_reads() -> None:
    assert _read(_tar(_good_members())) == (META, STATE)


def test_empty_state() -> None:
    meta = {**META, "Size": 0}
    assert _read(_archive(meta, b"")) == (meta, b"")


def test_writer_checks_size_against_the_state() -> None:
    with pytest.raises(ArchiveError, match="ended after"):
        _archive({**META, "Size": len(STATE) + 1})
    with pytest.raises(ArchiveError, match="longer than"):
        _archive({**META, "Size": len(STATE) - 1})
    with pytest.raises(ArchiveError, match="Size"):
        _archive({k: v for k, v in META.items() if k != "Size"})


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (lambda m: [*m, ("extra.txt", b"x")], 'unexpected file "extra.txt" in snapshot'),
        (lambda m: [m[0], m[2]], "state.bin missing from snapshot"),
        (lambda m: [m[1], m[2]], "meta.json missing from snapshot"),
        (lambda m: m[:2], "SHA256SUMS missing from snapshot"),
        (lambda m: [m[0], ("state.bin", STATE[:-1] + b"X"), m[2]], 'hash check failed for "state.bin"'),
        (lambda m: [m[0], m[1], ("SHA256SUMS", _sums(("meta.json", m[0][1])))], 'file missing for "state.bin"'),
        (lambda m: [m[0], m[1], ("SHA256SUMS", m[2][1] + _sums(("other", b"")))], 'file missing for "other"'),
        (lambda m: [m[0], m[1], ("SHA256SUMS", b"nonsense\n")], "SHA256SUMS line 1"),
        (lambda m: [*m, m[1]], 'file "state.bin" appears twice'),
    ],
)
def test_verification_rules(members: Any, message: str) -> None:
    with pytest.raises(ArchiveError, match=re.escape(message)):
        _read(_tar(members(_good_members())))


def test_meta_must_be_a_json_object_matching_the_state() -> None:
    bad_json = [("meta.json", b"{not json"), ("state.bin", STATE)]
    with pytest.raises(ArchiveError, match="not JSON"):
        _read(_tar([*bad_json, ("SHA256SUMS", _sums(*bad_json))]))
    not_object = [("meta.json", b"[1]"), ("state.bin", STATE)]
    with pytest.raises(ArchiveError, match="not a JSON object"):
        _read(_tar([*not_object, ("SHA256SUMS", _sums(*not_object))]))
    with pytest.raises(ArchiveError, match="says Size 5"):
        _read(_tar(_good_members({**META, "Size": 5})))


def test_trailing_data_is_refused() -> None:
    with pytest.raises(ArchiveError, match="1 unread uncompressed bytes remain"):
        _read(_tar(_good_members(), end=b"\0" * 1024 + b"x"))
    # Python's tarfile pads to a 10 KiB record: Consul refuses that as trailing data, and so does raftstore.
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in _good_members():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ArchiveError, match="unread uncompressed bytes remain"):
        _read(out.getvalue())


def test_missing_end_marker_and_truncations() -> None:
    with pytest.raises(ArchiveError, match="end-of-archive"):
        _read(_tar(_good_members(), end=b""))
    data = _archive()
    for cut in [0, 1, 9, 10, 100, len(data) // 2, len(data) - 9, len(data) - 1]:
        with pytest.raises(ArchiveError):
            _read(data[:cut])


def test_not_gzip_and_damaged_headers() -> None:
    with pytest.raises(ArchiveError, match="gzip"):
        _read(b"PK\x03\x04 this is a zip file")
    raw = bytearray(gzip.decompress(_archive()))
    raw[130] ^= 0x01  # a digit of the first header's size field: its checksum no longer matches
    with pytest.raises(ArchiveError, match="damaged tar header"):
        _read(gzip.compress(bytes(raw)))


def test_directory_and_link_members_are_unexpected() -> None:
    info = tarfile.TarInfo("state.bin")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    data = gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT) + b"\0" * 1024)
    with pytest.raises(ArchiveError, match=r'unexpected file "state\.bin"'):
        _read(data)


# One archive for every example: its length depends on the clock (the tar and gzip headers carry the time), and the
# examples' positions must all address the same bytes.
ONE_ARCHIVE = _archive()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(ONE_ARCHIVE) - 1), st.integers(1, 255))
def test_any_single_byte_damage_is_refused_or_harmless(position: int, flip: int) -> None:
    archive = bytearray(ONE_ARCHIVE)
    archive[position] ^= flip
    try:
        meta, state = _read(bytes(archive))
    except ArchiveError:
        return
    assert (meta, state) == (META, STATE)  # only gzip header fields (mtime, OS) may change without consequence
