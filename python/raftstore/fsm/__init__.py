"""The FSM: Consul's command set applied to the state store.

So far: the message types (`MessageType`, with Consul's numbers and names), the command encoding (`encode`, `split`,
`decode_body`) and the dispatch table (`CommandTable`). `FSM` applies them to a `raftstore.state.StateStore`
and snapshots/restores it.
"""

from raftstore.fsm.codec import CommandDecodeError, as_bytes, decode_body, encode, split
from raftstore.fsm.dispatch import CommandTable, UnknownCommandError
from raftstore.fsm.fsm import FSM
from raftstore.fsm.messages import IGNORE_UNKNOWN_TYPE_FLAG, MessageType, type_name
from raftstore.fsm.persist import FSMSnapshot

__all__ = [
    "FSM",
    "IGNORE_UNKNOWN_TYPE_FLAG",
    "CommandDecodeError",
    "CommandTable",
    "FSMSnapshot",
    "MessageType",
    "UnknownCommandError",
    "as_bytes",
    "decode_body",
    "encode",
    "split",
    "type_name",
]
