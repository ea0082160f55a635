"""Fuzzing the Raft decoders: transport framing, the wire codec of the core's messages, and the inbound side of a
connection (hello, frames, messages). Contracts in raftstore.testing.fuzz.targets."""

from __future__ import annotations

import sys
from pathlib import Path

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.raft import wire
from raftstore.raft.transport.framing import encode_frame
from raftstore.testing.fuzz import targets

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib: the support module by path
from fuzz_support import fuzz_settings, mutants, values

pytestmark = pytest.mark.pure_python

WIRE_SEEDS = targets._wire_seeds()
INBOUND_SEEDS = targets._inbound_seeds()

frame = st.tuples(st.integers(0, 255), st.binary(max_size=64)).map(lambda kp: encode_frame(*kp))
garbage = st.binary(min_size=1, max_size=16)


@fuzz_settings(300)
@given(st.integers(0, 255), st.lists(st.one_of(frame, frame, garbage), max_size=12))
def test_frame_decoder_on_frames_and_garbage(chunk: int, parts: list[bytes]) -> None:
    targets.frames(bytes([chunk]) + b"".join(parts))


@fuzz_settings(200)
@given(st.binary(max_size=300))
def test_frame_decoder_on_noise(data: bytes) -> None:
    targets.frames(data)


def test_oversized_and_empty_frames_are_refused_from_the_header() -> None:
    targets.frames(b"\x00" + (targets.FRAME_LIMIT + 1).to_bytes(4, "big") + b"\x01")
    targets.frames(b"\x00" + b"\x00\x00\x00\x00\x01")


@fuzz_settings(400)
@given(mutants(WIRE_SEEDS))
def test_wire_mutated_messages(data: bytes) -> None:
    targets.wire_message(data)


@fuzz_settings(200)
@given(st.integers(0, 12), st.integers(0, 9), st.lists(values, max_size=9), st.booleans())
def test_wire_arrays_of_wrong_types(kind: int, version: int, fields: list[object], versioned: bool) -> None:
    body = msgpack.packb(([version % 2] if versioned else []) + fields, use_bin_type=True)
    targets.wire_message(bytes([kind]) + body)


@fuzz_settings(200)
@given(st.lists(values, min_size=6, max_size=6))
def test_wire_append_entries_with_wrong_typed_entries(entry: list[object]) -> None:
    body = msgpack.packb([1, "a", "b", 1, 0, 0, [entry], 0], use_bin_type=True)
    targets.wire_message(b"\x01" + body)


@pytest.mark.parametrize("log_type", [[1], {"a": 1}, True, 1.0, "1", None, 99])
def test_wire_refuses_a_log_type_that_is_not_a_known_integer(log_type: object) -> None:
    """Regression (fuzzing): a list or map as an entry's log type raised TypeError from the set lookup; a bool was
    accepted as type 1."""
    body = msgpack.packb([1, "a", "b", 1, 0, 0, [[1, 1, log_type, b"", b"", 0.0]], 0], use_bin_type=True)
    with pytest.raises(wire.WireError, match="unknown log type"):
        wire.decode(1, body)


@fuzz_settings(300)
@given(mutants(INBOUND_SEEDS))
def test_inbound_connection_on_mutated_streams(data: bytes) -> None:
    targets.raft_inbound(data)


@fuzz_settings(100)
@given(st.integers(0, 255), values)
def test_inbound_hello_of_any_shape(chunk: int, hello: object) -> None:
    payload = msgpack.packb(hello, use_bin_type=True)
    targets.raft_inbound(bytes([chunk]) + encode_frame(0, payload) + INBOUND_SEEDS[0][1:])


@pytest.mark.parametrize("appended_at", [float("nan"), float("inf"), float("-inf"), "0", None])
def test_wire_refuses_an_entry_time_that_is_not_a_finite_number(appended_at: object) -> None:
    """Regression (atheris): a NaN appended_at decoded into an entry equal to nothing, not even its own re-encoding."""
    body = msgpack.packb([1, "a", "b", 1, 0, 0, [[1, 1, 0, b"", b"", appended_at]], 0], use_bin_type=True)
    with pytest.raises(wire.WireError, match="appended_at"):
        wire.decode(1, body)
