"""Change tracking: what a write transaction did to each object, collapsed to its net effect (go-memdb's Changes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Change:
    """One object's net change in a transaction: ``before`` is None for a creation, ``after`` None for a deletion."""

    table: str
    before: Any
    after: Any
    primary_key: bytes = field(repr=False, compare=False)

    @property
    def created(self) -> bool:
        return self.before is None and self.after is not None

    @property
    def updated(self) -> bool:
        return self.before is not None and self.after is not None

    @property
    def deleted(self) -> bool:
        return self.before is not None and self.after is None


def collapse(changes: list[Change]) -> list[Change]:
    """One change per (table, primary key), at the position of its last mutation, carrying the first mutation's
    ``before`` and the last one's ``after``; an object created and deleted in the same transaction disappears.

    This keeps mutations in order while giving each object only its overall effect (as go-memdb does); note that for
    dependent operations (copy X to Y, then delete X) the list is the net effect, not a replayable history.
    """
    first_before: dict[tuple[str, bytes], Any] = {}
    last_index: dict[tuple[str, bytes], int] = {}
    for i, change in enumerate(changes):
        key = (change.table, change.primary_key)
        if key not in first_before:
            first_before[key] = change.before
        last_index[key] = i
    if len(last_index) == len(changes):
        return list(changes)
    out = []
    for i, change in enumerate(changes):
        key = (change.table, change.primary_key)
        if last_index[key] != i:
            continue
        before = first_before[key]
        if before is None and change.after is None:
            continue
        out.append(Change(change.table, before, change.after, change.primary_key))
    return out
