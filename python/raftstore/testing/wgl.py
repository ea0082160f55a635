"""The search behind the linearizability checker: Wing & Gong's algorithm with Lowe's just-in-time linearization and
a memo of (linearized set, register value), as Porcupine implements it, for the register of one key.

A history of one key is linearizable when its operations can be put in one order that (1) the register's sequential
specification (`kvmodel.step`) accepts and (2) respects real time: an operation that returned before another was
invoked comes first. The search walks the call/return events in time order, kept in a doubly-linked list:
- a *call* entry in the list is a candidate: the operation may take effect now. Try it (if `step` allows it and the
  resulting (linearized set, value) pair is new), remove its call and return entries from the list, push it on the
  stack, and start over from the head of the list;
- a *return* entry met before its operation was linearized means no candidate order works from here: pop the last
  operation, put its entries back (dancing links: restored in the reverse order of removal) and try the next one.
The memo makes the search polynomial in the number of (set, value) pairs reached; without it, exponential.

Two refinements for operations with an unknown outcome (a timeout: they may take effect at any time after their
invocation, or never — equivalent to "after everything else", as nothing observes that):
- they have no return entry and live in a separate list, tried only after every known candidate at that point has
  failed. Most timed-out writes are never observed; trying them first (they are the oldest calls) would make the
  search carry each one through every later read. Candidate order changes speed, never the verdict;
- among unknown operations with the same transition, only the earliest-invoked unplaced one is a candidate. Any
  linearization can be rewritten to place identical unknown operations in invocation order (swapping two identical
  ones changes no value and breaks no real-time constraint, as neither has a return time), so this loses nothing
  and cuts the 2^k subsets of k identical timeouts to k+1 counts. Jepsen's histories, with values 0-4, need it.
- an unknown operation u is placed only where it matters. It may not change nothing where it is placed; and the
  operation right after it may not be a blind write (put or delete: it hides u), nor a known operation x that
  commutes with u there (x is allowed from the value s before u, and x-then-u ends in the same value as u-then-x).
  Completeness: take any linearization; drop each unknown operation that changes nothing or comes right before a
  blind write, and move each unknown operation one place later past a known operation it commutes with (neither
  breaks real time: u has no return time and x only moves earlier past u). Each step lowers (number of unknown
  operations placed, their total distance from the end), so this ends, in a linearization obeying these rules;
  renaming identical unknown operations back to invocation order then satisfies the symmetry rule too. Without
  these rules, every timed-out write whose value nobody read multiplies the states a wrong turn has to explore.
  Since the rule looks at the last placed operation, the memo key after an unknown operation also holds that
  operation and the value before it.
The search ends successfully as soon as every operation with a known outcome is placed: the rest go at the end.

When the search fails, the explanation reports the longest linearizable prefix it found, the register value after
it, and the operation whose return cut that prefix off (with the candidates that were still open). `deadline`
bounds the time spent: reaching it gives a "timeout" outcome, never a verdict.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from raftstore.testing.kvmodel import CAS_REFUSED, CAS_SWAPPED, INVALID, READ, UNOBSERVED, WRITE, RegisterOp, step

# How often (in search steps) the clock is read for the deadline.
_CLOCK_EVERY = 2048


@dataclass(slots=True)
class SearchOutcome:
    """What the search found for one key; op numbers index the `ops` sequence given to `search`."""

    verdict: Literal["linearizable", "not linearizable", "timeout"]
    # linearizable: a full witness order of the placed ops (unplaced unknown ops go after it, in any order).
    # otherwise: the longest linearizable prefix found.
    order: list[int] = field(default_factory=list)
    # The register value after `order`.
    state: Hashable = None
    # Not linearizable / timeout: the op whose return ended the longest prefix, and the ops still open there.
    blocked: int | None = None
    open_ops: list[int] = field(default_factory=list)
    steps: int = 0


def search(ops: Sequence[RegisterOp], initial: Hashable, deadline: float | None = None) -> SearchOutcome:
    """Decide whether `ops` (all on one key) is linearizable from register value `initial`."""
    n = len(ops)
    # Events in time order; at equal times calls sort before returns, so operations that merely touch are treated
    # as concurrent (the lenient reading: a checker must not report a violation that timestamp ties could explain).
    events = sorted(
        [(op.invoke, 0, i) for i, op in enumerate(ops)]
        + [(op.complete, 1, i) for i, op in enumerate(ops) if op.complete is not None]
    )
    known = [op.complete is not None for op in ops]
    kinds = [op.kind for op in ops]
    arg_a = [op.a for op in ops]
    arg_b = [op.b for op in ops]
    # Values that no operation compares against (no read returns them, no cas expects them) all behave the same in
    # every transition, so they are folded into one, UNOBSERVED: the memo then merges their states and the symmetry
    # rule merges timed-out writes of them. This changes no verdict, only the values shown in explanations.
    compared = {arg_a[i] for i in range(n) if kinds[i] != WRITE}
    for i in range(n):
        if kinds[i] == WRITE:
            if arg_a[i] not in compared:
                arg_a[i] = UNOBSERVED
        elif arg_b[i] not in compared:
            arg_b[i] = UNOBSERVED
    if initial not in compared:
        initial = UNOBSERVED

    # Main list: entries 1..m are the calls and returns of known ops in time order; 0 is the head, m + 1 the tail.
    entry_op = [-1]
    entry_is_return = [False]
    call_entry = [-1] * n
    return_entry = [-1] * n
    # Unknown list: unknown ops in invocation order. available[u] = the first main entry after u's call, so u is a
    # candidate before return entry r exactly when available[u] <= r.
    unknown_order: list[int] = []
    available = [0] * n
    for _, is_return, i in events:
        if known[i]:
            entry_op.append(i)
            entry_is_return.append(bool(is_return))
            if is_return:
                return_entry[i] = len(entry_op) - 1
            else:
                call_entry[i] = len(entry_op) - 1
        else:
            unknown_order.append(i)
            available[i] = len(entry_op)
    m = len(entry_op) - 1
    entry_op.append(-1)
    entry_is_return.append(False)
    nxt = [*range(1, m + 2), m + 1]
    prv = [0, *range(0, m + 1)]

    # Unknown list over op numbers, with sentinels n (head) and n + 1 (tail).
    u_head, u_tail = n, n + 1
    u_next = [u_tail] * (n + 2)
    u_prev = [u_head] * (n + 2)
    chain = [u_head, *unknown_order, u_tail]
    for left, right in itertools.pairwise(chain):
        u_next[left] = right
        u_prev[right] = left
    # same_before[u]: the previous unknown op (by invocation) with the same transition, or -1 (the symmetry rule).
    same_before = [-1] * n
    last_same: dict[tuple[int, Hashable, Hashable], int] = {}
    for u in unknown_order:
        signature = (kinds[u], arg_a[u], arg_b[u])
        same_before[u] = last_same.get(signature, -1)
        last_same[signature] = u
    # Unknown writes by value and unknown cas by expected value, each in invocation order: the unknown candidates at
    # a point are looked up by what the open operations could observe, not found by scanning every timeout.
    writes_of: dict[Hashable, list[int]] = {}
    maybe_from: dict[Hashable, list[int]] = {}
    for u in unknown_order:
        (writes_of if kinds[u] == WRITE else maybe_from).setdefault(arg_a[u], []).append(u)
    # Values an unknown write could hand on to an unknown cas (a chain): those both written and expected by timeouts.
    chain_values = {value for value in maybe_from if value in writes_of}
    is_placed = bytearray(n)

    remaining = sum(known)
    state = initial
    linearized = 0
    # after_unknown: the last placed operation is an unknown one (its frame is on top of the stack), so the rules
    # about what may follow it apply.
    after_unknown = False
    # Stack frames: (op, register value before it, after_unknown before it, and for an unknown op the limiting return
    # entry, the unknown candidates computed there and the op's position among them).
    stack: list[tuple[int, Hashable, bool, int, list[int], int]] = []
    no_candidates: list[int] = []
    # Memo: (linearized, value) after a known operation; (linearized, value, op, value before op) after an unknown.
    seen: set[tuple[Hashable, ...]] = set()
    best = SearchOutcome("not linearizable", state=initial)
    best_depth = -1

    in_unknown_phase = False
    entry = nxt[0]
    candidates = no_candidates
    position = 0
    limit = 0
    steps = 0
    while True:
        if remaining == 0:
            return SearchOutcome("linearizable", [frame[0] for frame in stack], state, steps=steps)
        steps += 1
        if deadline is not None and steps % _CLOCK_EVERY == 0 and time.monotonic() > deadline:
            best.verdict = "timeout"
            best.steps = steps
            return best
        if not in_unknown_phase:
            if entry_is_return[entry]:
                # Every known candidate before this return has been tried: try the unknown ones.
                limit = entry
                in_unknown_phase = True
                candidates = _unknown_candidates(
                    state,
                    after_unknown,
                    limit,
                    nxt,
                    entry_op,
                    kinds,
                    arg_a,
                    arg_b,
                    available,
                    is_placed,
                    same_before,
                    writes_of,
                    maybe_from,
                    chain_values,
                    u_next,
                    u_head,
                    u_tail,
                )
                position = 0
                continue
            i = entry_op[entry]
            kind = kinds[i]
            new = step(state, kind, arg_a[i], arg_b[i])
            if new is not INVALID and after_unknown:
                if kind == WRITE:
                    new = INVALID
                else:
                    u, before_u = stack[-1][0], stack[-1][1]
                    first = step(before_u, kind, arg_a[i], arg_b[i])
                    if first is not INVALID and step(first, kinds[u], arg_a[u], arg_b[u]) == new:
                        new = INVALID  # x commutes with u: u need not be here
            if new is not INVALID:
                placed = linearized | (1 << i)
                memo: tuple[Hashable, ...] = (placed, new)
                if memo not in seen:
                    seen.add(memo)
                    stack.append((i, state, after_unknown, 0, no_candidates, 0))
                    after_unknown = False
                    state = new
                    linearized = placed
                    remaining -= 1
                    c, r = entry, return_entry[i]
                    nxt[prv[c]] = nxt[c]
                    prv[nxt[c]] = prv[c]
                    nxt[prv[r]] = nxt[r]
                    prv[nxt[r]] = prv[r]
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        while position < len(candidates):
            u = candidates[position]
            new = step(state, kinds[u], arg_a[u], arg_b[u])
            placed = linearized | (1 << u)
            memo = (placed, new, u, state)
            if memo not in seen:
                break
            position += 1
        if position < len(candidates):
            seen.add(memo)
            stack.append((u, state, after_unknown, limit, candidates, position))
            after_unknown = True
            state = new
            linearized = placed
            is_placed[u] = 1
            u_next[u_prev[u]] = u_next[u]
            u_prev[u_next[u]] = u_prev[u]
            in_unknown_phase = False
            entry = nxt[0]
            continue
        # No candidate is left before return entry `limit`: the prefix on the stack cannot be extended. Backtrack.
        if len(stack) > best_depth:
            best_depth = len(stack)
            blocked = entry_op[limit]
            best = SearchOutcome(
                "not linearizable",
                [frame[0] for frame in stack],
                state,
                blocked,
                _open_ops(nxt, entry_op, entry_is_return, u_next, u_head, u_tail, available, limit, blocked),
            )
        if not stack:
            best.steps = steps
            return best
        i, state, after_unknown, limit, candidates, position = stack.pop()
        linearized ^= 1 << i
        if known[i]:
            remaining += 1
            c, r = call_entry[i], return_entry[i]
            nxt[prv[r]] = r
            prv[nxt[r]] = r
            nxt[prv[c]] = c
            prv[nxt[c]] = c
            in_unknown_phase = False
            entry = nxt[c]
        else:
            u_next[u_prev[i]] = i
            u_prev[u_next[i]] = i
            is_placed[i] = 0
            in_unknown_phase = True
            position += 1


def _open_ops(
    nxt: list[int],
    entry_op: list[int],
    entry_is_return: list[bool],
    u_next: list[int],
    u_head: int,
    u_tail: int,
    available: list[int],
    limit: int,
    blocked: int,
) -> list[int]:
    """The unplaced operations invoked before return entry `limit` (the ones that could have gone next)."""
    found: list[int] = []
    entry = nxt[0]
    while entry != limit:
        if not entry_is_return[entry] and entry_op[entry] != blocked:
            found.append(entry_op[entry])
        entry = nxt[entry]
    u = u_next[u_head]
    while u != u_tail and available[u] <= limit:
        found.append(u)
        u = u_next[u]
    return found


def _unknown_candidates(
    state: Hashable,
    after_unknown: bool,
    limit: int,
    nxt: list[int],
    entry_op: list[int],
    kinds: list[int],
    arg_a: list[Hashable],
    arg_b: list[Hashable],
    available: list[int],
    is_placed: bytearray,
    same_before: list[int],
    writes_of: dict[Hashable, list[int]],
    maybe_from: dict[Hashable, list[int]],
    chain_values: set[Hashable],
    u_next: list[int],
    u_head: int,
    u_tail: int,
) -> list[int]:
    """The unknown ops worth placing before return entry `limit`, given the rules in the module docstring.

    An unknown cas is a candidate only when it would swap (its expected value is `state`). An unknown write of v is
    one only when the next operation could observe it: an open read of v or cas expecting v (known, or an unknown cas,
    for a chain), or an open known cas refused because the value is `state` (any v != state lets that one go).
    """
    found: list[int] = []

    for u in maybe_from.get(state, ()):
        if available[u] <= limit and arg_b[u] != state and not is_placed[u]:
            before = same_before[u]
            if before < 0 or is_placed[before]:
                found.append(u)
    if after_unknown:
        return found
    observed = set(chain_values)
    any_value = False
    entry = nxt[0]
    while entry != limit:
        i = entry_op[entry]
        kind = kinds[i]
        if kind in (READ, CAS_SWAPPED):
            observed.add(arg_a[i])
        elif kind == CAS_REFUSED and arg_a[i] == state:
            any_value = True
        entry = nxt[entry]
    if any_value:
        u = u_next[u_head]
        while u != u_tail and available[u] <= limit:
            if kinds[u] == WRITE and arg_a[u] != state and (same_before[u] < 0 or is_placed[same_before[u]]):
                found.append(u)
            u = u_next[u]
        return found
    for value in observed:
        if value == state:
            continue
        for u in writes_of.get(value, ()):
            if available[u] > limit:
                break
            if not is_placed[u]:
                found.append(u)
                break
    return found
