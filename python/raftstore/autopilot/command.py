"""The Autopilot FSM command (message type 9) in and out of its Raft log bytes.

The FSM registers `decode_set_config_command` for `MessageType.AUTOPILOT` and applies the result with
`apply_set_config`; the HTTP layer builds the command with `encode_set_config_command` and proposes it.
"""

from __future__ import annotations

from raftstore.autopilot.config import AutopilotSetConfigRequest
from raftstore.fsm.codec import decode_body, encode
from raftstore.fsm.messages import MessageType


def encode_set_config_command(request: AutopilotSetConfigRequest) -> bytes:
    """`[9][msgpack AutopilotSetConfigRequest]`, as Consul's `structs.Encode` writes it."""
    return encode(MessageType.AUTOPILOT, request.to_body())


def decode_set_config_command(body: bytes | bytearray | memoryview) -> AutopilotSetConfigRequest:
    """The request in a type-9 command body (the bytes after the type byte).

    Raises `raftstore.fsm.CommandDecodeError` when the bytes are not a msgpack map, and `AutopilotConfigError`
    when the map is not a valid request; either way nothing is half-applied, since decoding precedes any write.
    """
    return AutopilotSetConfigRequest.from_body(decode_body(body))
