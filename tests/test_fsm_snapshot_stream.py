"""The FSM snapshot byte stream: Consul's layout, streaming reads, and clear errors for every kind of damage."""

from __future__ import annotations

import io

import msgpack
import pytest

from raftstore.fsm import MessageType
from raftstore.fsm.snapshot_stream import SnapshotFormatError, SnapshotReader, SnapshotWriter

pytestmark = pytest.mark.pure_python

RECORDS = [
    (MessageType.REGISTER, {"Node": "n1", "Address": "10.0.0.1"}),
    (MessageType.KVS, {"Key": "a", "Value": b"\x00\xff", "Flags": 0, "CreateIndex": 3, "ModifyIndex": 4}),
    (MessageType.TOMBSTONE, {"Key": "b", "ModifyIndex": 5}),
    (MessageType.INDEX, {"Key": "kvs", "Value": 5}),
]


def _snapshot(last_index: int = 42, records: list[tuple[int, object]] | None = None) -> bytes:
    out = io.BytesIO()
    writer = SnapshotWriter(out, last_index)
    for record_type, value in RECORDS if records is None else records:
        writer.write(record_type, value)
    return out.getvalue()


def test_layout_is_consuls() -> None:
    data = _snapshot(records=[(MessageType.KVS, {"Key": "a"})])
    assert data == msgpack.packb({"LastIndex": 42}) + b"\x02" + msgpack.packb({"Key": "a"}, use_bin_type=False)


def test_round_trip() -> None:
    reader = SnapshotReader(io.BytesIO(_snapshot()))
    assert reader.last_index == 42
    got = list(reader)
    assert [t for t, _ in got] == [t for t, _ in RECORDS]
    assert got[1][1]["Value"].encode("utf-8", "surrogateescape") == b"\x00\xff"
    assert reader.records == 4


def test_streams_large_snapshots_in_bounded_reads() -> None:
    records = [(MessageType.KVS, {"Key": f"k{i:07d}", "Value": b"v" * 100}) for i in range(50_000)]
    reader = SnapshotReader(io.BytesIO(_snapshot(7, records)))
    count = sum(1 for _ in reader)
    assert count == 50_000


def test_empty_snapshot_body_is_fine() -> None:
    reader = SnapshotReader(io.BytesIO(_snapshot(0, [])))
    assert reader.last_index == 0 and list(reader) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "no header"),
        (b"\xc1", "malformed snapshot header"),
        (msgpack.packb([1]), "LastIndex"),
        (msgpack.packb({"LastIndex": -1}), "LastIndex"),
        (msgpack.packb({"LastIndex": "5"}), "LastIndex"),
    ],
)
def test_bad_headers(data: bytes, message: str) -> None:
    with pytest.raises(SnapshotFormatError, match=message):
        SnapshotReader(io.BytesIO(data))


def test_every_truncation_is_refused_or_ends_between_records() -> None:
    data = _snapshot()
    header_len = len(msgpack.packb({"LastIndex": 42}))
    boundaries = {len(_snapshot(records=RECORDS[:n])) for n in range(len(RECORDS) + 1)}
    for cut in range(header_len, len(data)):
        reader = SnapshotReader(io.BytesIO(data[:cut]))
        if cut in boundaries:
            assert len(list(reader)) == sorted(boundaries).index(cut)
        else:
            with pytest.raises(SnapshotFormatError, match=r"record \d+ at byte \d+: truncated"):
                list(reader)


def test_unaccepted_and_garbled_records() -> None:
    data = _snapshot(records=[(MessageType.KVS, {"Key": "a"}), (99, {"x": 1})])
    assert [t for t, _ in SnapshotReader(io.BytesIO(data))] == [2, 99]
    with pytest.raises(SnapshotFormatError, match=r"record 2 at byte .*unrecognized record type Unknown 99"):
        list(SnapshotReader(io.BytesIO(data), accept={MessageType.KVS}))
    garbled = _snapshot(records=[]) + b"\x02\xc1"
    with pytest.raises(SnapshotFormatError, match="malformed KVS record"):
        list(SnapshotReader(io.BytesIO(garbled)))


def test_writer_validates() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        SnapshotWriter(io.BytesIO(), -1)
    writer = SnapshotWriter(io.BytesIO(), 1)
    with pytest.raises(ValueError, match="one byte"):
        writer.write(256, {})
