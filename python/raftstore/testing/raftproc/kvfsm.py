"""The FSM the process servers run: a dict of key -> value. Small on purpose: the cluster benchmark measures the
Raft path (replication, fsync, apply plumbing), and the peers it is compared with apply to trivial FSMs too."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, BinaryIO

import msgpack

from raftstore.logstore.log import Log, LogType


def command(key: bytes, value: bytes) -> bytes:
    packed: bytes = msgpack.packb([key, value], use_bin_type=True)
    return packed


class KVFSM:
    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.lock = threading.Lock()

    def apply(self, log: Log) -> Any:
        return self.apply_batch([log])[0]

    def apply_batch(self, logs: Sequence[Log]) -> list[Any]:
        out: list[Any] = []
        data = self.data
        with self.lock:
            for log in logs:
                if log.type == LogType.COMMAND:
                    key, value = msgpack.unpackb(log.data)
                    data[key] = value
                    out.append(log.index)
                else:
                    out.append(None)
        return out

    def snapshot(self) -> KVSnapshot:
        with self.lock:
            return KVSnapshot(dict(self.data))

    def restore(self, reader: BinaryIO) -> None:
        raw = reader.read()
        fresh = msgpack.unpackb(raw) if raw else {}
        with self.lock:
            self.data = fresh

    def items(self) -> dict[bytes, bytes]:
        with self.lock:
            return dict(self.data)


class KVSnapshot:
    def __init__(self, data: dict[bytes, bytes]) -> None:
        self.data = data

    def persist(self, sink: Any) -> None:
        sink.write(msgpack.packb(self.data, use_bin_type=True))

    def release(self) -> None:
        self.data = {}
