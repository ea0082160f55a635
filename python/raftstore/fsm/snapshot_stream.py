"""The byte stream of an FSM snapshot (`state.bin`), as Consul's `persist` writes it and `Restore` reads it.

Layout: a msgpack map ``{"LastIndex": N}`` (Consul's snapshotHeader), then records, each one *raw* type byte (a
`MessageType`, not msgpack-encoded) followed by one msgpack value; the stream ends at a clean end of file between
records. Everything is old-spec msgpack (raw strings, see `raftstore.fsm.codec`), so `consul snapshot inspect` and
raftstore read each other's records.

Reading is streaming (constant memory whatever the snapshot's size) and strict: a truncated record, a garbled
value, a type the caller does not accept, or a stream that does not start with a header raises
`SnapshotFormatError` naming the record number and byte offset, so a damaged snapshot is refused before any of it
is swapped in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any, BinaryIO

import msgpack

from raftstore.fsm.messages import type_name

_READ_SIZE = 1 << 20


class SnapshotFormatError(ValueError):
    """An FSM snapshot stream is damaged or holds a record type the reader does not accept."""


class SnapshotWriter:
    """Writes the header, then records, onto any binary file-like object; one `Packer` is reused throughout."""

    def __init__(self, sink: BinaryIO, last_index: int) -> None:
        if last_index < 0:
            raise ValueError(f"last_index must be non-negative, got {last_index}")
        self._sink = sink
        # surrogateescape: a string decoded from raw bytes that are not UTF-8 (the reader's and the command codec's
        # `unicode_errors`) packs back to exactly those bytes; strict packing would make one such key or node name
        # unsnapshottable forever.
        self._packer = msgpack.Packer(use_bin_type=False, unicode_errors="surrogateescape")
        self.records = 0
        sink.write(self._packer.pack({"LastIndex": last_index}))

    def write(self, record_type: int, value: Any) -> None:
        if not 0 <= record_type <= 255:
            raise ValueError(f"record type must be one byte, got {record_type}")
        self._sink.write(bytes((record_type,)) + self._packer.pack(value))
        self.records += 1

    def write_many(self, record_type: int, values: Iterable[Any], chunk: int = 4096) -> None:
        """Write one record per value, all of one type, in chunks: the bulk path of a snapshot's big tables.

        A type byte below 128 is, byte for byte, the msgpack positive fixint of the same number, so a
        non-resetting packer can lay out ``[type][value][type][value]...`` in its own buffer with no per-record
        bytes object; the sink gets one write per `chunk` records."""
        if not 0 <= record_type < 128:
            for value in values:
                self.write(record_type, value)
            return
        packer = msgpack.Packer(use_bin_type=False, autoreset=False, unicode_errors="surrogateescape")
        pack = packer.pack
        kind = int(record_type)
        pending = 0
        for value in values:
            pack(kind)
            pack(value)
            pending += 1
            if pending == chunk:
                self._sink.write(packer.bytes())
                packer.reset()
                self.records += pending
                pending = 0
        if pending:
            self._sink.write(packer.bytes())
            self.records += pending


class SnapshotReader:
    """Iterates ``(record_type, value)`` pairs after reading the header (`last_index`)."""

    def __init__(self, source: BinaryIO, accept: Collection[int] | None = None) -> None:
        """`accept`: the record types the caller can restore; anything else is an error (None accepts all)."""
        self._unpacker = msgpack.Unpacker(
            source, raw=False, unicode_errors="surrogateescape", strict_map_key=False, read_size=_READ_SIZE
        )
        self._accept = accept
        self.records = 0
        try:
            header = self._unpacker.unpack()
        except msgpack.OutOfData:
            raise SnapshotFormatError("empty snapshot: no header") from None
        except (ValueError, TypeError, msgpack.UnpackException) as error:  # TypeError: a map or array as a map key
            raise SnapshotFormatError(f"malformed snapshot header: {error}") from None
        last_index = header.get("LastIndex") if isinstance(header, dict) else None
        if not isinstance(last_index, int) or isinstance(last_index, bool) or last_index < 0:
            raise SnapshotFormatError(f"snapshot header must be {{'LastIndex': N}}, got {header!r:.80}")
        self.last_index: int = last_index

    @property
    def offset(self) -> int:
        """Bytes of the stream consumed so far: after the header, then after each record yielded."""
        offset: int = self._unpacker.tell()
        return offset

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        unpacker = self._unpacker
        while True:
            offset = unpacker.tell()
            type_bytes = unpacker.read_bytes(1)
            if not type_bytes:
                return
            record_type = type_bytes[0]
            where = f"record {self.records + 1} at byte {offset}"
            if self._accept is not None and record_type not in self._accept:
                raise SnapshotFormatError(f"{where}: unrecognized record type {type_name(record_type)}")
            try:
                value = unpacker.unpack()
            except msgpack.OutOfData:
                raise SnapshotFormatError(f"{where}: truncated {type_name(record_type)} record") from None
            except (ValueError, TypeError, msgpack.UnpackException) as error:  # TypeError: a map or array as a map key
                raise SnapshotFormatError(f"{where}: malformed {type_name(record_type)} record: {error}") from None
            self.records += 1
            yield record_type, value
