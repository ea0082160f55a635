"""Observations a node reports to registered observers (hashicorp/raft's observer.go, in Python naming).

Observers are called on the node's loop thread, in order, and must return quickly (hand work to another thread if
needed): a slow observer delays heartbeats. An observer that raises is logged and kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from raftstore.raft.configuration import Configuration
from raftstore.raft.core_base import Role

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LeaderObservation:
    """The known leader changed ("" when none is known)."""

    leader_id: str
    leader_address: str


@dataclass(frozen=True, slots=True)
class StateObservation:
    """This server's role changed."""

    role: Role


@dataclass(frozen=True, slots=True)
class ConfigurationObservation:
    """The latest configuration changed (a server was added, removed, promoted or demoted)."""

    index: int
    configuration: Configuration


Observation = LeaderObservation | StateObservation | ConfigurationObservation


@dataclass(eq=False)
class Observer:
    """A registration: `callback(observation)` for every observation `filter` accepts (all when None)."""

    callback: Callable[[Observation], None]
    filter: Callable[[Observation], bool] | None = None

    def notify(self, observation: Observation) -> None:
        if self.filter is not None and not self.filter(observation):
            return
        try:
            self.callback(observation)
        except Exception:
            log.exception("raft observer %r failed", self.callback)
