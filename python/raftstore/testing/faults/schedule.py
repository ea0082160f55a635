"""The fault schedule of a run: which fault, on which servers, when and for how long, drawn from a seed.

Why a schedule computed up front rather than faults drawn as the run goes: the same ``--seed`` gives the same
faults at the same offsets, so a failing soak can be rerun and its faults printed before anything starts.

Rules, enforced here:
- One fault at a time (a Jepsen-style nemesis): each fault is reverted before the next starts, so a report names
  the fault that was active when an operation misbehaved, and a cluster is never left without any majority by two
  overlapping faults.
- A fault touches a minority at most (one server of 3, up to two of 5): the majority side must keep serving, so a
  run that stalls is a finding, not a consequence of the schedule.
- The last quarter of the run (at least 3 s) is fault-free, so the cluster heals and converges before the final
  reads.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass


class FaultKind(str, enum.Enum):
    PARTITION = "partition"  # the chosen servers are cut off from the others, both ways
    ONE_WAY = "one-way"  # the chosen servers' messages to the others are held; they still receive
    DELAY = "delay"  # every link touching the chosen servers gets `param` seconds of delay (and some jitter)
    DROP = "drop"  # connections touching the chosen servers are reset, and each chunk resets with p = `param`
    KILL = "kill"  # SIGKILL, and restart at the end of the fault
    PAUSE = "pause"  # SIGSTOP, and SIGCONT at the end of the fault
    SLOW_DISK = "slow-disk"  # every durable write of the chosen servers takes `param` seconds more


ALL_KINDS: tuple[FaultKind, ...] = tuple(FaultKind)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: starts `at` seconds into the run, lasts `duration` seconds, on `servers` (0-based)."""

    at: float
    duration: float
    kind: FaultKind
    servers: tuple[int, ...]
    param: float = 0.0

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        names = ",".join(f"s{i + 1}" for i in self.servers)
        extra = f" ({self.param:g})" if self.param else ""
        return f"{self.at:7.2f}s +{self.duration:.2f}s  {self.kind.value:<9} {names}{extra}"


def make_schedule(
    servers: int,
    seconds: float,
    seed: int,
    *,
    kinds: tuple[FaultKind, ...] = ALL_KINDS,
    min_gap: float = 0.5,
    max_gap: float = 2.0,
    min_duration: float = 1.0,
    max_duration: float = 4.0,
) -> list[Fault]:
    """The faults of a run of `seconds` on `servers` servers; the same arguments give the same list."""
    if servers < 1:
        raise ValueError("a cluster has at least one server")
    if not kinds:
        raise ValueError("no fault kinds to draw from")
    if min_gap < 0 or max_gap < min_gap or min_duration <= 0 or max_duration < min_duration:
        raise ValueError("gaps and durations must be ordered and positive")
    rng = random.Random(seed)
    minority = (servers - 1) // 2
    quiet_from = seconds - max(3.0, seconds / 4)
    faults: list[Fault] = []
    now = rng.uniform(min_gap, max_gap)
    while minority:  # a single server has no minority to fault
        duration = rng.uniform(min_duration, max_duration)
        if now + duration > quiet_from:
            break
        kind = rng.choice(kinds)
        count = rng.randint(1, minority)
        chosen = tuple(sorted(rng.sample(range(servers), count)))
        param = 0.0
        if kind is FaultKind.DELAY:
            param = round(rng.uniform(0.02, 0.3), 3)
        elif kind is FaultKind.DROP or kind is FaultKind.SLOW_DISK:
            param = round(rng.uniform(0.01, 0.2), 3)
        faults.append(Fault(round(now, 3), round(duration, 3), kind, chosen, param))
        now += duration + rng.uniform(min_gap, max_gap)
    return faults
