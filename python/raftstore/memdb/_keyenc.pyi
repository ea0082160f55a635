"""Type stub for the Cython key encoder (_keyenc.pyx); the contract is in raftstore.memdb.keyenc."""

from collections.abc import Sequence
from typing import Any

from raftstore.memdb.keyenc import Spec

def object_keys(specs: Sequence[Spec], obj: Any) -> list[list[bytes] | None]: ...
def insert_keys(txns: Sequence[Any], keys: Sequence[list[bytes] | None], obj: Any) -> Any: ...
