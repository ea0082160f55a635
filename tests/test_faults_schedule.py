"""The fault schedule: the same seed gives the same faults; one fault at a time, on a minority, with a quiet end."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raftstore.testing.faults.schedule import ALL_KINDS, FaultKind, make_schedule

pytestmark = pytest.mark.pure_python


def test_same_seed_same_schedule_and_seeds_differ() -> None:
    assert make_schedule(5, 120, 42) == make_schedule(5, 120, 42)
    assert make_schedule(5, 120, 42) != make_schedule(5, 120, 43)
    assert len({f.kind for f in make_schedule(3, 600, 1)}) == len(ALL_KINDS)  # a long run meets every kind


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([1, 3, 5]), st.floats(1, 600), st.integers(0, 2**32))
def test_schedule_rules(servers: int, seconds: float, seed: int) -> None:
    faults = make_schedule(servers, seconds, seed)
    quiet_from = seconds - max(3.0, seconds / 4)
    minority = (servers - 1) // 2
    previous_end = 0.0
    for fault in faults:
        assert fault.at >= previous_end  # one at a time
        assert 1.0 <= fault.duration <= 4.0 and fault.end <= quiet_from + 1e-6
        assert 1 <= len(fault.servers) <= minority and len(set(fault.servers)) == len(fault.servers)
        assert all(0 <= s < servers for s in fault.servers)
        if fault.kind in (FaultKind.DELAY, FaultKind.DROP, FaultKind.SLOW_DISK):
            assert fault.param > 0
        previous_end = fault.end
    if servers == 1:
        assert faults == []


def test_kinds_can_be_restricted() -> None:
    faults = make_schedule(5, 300, 9, kinds=(FaultKind.KILL, FaultKind.PAUSE))
    assert faults and {f.kind for f in faults} <= {FaultKind.KILL, FaultKind.PAUSE}


def test_describe_names_servers_one_based() -> None:
    fault = make_schedule(3, 60, 3)[0]
    assert f"s{fault.servers[0] + 1}" in fault.describe() and fault.kind.value in fault.describe()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        make_schedule(0, 10, 1)
    with pytest.raises(ValueError):
        make_schedule(3, 10, 1, kinds=())
    with pytest.raises(ValueError):
        make_schedule(3, 10, 1, min_duration=5, max_duration=1)
