"""Test helpers for the linearizability checker: a brute-force oracle and a generator of linearizable histories.

The oracle shares no code with the checker (not even the register model): it enumerates which timed-out operations
took effect and every order of the operations, which is only feasible for a handful of operations, and so is a
trustworthy reference for the differential test. The generator runs a real (sequential) key-value store against
simulated concurrent clients, so its histories are linearizable by construction; tests then corrupt them.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Any

from raftstore.testing.history import Operation


def _same(left: Any, right: Any) -> bool:
    """JSON equality (true is not 1), independently of the checker's canonical form."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    return bool(left == right)


def apply_sequentially(order: Sequence[Operation], initial: dict[str, Any] | None = None) -> bool:
    """Whether a sequential store, running `order` one by one, gives every completed operation its recorded output."""
    store: dict[str, Any] = dict(initial or {})
    for operation in order:
        current = store.get(operation.key)
        known = operation.status == "ok"
        if operation.op == "get":
            if known and not _same(current, operation.output):
                return False
        elif operation.op == "put":
            store[operation.key] = operation.input
        elif operation.op == "delete":
            store.pop(operation.key, None)
        else:
            expected, new = operation.input
            matches = _same(current, expected)
            if known and matches != operation.output:
                return False
            if matches:
                store[operation.key] = new
    return True


def respects_real_time(order: Sequence[Operation]) -> bool:
    """No operation is placed after one that was invoked strictly after it returned."""
    for position, later in enumerate(order):
        for earlier in order[:position]:
            if later.complete is not None and later.complete < earlier.invoke:
                return False
    return True


def brute_force_linearizable(history: Sequence[Operation], initial: dict[str, Any] | None = None) -> bool:
    """Exhaustive search: some subset of the unknown operations took effect, in some valid order with the rest."""
    live = [operation for operation in history if operation.status != "fail"]
    known = [operation for operation in live if operation.status == "ok"]
    unknown = [operation for operation in live if operation.status == "unknown"]
    for size in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, size):
            for order in itertools.permutations(known + list(chosen)):
                if respects_real_time(order) and apply_sequentially(order, initial):
                    return True
    return False


def linearizable_history(
    rng: random.Random,
    operations: int,
    *,
    clients: int = 5,
    keys: Sequence[str] = ("k",),
    unknown_rate: float = 0.05,
    fail_rate: float = 0.02,
) -> list[Operation]:
    """A linearizable history: each call takes effect at a random moment inside its interval.

    Clients run one call at a time; a timed-out call (status unknown) may or may not have taken effect, and its
    client carries on. Values are unique strings, so every read identifies the write it saw.
    """
    # (linearization point, client, op, key, input, invoke, complete, status)
    planned: list[tuple[float, int, str, str, Any, float, float | None, str]] = []
    clock = [0.0] * clients
    for number in range(operations):
        client = rng.randrange(clients)
        invoke = clock[client] + rng.random()
        duration = rng.expovariate(1.0)
        point = invoke + rng.random() * duration
        complete = invoke + duration
        clock[client] = complete
        key = rng.choice(keys)
        op = rng.choice(("get", "get", "put", "put", "cas", "delete"))
        value = f"v{number}"
        argument: Any = None
        if op == "put":
            argument = value
        elif op == "cas":
            argument = (rng.choice((None, f"v{rng.randrange(max(1, number))}")), value)
        roll = rng.random()
        status = "unknown" if roll < unknown_rate else "fail" if roll < unknown_rate + fail_rate else "ok"
        if status == "unknown" and rng.random() < 0.5:
            point = float("inf")  # it never took effect
        planned.append((point, client, op, key, argument, invoke, None if status == "unknown" else complete, status))
    planned.sort(key=lambda entry: entry[0])
    store: dict[str, Any] = {}
    history: list[Operation] = []
    for point, client, op, key, argument, invoke, complete, status in planned:
        output: Any = None
        current = store.get(key)
        if status != "fail" and point != float("inf"):
            if op == "put":
                store[key] = argument
            elif op == "delete":
                store.pop(key, None)
            elif op == "cas":
                output = current == argument[0]
                if output:
                    store[key] = argument[1]
            else:
                output = current
        if status != "ok":
            output = None if op != "cas" or status == "unknown" else False
        elif op == "cas" and not isinstance(output, bool):
            output = False
        history.append(Operation(client, op, key, argument, output, invoke, complete, status))  # type: ignore[arg-type]
    history.sort(key=lambda operation: operation.invoke)
    return history
