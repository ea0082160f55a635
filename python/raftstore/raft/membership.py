"""Single-server membership changes (hashicorp/raft membership.md), effective when appended.

Invariants enforced here: the leader accepts a change only when the latest configuration is committed (one
uncommitted change at a time) and it has committed an entry of its own term (which closes the single-server
change bug described on raft-dev in 2015); a leader that is no longer a voter once its removal commits steps down.
"""

from __future__ import annotations

from raftstore.logstore.log import LogType
from raftstore.raft.configuration import ChangeKind, Configuration, ConfigurationChange
from raftstore.raft.core_base import CoreBase, Role
from raftstore.raft.errors import ConfigurationChangeError, NotLeaderError


class MembershipMixin(CoreBase):
    def change_configuration(self, change: ConfigurationChange) -> int:
        """Append the configuration `change` produces; returns its log index."""
        if self.role is not Role.LEADER:
            raise NotLeaderError(f"{self.id} is not the leader", self.leader)
        latest_index = self.latest_configuration_index
        if latest_index > self.commit:
            raise ConfigurationChangeError(f"configuration at index {latest_index} is not committed yet")
        if self.commit < self.term_start_index:
            raise ConfigurationChangeError("the leader has not committed an entry of its term yet")
        if change.prev_index and change.prev_index != latest_index:
            raise ConfigurationChangeError(
                f"configuration changed since {change.prev_index} (latest index {latest_index})"
            )
        configuration = change.apply(self.latest_configuration)
        index: int = self.propose(configuration.encode(), LogType.CONFIGURATION)
        return index

    def add_voter(self, server_id: str, address: str = "", prev_index: int = 0) -> int:
        return self.change_configuration(ConfigurationChange(ChangeKind.ADD_VOTER, server_id, address, prev_index))

    def add_nonvoter(self, server_id: str, address: str = "", prev_index: int = 0) -> int:
        return self.change_configuration(ConfigurationChange(ChangeKind.ADD_NONVOTER, server_id, address, prev_index))

    def demote_voter(self, server_id: str, prev_index: int = 0) -> int:
        return self.change_configuration(ConfigurationChange(ChangeKind.DEMOTE_VOTER, server_id, "", prev_index))

    def remove_server(self, server_id: str, prev_index: int = 0) -> int:
        return self.change_configuration(ConfigurationChange(ChangeKind.REMOVE_SERVER, server_id, "", prev_index))

    def get_configuration(self) -> tuple[int, Configuration]:
        """The latest (possibly uncommitted) configuration and its index, as hashicorp's GetConfiguration."""
        return self.configs[-1]

    def _step_down_if_removed(self) -> None:
        """Once the configuration that removed or demoted the leader commits, tell everyone and step down."""
        index, configuration = self.configs[-1]
        if index <= self.commit and not configuration.is_voter(self.id):
            for peer, pr in self.progress.items():
                self._send_append(peer, pr, True)
            self._become_follower(self.term, None)
            self.contact_elapsed = self.hb_ticks
