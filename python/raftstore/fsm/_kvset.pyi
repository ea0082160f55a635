"""Type stub for the Cython KV-set fast path (_kvset.pyx); the contract is in raftstore.fsm.kvset."""

from typing import Any

from raftstore.fsm.kvset import SetCommand
from raftstore.logstore.log import Log

def parse_set(body: bytes) -> SetCommand | None: ...
def apply_set_run(logs: list[Log], start: int, id_txn: Any) -> tuple[int, int]: ...
def untrack_entry(entry: Any) -> Any: ...
