"""The protocol's rules, shared by the Python backends so that every backend refuses the same things the same way
(the C WAL enforces the same rules in csrc/wal.c)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

from raftstore.logstore.codec import check_log
from raftstore.logstore.errors import NonContiguousError
from raftstore.logstore.log import Log


def check_batch(logs: Sequence[Log], last_index: int) -> None:
    """A batch must continue the log (any first index >= 1 on an empty log) with consecutive indexes, and each
    entry must be storable (check_log)."""
    for log in logs:
        check_log(log)
    if not logs:
        return
    if last_index and logs[0].index != last_index + 1:
        raise NonContiguousError(f"log entry {logs[0].index} does not follow the last index {last_index}")
    for prev, log in pairwise(logs):
        if log.index != prev.index + 1:
            raise NonContiguousError(f"log entry {log.index} follows {prev.index} in the batch")


def classify_delete(lo: int, hi: int, first: int, last: int) -> Literal["none", "all", "head", "tail"]:
    """What delete_range(lo, hi) does to a log first..last: nothing, everything, a prefix or a suffix; a hole in the
    middle is refused (raft-wal refuses it too: the log must stay contiguous)."""
    if last == 0 or lo > hi or hi < first or lo > last:
        return "none"
    if lo <= first and hi >= last:
        return "all"
    if lo <= first:
        return "head"
    if hi >= last:
        return "tail"
    raise NonContiguousError(f"cannot delete {lo}..{hi} from the middle of the log {first}..{last}")
