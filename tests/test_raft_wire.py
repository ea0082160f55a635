"""The core's messages on the wire: exact round trips (also of every message a faulty simulated cluster sends) and
a clear `WireError` for every malformed frame."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.logstore.log import Log, LogType
from raftstore.raft.configuration import Configuration, Server, Suffrage
from raftstore.raft.messages import (
    AppendEntriesRequest,
    AppendEntriesResponse,
    HeartbeatRequest,
    HeartbeatResponse,
    InstallSnapshotRequest,
    InstallSnapshotResponse,
    Message,
    RequestVoteRequest,
    RequestVoteResponse,
    SnapshotMeta,
    TimeoutNowRequest,
)
from raftstore.raft.wire import KINDS, WIRE_VERSION, WireError, decode, encode
from raftstore.testing.sim.cluster import Simulation

pytestmark = pytest.mark.pure_python

CONFIG = Configuration((Server("a", "127.0.0.1:1"), Server("b", "127.0.0.1:2", Suffrage.NONVOTER)))
ENTRIES = [
    Log(5, 2, LogType.COMMAND, b"\x02\x81\xa3Key\xa1k", b"ext", 1700000000.25),
    Log(6, 2, LogType.CONFIGURATION, CONFIG.encode()),
    Log(7, 3, LogType.NOOP),
]
SAMPLES: list[Message] = [
    AppendEntriesRequest("a", "b", 3, 4, 2, ENTRIES, 5),
    AppendEntriesRequest("a", "b", 3, 4, 2, [], 5),
    AppendEntriesResponse("b", "a", 3, False, 4, 2, 1),
    HeartbeatRequest("a", "b", 3, 5, 17, 1234),
    HeartbeatResponse("b", "a", 3, 17, 1234),
    RequestVoteRequest("a", "b", 4, 7, 3, True, False),
    RequestVoteRequest("a", "b", 4, 7, 3, False, True),
    RequestVoteResponse("b", "a", 4, True, True),
    InstallSnapshotRequest("a", "b", 3, SnapshotMeta(100, 3, CONFIG, 6), b"chunk of state"),
    InstallSnapshotResponse("b", "a", 3, True, 100),
    TimeoutNowRequest("a", "b", 3),
]


def test_every_message_class_has_a_kind_and_round_trips() -> None:
    assert {type(m) for m in SAMPLES} == set(KINDS)
    assert 0 not in KINDS.values()  # the transport's hello
    for message in SAMPLES:
        kind, body = encode(message)
        decoded = decode(kind, body)
        assert decoded == message and type(decoded) is type(message)
        if isinstance(message, InstallSnapshotRequest):
            assert isinstance(decoded, InstallSnapshotRequest) and decoded.data == message.data


@given(
    st.lists(
        st.builds(
            Log,
            st.integers(0, 2**63),
            st.integers(0, 2**63),
            st.sampled_from(list(LogType)),
            st.binary(max_size=50),
            st.binary(max_size=10),
            st.floats(allow_nan=False, allow_infinity=False),
        ),
        max_size=20,
    ),
    st.integers(0, 2**64 - 1),
)
def test_appends_round_trip_any_entries(entries: list[Log], index: int) -> None:
    message = AppendEntriesRequest("s1", "s2", index, index, index, entries, index)
    assert decode(*encode(message)) == message


class _WireCheckedSimulation(Simulation):
    """Every message the simulated cores exchange goes through the codec first, and must come back equal."""

    checked: int = 0

    def send(self, message: Any) -> None:
        wire_message = message
        if isinstance(message, InstallSnapshotRequest):  # the simulator attaches its own state object as data
            wire_message = dataclasses.replace(message, data=b"state")
        decoded = decode(*encode(wire_message))
        assert decoded == wire_message, (decoded, wire_message)
        type(self).checked += 1
        super().send(message)


@pytest.mark.parametrize("seed", range(6))
def test_every_message_of_faulty_simulated_clusters_round_trips(seed: int) -> None:
    result = _WireCheckedSimulation(seed, 3 + 2 * (seed % 2), 40).run()
    assert result.ok, result.error
    assert _WireCheckedSimulation.checked > 100


def test_snapshot_data_must_be_bytes_on_the_wire() -> None:
    with pytest.raises(WireError, match="bytes"):
        encode(InstallSnapshotRequest("a", "b", 3, SnapshotMeta(1, 1, CONFIG, 1), {"an": "object"}))
    with pytest.raises(WireError, match="not a Raft message"):
        encode("hello")  # type: ignore[arg-type]


def _body(*values: Any) -> bytes:
    packed: bytes = msgpack.packb([WIRE_VERSION, *values], use_bin_type=True)
    return packed


HEARTBEAT = KINDS[HeartbeatRequest]
APPEND = KINDS[AppendEntriesRequest]
SNAPSHOT = KINDS[InstallSnapshotRequest]


@pytest.mark.parametrize(
    ("kind", "body", "message"),
    [
        (0, _body(), "unknown message kind 0"),
        (99, _body(), "unknown message kind 99"),
        (HEARTBEAT, b"\xc1", "malformed msgpack"),
        (HEARTBEAT, b"", "malformed msgpack"),
        (HEARTBEAT, msgpack.packb({"term": 1}), "not a msgpack array"),
        (HEARTBEAT, msgpack.packb([]), "not a msgpack array"),
        (HEARTBEAT, msgpack.packb([2, "a", "b", 1, 1, 1, 1]), "unsupported wire version 2"),
        (HEARTBEAT, _body("a", "b", 1, 1, 1), "5 fields, expected 6"),
        (HEARTBEAT, _body("a", "b", -1, 1, 1, 1), "HeartbeatRequest.term: expected a non-negative integer"),
        (HEARTBEAT, _body("a", "b", 1.5, 1, 1, 1), "HeartbeatRequest.term"),
        (HEARTBEAT, _body("a", "b", True, 1, 1, 1), "HeartbeatRequest.term"),
        (HEARTBEAT, _body("", "b", 1, 1, 1, 1), "HeartbeatRequest.source: expected a server id"),
        (HEARTBEAT, _body(b"a", "b", 1, 1, 1, 1), "HeartbeatRequest.source"),
        (KINDS[RequestVoteResponse], _body("a", "b", 1, 1, False), "RequestVoteResponse.granted: expected true"),
        (APPEND, _body("a", "b", 1, 0, 0, "x", 0), "AppendEntriesRequest.entries: expected a list"),
        (APPEND, _body("a", "b", 1, 0, 0, [[1, 1, 0, b""]], 0), "each entry is"),
        (APPEND, _body("a", "b", 1, 0, 0, [[1, 1, 42, b"", b"", 0.0]], 0), "unknown log type 42"),
        (APPEND, _body("a", "b", 1, 0, 0, [[1, 1, 0, "text", b"", 0.0]], 0), "data and extensions are bytes"),
        (APPEND, _body("a", "b", 1, 0, 0, [[1, 1, 0, b"", b"", "now"]], 0), "appended_at is a number"),
        (APPEND, _body("a", "b", 1, 0, 0, [[-1, 1, 0, b"", b"", 0.0]], 0), "entries.index"),
        (SNAPSHOT, _body("a", "b", 1, [1, 1, b"garbage", 1], None), "bad configuration"),
        (SNAPSHOT, _body("a", "b", 1, [1, 1], None), "meta: expected"),
        (SNAPSHOT, _body("a", "b", 1, [1, 1, CONFIG.encode(), 1], "text"), "data: expected bytes or nil"),
    ],
)
def test_malformed_frames_are_refused_clearly(kind: int, body: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message.replace(".", r"\.")):
        decode(kind, body)


@given(st.integers(1, 9), st.binary(max_size=200))
def test_garbage_is_refused_or_decodes_to_a_valid_message(kind: int, body: bytes) -> None:
    try:
        message = decode(kind, body)
    except WireError:
        return
    assert type(message) in KINDS and decode(*encode(message)) == message
