"""FSM command framing and dispatch: Consul's numbering and bytes, the ignore-unknown flag, clear errors."""

from __future__ import annotations

import logging
from typing import Any

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from raftstore.fsm import (
    IGNORE_UNKNOWN_TYPE_FLAG,
    CommandDecodeError,
    CommandTable,
    MessageType,
    UnknownCommandError,
    as_bytes,
    decode_body,
    encode,
    split,
    type_name,
)

pytestmark = pytest.mark.pure_python


def test_consul_numbering_and_names() -> None:
    assert [MessageType.REGISTER, MessageType.DEREGISTER, MessageType.KVS, MessageType.SESSION] == [0, 1, 2, 3]
    assert (MessageType.TOMBSTONE, MessageType.TXN, MessageType.AUTOPILOT, MessageType.INDEX) == (5, 8, 9, 16)
    assert MessageType.UPDATE_VIRTUAL_IP == 43 and IGNORE_UNKNOWN_TYPE_FLAG == 128
    assert [t.value for t in MessageType] == list(range(44))  # dense: nothing skipped or renumbered
    assert MessageType.KVS.consul_name == "KVS" and MessageType.PEERING_SECRETS_WRITE.consul_name == "PeeringSecret"
    assert type_name(2) == "KVS" and type_name(77) == "Unknown 77"
    assert type_name(77 | 128) == "Unknown 77 (ignore if unknown)"


def test_encode_writes_the_old_msgpack_spec_like_consul() -> None:
    data = encode(MessageType.KVS, {"Op": "set", "DirEnt": {"Key": "k", "Value": b"\x00\xff", "Flags": 0}})
    assert data[0] == 2
    # fixmap(2), fixstr "Op" — strings and byte values alike are raw (0xa0..0xbf / 0xda), never str8 or bin.
    assert data[1:5] == b"\x82\xa2Op"
    assert b"\xc4" not in data and b"\xd9" not in data
    assert b"\xa2\x00\xff" in data  # the value: raw of length 2
    long_value = encode(MessageType.KVS, {"Value": b"x" * 40})
    assert b"\xda\x00\x28" in long_value  # raw16, since old-spec msgpack has no str8


def test_split_and_decode_round_trip_binary_values() -> None:
    value = bytes(range(256))
    data = encode(MessageType.KVS, {"Op": "set", "DirEnt": {"Key": "ключ", "Value": value, "Flags": 7}})
    type_byte, ignorable, body = split(data)
    assert (type_byte, ignorable) == (MessageType.KVS, False)
    decoded = decode_body(body)
    assert decoded["Op"] == "set" and decoded["DirEnt"]["Key"] == "ключ" and decoded["DirEnt"]["Flags"] == 7
    assert as_bytes(decoded["DirEnt"]["Value"]) == value
    assert as_bytes(None) == b""


@given(st.binary(max_size=300))
def test_any_bytes_value_survives(value: bytes) -> None:
    decoded = decode_body(split(encode(MessageType.KVS, {"Value": value}))[2])
    assert as_bytes(decoded["Value"]) == value


def test_ignore_flag_round_trip() -> None:
    type_byte, ignorable, _ = split(encode(100, {}, ignore_unknown=True))
    assert (type_byte, ignorable) == (100, True)
    with pytest.raises(ValueError, match=r"0\.\.127"):
        encode(128, {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty command"),
        (b"\x02", "malformed msgpack"),
        (b"\x02\x82\xa2Op", "malformed msgpack"),
        (b"\x02" + msgpack.packb([1, 2]), "msgpack map"),
        (b"\x02" + msgpack.packb({}) + b"\x00", "malformed msgpack"),  # trailing bytes
        (b"\x02\xc1", "malformed msgpack"),  # 0xc1 is never used
    ],
)
def test_malformed_commands_give_clear_errors(data: bytes, message: str) -> None:
    with pytest.raises(CommandDecodeError, match=message):
        decode_body(split(data)[2])


def test_as_bytes_refuses_other_types() -> None:
    with pytest.raises(CommandDecodeError, match="Value must be bytes"):
        as_bytes(12, "Value")


def test_dispatch_routes_by_type_and_passes_the_index() -> None:
    table = CommandTable()
    seen: list[tuple[dict[str, Any], int]] = []

    @table.handles(MessageType.KVS)
    def apply_kvs(body: memoryview, index: int) -> str:
        seen.append((decode_body(body), index))
        return "ok"

    assert MessageType.KVS in table and MessageType.SESSION not in table
    assert table.apply(encode(MessageType.KVS, {"Op": "set"}), 42) == "ok"
    # The ignore flag on a *known* type changes nothing: the handler runs.
    assert table.apply(encode(MessageType.KVS, {"Op": "cas"}, ignore_unknown=True), 43) == "ok"
    assert seen == [({"Op": "set"}, 42), ({"Op": "cas"}, 43)]


def test_duplicate_registration_is_an_error() -> None:
    table = CommandTable()
    table.register(MessageType.KVS, lambda body, index: None)
    with pytest.raises(ValueError, match="already registered"):
        table.register(2, lambda body, index: None)


def test_unknown_type_with_the_flag_is_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    table = CommandTable()
    with caplog.at_level(logging.WARNING, logger="raftstore.fsm.dispatch"):
        assert table.apply(encode(99, {"x": 1}, ignore_unknown=True), 7) is None
    assert "Unknown 99" in caplog.text and "index 7" in caplog.text


def test_unknown_type_without_the_flag_stops_applying() -> None:
    table = CommandTable()
    with pytest.raises(UnknownCommandError, match="unknown type Unknown 99 at index 8"):
        table.apply(encode(99, {"x": 1}), 8)
    with pytest.raises(UnknownCommandError, match="Session"):
        table.apply(encode(MessageType.SESSION, {}), 9)  # a known Consul type this table has no handler for
