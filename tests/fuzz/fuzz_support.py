"""Shared pieces of the hypothesis fuzz tests: example counts and input strategies.

Example counts are small by default so that the whole directory runs in well under a minute in CI;
``RAFTSTORE_FUZZ_EXAMPLES=N`` gives every fuzz test N examples instead (for a long run on a workstation).
The targets themselves, with each decoder's contract, live in `raftstore.testing.fuzz.targets`, shared with the
atheris and random-mutation drivers.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st


def examples(default: int) -> int:
    """The example count of one fuzz test: `default`, or RAFTSTORE_FUZZ_EXAMPLES when set."""
    raw = os.environ.get("RAFTSTORE_FUZZ_EXAMPLES")
    return int(raw) if raw else default


def fuzz_settings(default: int) -> Any:
    return settings(
        max_examples=examples(default),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


Edit = tuple[int, int, int]  # (operation, position in 1/65536ths of the length, byte)


def apply_edits(data: bytes, edits: list[Edit]) -> bytes:
    """Flip / set / insert / delete / truncate bytes of `data` (a valid input), at positions scaled to its length."""
    out = bytearray(data)
    for op, where, value in edits:
        at = where * len(out) // 65536
        if op == 0 and at < len(out):
            out[at] ^= value or 1
        elif op == 1 and at < len(out):
            out[at] = value
        elif op == 2:
            out[at:at] = bytes([value])
        elif op == 3:
            del out[at : at + 1 + value % 8]
        else:
            del out[at:]
    return bytes(out)


def mutants(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed with a few edits; hypothesis shrinks a failure to the fewest edits."""
    edit = st.tuples(st.integers(0, 4), st.integers(0, 65535), st.integers(0, 255))
    return st.builds(apply_edits, st.sampled_from(seeds), st.lists(edit, min_size=1, max_size=6))


# JSON-ish / msgpack-ish values of every type a decoder might meet where it expects another.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.binary(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
