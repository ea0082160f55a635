"""The applier: one thread that feeds committed entries to the FSM in log order, and everything that must be
ordered with those applies (reads waiting for an index, FSM snapshots, restores).

Why a thread of its own: applying is CPU work that would otherwise stall the node's event loop (heartbeats,
replication) for as long as a batch takes; hashicorp/raft runs its FSM in a separate goroutine for the same reason.
Why one queue for every kind of job: order is the invariant. A read released at index N is queued after the entries
up to N, so it resolves only once they are applied; a snapshot taken between two apply jobs covers exactly the
entries before it. Consecutive apply jobs waiting in the queue are merged into one `apply_batch` call, so a busy
node applies in large batches without any extra latency when it is idle.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

from raftstore.logstore.log import Log
from raftstore.raft.errors import RaftShutdownError
from raftstore.raft.node.fsm import FSM, FSMSnapshot
from raftstore.raft.node.futures import RaftFuture

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Apply:
    entries: list[Log]
    futures: list[RaftFuture | None]


@dataclass(slots=True)
class _Call:
    fn: Callable[[], None]


class ApplierFailedError(RuntimeError):
    """The FSM raised while applying: continuing could diverge from the other servers, so applying stopped."""


class Applier:
    """See the module docstring. `applied_index`/`applied_term` are those of the last entry the FSM has applied
    (or of the snapshot it was restored from); they are written by the applier thread only."""

    def __init__(self, fsm: FSM, on_fatal: Callable[[BaseException], None], name: str = "raft-applier") -> None:
        self.fsm = fsm
        self.applied_index = 0
        self.applied_term = 0
        self.failure: BaseException | None = None
        self._on_fatal = on_fatal
        self._jobs: deque[_Apply | _Call | None] = deque()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------------------------------------- submitting
    def apply(self, entries: list[Log], futures: list[RaftFuture | None]) -> None:
        self._put(_Apply(entries, futures))

    def call(self, fn: Callable[[], None]) -> None:
        """Run `fn` on the applier thread after everything queued so far."""
        self._put(_Call(fn))

    def resolve_at(self, future: RaftFuture, value: Any = None) -> None:
        """Resolve `future` once everything queued so far has been applied."""

        def run() -> None:
            if self.failure is not None:
                future.fail(RaftShutdownError("the FSM failed earlier; this node no longer applies"))
            else:
                future.resolve(value)

        self._put(_Call(run))

    def snapshot(self, done: Callable[[FSMSnapshot | None, int, int, BaseException | None], None]) -> None:
        """Take an FSM snapshot between applies; `done(snapshot, index, term, error)` runs on the applier thread."""

        def take() -> None:
            try:
                snap = self.fsm.snapshot()
            except Exception as error:  # the FSM's own failure, reported to whoever asked
                done(None, self.applied_index, self.applied_term, error)
                return
            done(snap, self.applied_index, self.applied_term, None)

        self._put(_Call(take))

    def restore(self, open_reader: Callable[[], BinaryIO], index: int, term: int, future: RaftFuture | None) -> None:
        """Replace the FSM's state from a stored snapshot at (index, term), in order with the applies."""

        def run() -> None:
            if self.failure is not None:
                if future is not None:
                    future.fail(RaftShutdownError("the FSM failed earlier; this node no longer applies"))
                return
            try:
                with open_reader() as reader:
                    self.fsm.restore(reader)
            except Exception as error:
                # A snapshot that cannot be restored leaves the FSM behind the log: stop rather than diverge.
                self._fail(error)
                if future is not None:
                    future.fail(error)
                return
            self.applied_index, self.applied_term = index, term
            if future is not None:
                future.resolve(None)

        self._put(_Call(run))

    def close(self, timeout: float = 30.0) -> None:
        """Finish what is queued, then stop the thread."""
        self._put(None)
        self._thread.join(timeout)

    def _put(self, job: _Apply | _Call | None) -> None:
        with self._cond:
            self._jobs.append(job)
            self._cond.notify()

    # ---------------------------------------------------------------------------------------------- the thread
    def _run(self) -> None:
        jobs, cond = self._jobs, self._cond
        while True:
            with cond:
                while not jobs:
                    cond.wait()
                job = jobs.popleft()
                if isinstance(job, _Apply) and jobs and isinstance(jobs[0], _Apply):
                    entries, futures = list(job.entries), list(job.futures)
                    while jobs and isinstance(jobs[0], _Apply):
                        more = jobs.popleft()
                        assert isinstance(more, _Apply)
                        entries.extend(more.entries)
                        futures.extend(more.futures)
                    job = _Apply(entries, futures)
            if job is None:
                return
            if isinstance(job, _Call):  # calls run even after a failure: each reports it to its own future
                try:
                    job.fn()
                except Exception:  # a bug in a callback must not kill the applier
                    log.exception("applier callback failed")
                continue
            if self.failure is not None:
                self._refuse(job)
            else:
                self._apply(job.entries, job.futures)

    def _apply(self, entries: Sequence[Log], futures: list[RaftFuture | None]) -> None:
        try:
            responses = self.fsm.apply_batch(entries)
        except Exception as error:
            self._fail(error)
            for future in futures:
                if future is not None:
                    future.fail(ApplierFailedError(f"the FSM failed: {error}"))
            return
        last = entries[-1]
        self.applied_index, self.applied_term = last.index, last.term
        for future, response in zip(futures, responses, strict=True):
            if future is not None:
                future.resolve(response)

    def _fail(self, error: BaseException) -> None:
        log.critical("FSM failed at index %d, applying stops: %s", self.applied_index + 1, error)
        self.failure = error
        self._on_fatal(error)

    def _refuse(self, job: _Apply) -> None:
        for future in job.futures:
            if future is not None:
                future.fail(RaftShutdownError("the FSM failed earlier; this node no longer applies"))
