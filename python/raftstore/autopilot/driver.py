"""The `Autopilot` driver: what a Raft runtime calls on its timers (update every 2 s, reconcile every 10 s).

It owns no thread, clock or socket: the runtime passes `now` (Unix nanoseconds) and provides two small
protocols, `RaftControl` (its Raft node) and `AutopilotDelegate` (the application: known servers, their stats,
failed-server removal). Everything it decides is computed by the pure functions in `state` and `plan`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from raftstore.autopilot.config import AutopilotConfig
from raftstore.autopilot.plan import (
    Action,
    Demote,
    Promote,
    RemoveFailed,
    RemoveStale,
    TransferLeadership,
    plan_dead_server_cleanup,
    plan_voting_changes,
)
from raftstore.autopilot.promoter import Promoter, StablePromoter
from raftstore.autopilot.state import StateInputs, compute_state
from raftstore.autopilot.types import NodeStatus, RaftServer, Server, ServerStats, State, Suffrage

DEFAULT_UPDATE_INTERVAL = 2.0
"""Seconds between state updates (raft-autopilot's and Consul's default)."""
DEFAULT_RECONCILE_INTERVAL = 10.0
"""Seconds between reconcile rounds (raft-autopilot's and Consul's default)."""

_log = logging.getLogger(__name__)


class RaftControl(Protocol):
    """The Raft node operations autopilot needs; each blocks until the change is committed or raises."""

    def get_configuration(self) -> Sequence[RaftServer]: ...

    def leader(self) -> str:
        """The leader's address, "" when none is known."""
        ...

    def is_leader(self) -> bool: ...

    def last_index(self) -> int: ...

    def last_term(self) -> int: ...

    def add_nonvoter(self, server_id: str, address: str) -> None: ...

    def add_voter(self, server_id: str, address: str) -> None: ...

    def demote_voter(self, server_id: str) -> None: ...

    def remove_server(self, server_id: str) -> None: ...

    def transfer_leadership(self, server_id: str, address: str) -> None: ...


class AutopilotDelegate(Protocol):
    """The application side (Consul: the server's serf view and its stats RPCs)."""

    def autopilot_config(self) -> AutopilotConfig | None: ...

    def known_servers(self) -> Mapping[str, Server]: ...

    def fetch_server_stats(self, servers: Mapping[str, Server]) -> Mapping[str, ServerStats]:
        """Stats of the given (non-left) servers; the runtime bounds how long this takes (half the update interval
        in raft-autopilot) and leaves out servers that did not answer."""
        ...

    def remove_failed_server(self, server: Server) -> None: ...

    def notify_state(self, state: State) -> None: ...


class AutopilotError(RuntimeError):
    """Autopilot cannot do what was asked (no configuration, no state, or a Raft change that failed)."""


@dataclasses.dataclass(frozen=True)
class ActionResult:
    action: Action
    error: Exception | None = None


class Autopilot:
    """Tracks server health and applies voting changes and dead-server cleanup, driven by the runtime's timers."""

    def __init__(self, raft: RaftControl, delegate: AutopilotDelegate, promoter: Promoter | None = None) -> None:
        self._raft = raft
        self._delegate = delegate
        self._promoter: Promoter = promoter if promoter is not None else StablePromoter()
        self._state: State | None = None
        self.reconciliation_enabled = True

    @property
    def state(self) -> State | None:
        """The latest computed state (None before the first `update`)."""
        return self._state

    def reset(self) -> None:
        """Forget the state, e.g. when this server loses leadership: the next leader term starts afresh, so the
        stabilization grace period applies again from its first update."""
        self._state = None

    def update(self, now: int) -> State:
        """Gather the inputs, compute the next state, keep it and hand it to the delegate."""
        config = self._delegate.autopilot_config()
        if config is None:
            raise AutopilotError("the delegate returned no autopilot configuration")
        raft_servers = list(self._raft.get_configuration())
        known = dict(self._delegate.known_servers())
        leader_id = next((server_id for server_id, server in known.items() if server.is_leader), "")
        if not leader_id:
            leader_address = self._raft.leader()
            leader_id = next((s.id for s in raft_servers if leader_address and s.address == leader_address), "")
        # Read the leader's index right before the stats so both describe about the same moment.
        latest_index = self._raft.last_index()
        last_term = self._raft.last_term()
        is_leader = self._raft.is_leader()
        alive = {server_id: server for server_id, server in known.items() if server.node_status is not NodeStatus.LEFT}
        stats = dict(self._delegate.fetch_server_stats(alive))
        state = compute_state(
            StateInputs(
                now=now,
                config=config,
                raft_servers=raft_servers,
                known_servers=known,
                fetched_stats=stats,
                leader_id=leader_id,
                is_leader=is_leader,
                latest_index=latest_index,
                last_term=last_term,
                current_state=self._state,
            )
        )
        self._state = state
        self._delegate.notify_state(state)
        return state

    def plan(self, now: int) -> list[Action]:
        """The actions `reconcile(now)` would take, without taking them."""
        config = self._delegate.autopilot_config()
        if config is None or self._state is None or not self.reconciliation_enabled or not self._raft.is_leader():
            return []
        removals = plan_dead_server_cleanup(
            config, list(self._raft.get_configuration()), self._delegate.known_servers(), self._promoter
        )
        removed = {action.id if isinstance(action, RemoveStale) else action.server.id for action in removals}
        # A server being removed this round needs no voting change first (e.g. demoting a failed voter).
        voting: list[Action] = [
            action
            for action in plan_voting_changes(config, self._state, self._promoter, now)
            if not (isinstance(action, (Promote, Demote)) and action.id in removed)
        ]
        return [*voting, *removals]

    def reconcile(self, now: int) -> list[ActionResult]:
        """One reconcile round on the leader: voting changes, then dead-server cleanup. A failing action is logged
        and reported; the actions after it still run (each was judged safe on its own against the round's start)."""
        results = []
        for action in self.plan(now):
            try:
                self._execute(action)
            except Exception as error:  # the runtime's Raft errors are not ours to know; report them all
                _log.warning("autopilot: %s failed: %s", action, error)
                results.append(ActionResult(action, error))
            else:
                _log.info("autopilot: %s", action)
                results.append(ActionResult(action))
        return results

    def _execute(self, action: Action) -> None:
        if isinstance(action, Promote):
            self._raft.add_voter(action.id, action.address)
        elif isinstance(action, Demote):
            self._raft.demote_voter(action.id)
        elif isinstance(action, TransferLeadership):
            self._raft.transfer_leadership(action.id, action.address)
        elif isinstance(action, RemoveStale):
            self._raft.remove_server(action.id)
        elif isinstance(action, RemoveFailed):
            self._delegate.remove_failed_server(action.server)
        else:  # pragma: no cover - the Action union is closed
            raise AutopilotError(f"unknown action {action!r}")

    def add_server(self, server: Server) -> None:
        """A server joined: add it as a non-voter (the promoter promotes it once stable). A different server at the
        same address is removed first (a rebuilt node that came back with a new ID); a server already in the
        configuration with the same address is left alone."""
        for existing in self._raft.get_configuration():
            if existing.id == server.id and existing.address == server.address:
                return
            if existing.address == server.address and existing.id != server.id:
                self._raft.remove_server(existing.id)
        self._raft.add_nonvoter(server.id, server.address)

    def remove_server(self, server_id: str) -> None:
        """A server left gracefully: take it out of the Raft configuration."""
        if any(existing.id == server_id for existing in self._raft.get_configuration()):
            self._raft.remove_server(server_id)

    def num_voters(self) -> int:
        return sum(1 for server in self._raft.get_configuration() if server.suffrage is Suffrage.VOTER)
