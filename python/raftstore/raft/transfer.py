"""Leadership transfer (thesis 3.10; hashicorp LeadershipTransfer): catch the target up, then TimeoutNow.

While a transfer is under way the leader refuses proposals; if it is still leader `election_timeout` later the
transfer is abandoned (`Ready.transfer_aborted`) and proposals resume.
"""

from __future__ import annotations

from raftstore.raft.core_base import CoreBase, Role
from raftstore.raft.errors import LeadershipTransferError, LeadershipTransferInProgressError, NotLeaderError
from raftstore.raft.messages import TimeoutNowRequest


class TransferMixin(CoreBase):
    def transfer_leadership(self, target: str | None = None) -> str:
        """Start handing leadership to `target` (or to the most up-to-date voter); returns the target."""
        if self.role is not Role.LEADER:
            raise NotLeaderError(f"{self.id} is not the leader", self.leader)
        if self.transfer_target is not None:
            raise LeadershipTransferInProgressError(f"already transferring to {self.transfer_target}")
        voters = [v for v in self.latest_configuration.voters if v != self.id]
        if target is None:
            if not voters:
                raise LeadershipTransferError("no other voter to transfer leadership to")
            target = max(voters, key=lambda v: self.progress[v].match if v in self.progress else -1)
        elif target == self.id:
            raise LeadershipTransferError("cannot transfer leadership to itself")
        elif target not in voters:
            raise LeadershipTransferError(f"{target} is not a voter of the latest configuration")
        self.transfer_target = target
        self.transfer_elapsed = 0
        self.timeout_now_sent = False
        pr = self.progress[target]
        if pr.match == self.log.last_index():
            self._maybe_send_timeout_now()
        else:
            self._send_append(target, pr, True)
        return target

    def _maybe_send_timeout_now(self) -> None:
        target = self.transfer_target
        if target is None or self.timeout_now_sent:
            return
        pr = self.progress.get(target)
        if pr is not None and pr.match == self.log.last_index():
            self.timeout_now_sent = True
            self.transfer_attempted = True
            self._send(TimeoutNowRequest(self.id, target, self.term))

    def _tick_transfer(self) -> None:
        if self.transfer_target is not None:
            self.transfer_elapsed += 1
            if self.transfer_elapsed >= self.election_ticks:
                self._abort_transfer()
