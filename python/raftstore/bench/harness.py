"""The benchmark harness behind `raftstore bench`: layers, workloads, backends, and an interleaved runner.

A *layer* (radix, memdb, logstore, ...) supplies a data set, a list of *workloads* (timed operations) and the
*backends* it compares (its own implementations and their peers). The runner measures every applicable
(workload, backend) pair several times and keeps every sample. Fairness on a noisy, shared machine is the point:

- Rounds interleave the backends (a fresh random order per round, from a fixed seed), so slow drift of the machine
  (another process, thermal throttling, a cache filling) lands on every backend alike instead of on whichever ran
  last. Results are medians with their interquartile spread, never means or minimums.
- Every backend does the same number of elementary operations per sample, on the same data.
- Setup (building inputs, copying structures) is untimed; the collector runs between samples, untimed, and stays
  on during them, as in users' programs. What exists before the first round (the interpreter's modules, the data
  set, the backends) is frozen out of the collector (`gc.freeze`) for the layer's run: it is the harness's, not a
  backend's, so neither the collections between samples nor those inside them keep re-scanning it.
- A backend that is not installed is reported as skipped with its install hint, never silently dropped; a workload
  that does not apply to a backend (no key order in a dict) is reported with the reason.
- Each workload may check a backend's answers after its first sample, untimed: a wrong answer is an error, not a
  fast result (this matters for user-supplied backends).
"""

from __future__ import annotations

import dataclasses
import gc
import inspect
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class Unavailable(Exception):
    """A backend cannot run here; the message says why and how to install what is missing."""


@dataclass
class Context:
    """What a workload sees: the backend's adapter, the layer's data set, and scratch space that lives for one
    backend's turn in one round (e.g. the structure built by the bulk-insert workload, read by the lookups)."""

    backend: Any
    data: Any
    scratch: dict[str, Any] = field(default_factory=dict)


PERCENTILES = ("p50", "p90", "p99", "max")
"""The latency figures a `Measured` sample may carry (microseconds), in the order reports and charts show them."""


@dataclass(frozen=True)
class Measured:
    """A self-timed sample that also measured each operation's latency: `latency_us` maps names from PERCENTILES to
    microseconds (a subset when the backend reports fewer, e.g. a peer that gives only p50 and p99)."""

    ops: int
    seconds: float
    latency_us: dict[str, float] = field(default_factory=dict)


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """PERCENTILES of per-operation latencies given in seconds, in microseconds: the value at the rounded rank
    q * (n - 1), the convention of raftstore's cluster load generator (raftstore.testing.raftproc.load)."""
    ordered = sorted(latencies_s)
    if not ordered:
        return {}
    last = len(ordered) - 1
    return {
        "p50": ordered[round(0.50 * last)] * 1e6,
        "p90": ordered[round(0.90 * last)] * 1e6,
        "p99": ordered[round(0.99 * last)] * 1e6,
        "max": ordered[last] * 1e6,
    }


@dataclass(frozen=True)
class Workload:
    """One timed operation. `run(ctx)` is timed and returns how many elementary operations it performed, or
    ``(operations, seconds)`` when it times itself (a cluster run whose start-up must not count), or a `Measured`
    (self-timed, with latency percentiles);
    `prepare(ctx)` runs untimed before it; `applies(backend)` returns None or the reason it does not apply;
    `check(ctx)` runs untimed after the first sample and raises AssertionError on a wrong answer."""

    name: str
    run: Callable[[Context], int | tuple[int, float] | Measured]
    prepare: Callable[[Context], None] | None = None
    applies: Callable[[Any], str | None] | None = None
    check: Callable[[Context], None] | None = None
    unit: str = "ops"


@dataclass(frozen=True)
class BackendSpec:
    """A named way to make a backend adapter for a layer; `create(data)` raises `Unavailable` with a hint."""

    name: str
    create: Callable[[Any], Any]
    origin: str = "built-in"


def call_factory(factory: Callable[..., Any], argument: Any) -> Any:
    """A plugin backend from its class or factory: ``factory(argument)`` (a fresh directory, the layer's data set)
    when it takes a positional argument, ``factory()`` when it takes none. Decided from the signature, not by trying
    both: a TypeError raised inside the plugin must reach the user, not turn into a second call."""
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: assume the argument is wanted
        return factory(argument)
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    takes_one = any(p.kind in (*positional, inspect.Parameter.VAR_POSITIONAL) for p in parameters)
    return factory(argument) if takes_one else factory()


class Layer(Protocol):
    """What a benchmarked layer provides to the harness."""

    name: str
    default_baseline: str

    def prepare(self, quick: bool) -> Any:
        """The data set (also carries the sizes, reported as parameters)."""
        ...

    def parameters(self, data: Any) -> dict[str, Any]: ...

    def workloads(self) -> list[Workload]: ...

    def backends(self) -> list[BackendSpec]: ...

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A backend from a user-supplied implementation (a class or factory with the layer's API)."""
        ...

    # Optional: `close(data)`, called once the layer is measured (or failed), releases what `prepare` and the
    # backends hold (files, directories, processes); `full_rounds`, the rounds of a full run when the command line
    # does not say (layers whose samples run for seconds use fewer than the default).


@dataclass
class Cell:
    """All samples of one (layer, workload, backend)."""

    layer: str
    workload: str
    backend: str
    unit: str
    ops_per_sample: int = 0
    samples: list[float] = field(default_factory=list)  # operations per second, one per round
    latencies: list[dict[str, float]] = field(default_factory=list)  # per round, when the workload measures them

    @property
    def latency(self) -> dict[str, float]:
        """Each latency percentile's median over the rounds (microseconds); empty when none was measured."""
        names = [name for name in PERCENTILES if any(name in sample for sample in self.latencies)]
        return {name: statistics.median(sample[name] for sample in self.latencies if name in sample) for name in names}

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else 0.0

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.samples) < 2:
            return (self.median, self.median)
        q1, _, q3 = statistics.quantiles(self.samples, n=4, method="inclusive")
        return (q1, q3)

    @property
    def spread(self) -> float:
        """Interquartile range relative to the median (0.05 = the middle half of the samples within 5%)."""
        q1, q3 = self.quartiles
        return (q3 - q1) / self.median if self.median else 0.0


@dataclass
class Results:
    cells: list[Cell] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {layer, backend, reason}
    not_applicable: list[dict[str, str]] = field(default_factory=list)  # {layer, workload, backend, reason}
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)  # layer -> sizes etc.
    baselines: dict[str, str] = field(default_factory=dict)  # layer -> baseline backend
    workload_order: dict[str, list[str]] = field(default_factory=dict)  # layer -> workloads as the layer lists them
    rounds: int = 0  # the most rounds any layer ran
    layer_rounds: dict[str, int] = field(default_factory=dict)  # layer -> the rounds it ran
    quick: bool = False

    def rounds_of(self, layer: str) -> int:
        return self.layer_rounds.get(layer, self.rounds)

    def cells_of(self, layer: str, workload: str) -> list[Cell]:
        return [cell for cell in self.cells if cell.layer == layer and cell.workload == workload]

    def cell(self, layer: str, workload: str, backend: str) -> Cell | None:
        for cell in self.cells:
            if (cell.layer, cell.workload, cell.backend) == (layer, workload, backend):
                return cell
        return None


class Progress(Protocol):
    def start(self, total: int) -> None: ...

    def step(self, label: str) -> None: ...

    def finish(self) -> None: ...


class _NoProgress:
    def start(self, total: int) -> None:
        pass

    def step(self, label: str) -> None:
        pass

    def finish(self) -> None:
        pass


def _unique_names(specs: list[BackendSpec]) -> list[BackendSpec]:
    """Every backend of a layer under its own name (cells are keyed by it): a plugin named like a built-in backend,
    e.g. the built-in class passed again with `--backend`, becomes "NAME (plugin)", then "NAME (plugin 2)"."""
    taken: set[str] = set()
    out = []
    for spec in specs:
        name, count = spec.name, 1
        while name in taken:
            name = f"{spec.name} ({spec.origin})" if count == 1 else f"{spec.name} ({spec.origin} {count})"
            count += 1
        taken.add(name)
        out.append(spec if name == spec.name else dataclasses.replace(spec, name=name))
    return out


def run_layer(
    layer: Layer,
    results: Results,
    *,
    quick: bool,
    rounds: int,
    extra_backends: Sequence[BackendSpec] = (),
    seed: int = 0,
    progress: Progress | None = None,
) -> None:
    """Measure one layer into `results`."""
    progress = progress or _NoProgress()
    data = layer.prepare(quick)
    try:
        results.parameters[layer.name] = layer.parameters(data)
        results.baselines.setdefault(layer.name, layer.default_baseline)
        adapters: list[tuple[str, Any]] = []
        for spec in _unique_names([*layer.backends(), *extra_backends]):
            try:
                adapters.append((spec.name, spec.create(data)))
            except Unavailable as why:
                results.skipped.append({"layer": layer.name, "backend": spec.name, "reason": str(why)})
        workloads = layer.workloads()
        results.workload_order[layer.name] = [workload.name for workload in workloads]
        plan: dict[str, list[Workload]] = {}
        for name, adapter in adapters:
            plan[name] = []
            for workload in workloads:
                reason = workload.applies(adapter) if workload.applies else None
                if reason:
                    results.not_applicable.append(
                        {"layer": layer.name, "workload": workload.name, "backend": name, "reason": reason}
                    )
                else:
                    plan[name].append(workload)
                    results.cells.append(Cell(layer.name, workload.name, name, workload.unit))
        cells = {(c.workload, c.backend): c for c in results.cells if c.layer == layer.name}
        gc.collect()
        gc.freeze()
        progress.start(rounds * sum(len(w) for w in plan.values()))
        rng = random.Random(seed)
        for round_number in range(rounds):
            order = list(adapters)
            rng.shuffle(order)
            for name, adapter in order:
                context = Context(adapter, data)
                for workload in plan[name]:
                    if workload.prepare is not None:
                        workload.prepare(context)
                    gc.collect()
                    started = time.perf_counter()
                    outcome = workload.run(context)
                    elapsed = time.perf_counter() - started
                    cell = cells[(workload.name, name)]
                    if isinstance(outcome, Measured):  # self-timed, with latencies
                        ops, elapsed = outcome.ops, outcome.seconds
                        cell.latencies.append(dict(outcome.latency_us))
                    elif isinstance(outcome, tuple):  # self-timed: (operations, seconds they took)
                        ops, elapsed = outcome
                    else:
                        ops = outcome
                    cell.ops_per_sample = ops
                    cell.samples.append(ops / elapsed if elapsed > 0 else float("inf"))
                    if round_number == 0 and workload.check is not None:
                        workload.check(context)
                    progress.step(f"round {round_number + 1}/{rounds} {name}: {workload.name}")
                context.scratch.clear()
                del context
                gc.collect()
    finally:
        gc.unfreeze()
        close = getattr(layer, "close", None)  # optional: layers holding files or processes release them
        if close is not None:
            close(data)
    results.layer_rounds[layer.name] = rounds
    results.rounds = max(results.rounds, rounds)
    progress.finish()
