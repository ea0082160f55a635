"""Raft core units: Config defaults and validation, boot-state checks, membership arithmetic, single-server use."""

from __future__ import annotations

import pytest

from raftstore.logstore.log import Log, LogType
from raftstore.raft import (
    BootState,
    ChangeKind,
    Config,
    ConfigError,
    Configuration,
    ConfigurationChange,
    ConfigurationChangeError,
    CorruptStateError,
    HardState,
    LeadershipTransferError,
    NotLeaderError,
    RaftCore,
    RaftError,
    Role,
    Server,
    SnapshotError,
    Suffrage,
    bootstrap_state,
)
from raftstore.raft.messages import AppendEntriesRequest, RequestVoteRequest, SnapshotMeta

pytestmark = pytest.mark.pure_python


def test_config_defaults_mirror_hashicorp() -> None:
    config = Config(local_id="a").validate()
    assert (config.heartbeat_timeout, config.election_timeout, config.commit_timeout) == (1.0, 1.0, 0.05)
    assert (config.max_append_entries, config.trailing_logs, config.snapshot_threshold) == (64, 10240, 8192)
    assert (config.snapshot_interval, config.leader_lease_timeout, config.pre_vote_disabled) == (120.0, 0.5, False)
    assert config.protocol_version == 3 and config.shutdown_on_remove
    assert config.ticks(config.heartbeat_timeout) == 100


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"local_id": ""}, "local_id"),
        ({"protocol_version": 4}, "protocol_version"),
        ({"heartbeat_timeout": 0.001}, "heartbeat_timeout"),
        ({"election_timeout": 0.001}, "election_timeout"),
        ({"election_timeout": 0.5}, "election_timeout must be equal or greater"),
        ({"commit_timeout": 0.0001}, "commit_timeout"),
        ({"max_append_entries": 0}, "max_append_entries"),
        ({"max_append_entries": 1025}, "max_append_entries"),
        ({"leader_lease_timeout": 2.0}, "leader_lease_timeout cannot be larger"),
        ({"leader_lease_timeout": 0.001}, "leader_lease_timeout is too low"),
        ({"snapshot_interval": 0.0}, "snapshot_interval"),
        ({"tick_interval": 0.1}, "tick_interval"),
        ({"max_inflight_appends": 0}, "max_inflight_appends"),
        ({"trailing_logs": -1}, "trailing_logs"),
    ],
)
def test_config_validation(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config(local_id="a").replace(**changes)


def test_configuration_changes_and_encoding() -> None:
    config = Configuration((Server("a"), Server("b")))
    config = ConfigurationChange(ChangeKind.ADD_NONVOTER, "c", "addr-c").apply(config)
    assert config.voters == ("a", "b") and config.get("c") == Server("c", "addr-c", Suffrage.NONVOTER)
    config = ConfigurationChange(ChangeKind.ADD_VOTER, "c").apply(config)
    assert config.voters == ("a", "b", "c") and config.get("c").address == "addr-c"  # type: ignore[union-attr]
    assert ConfigurationChange(ChangeKind.ADD_NONVOTER, "c").apply(config).is_voter("c")
    config = ConfigurationChange(ChangeKind.DEMOTE_VOTER, "a").apply(config)
    config = ConfigurationChange(ChangeKind.REMOVE_SERVER, "b").apply(config)
    assert config.voters == ("c",)
    assert Configuration.decode(config.encode()) == config
    with pytest.raises(ConfigurationChangeError):
        ConfigurationChange(ChangeKind.REMOVE_SERVER, "c").apply(config)
    with pytest.raises(ConfigurationChangeError):
        Configuration((Server("a"), Server("a")))
    with pytest.raises(CorruptStateError):
        Configuration.decode(b"\xc1garbage")


def _config(server: str = "a") -> Config:
    return Config(
        local_id=server,
        tick_interval=0.001,
        heartbeat_timeout=0.02,
        election_timeout=0.02,
        leader_lease_timeout=0.01,
        commit_timeout=0.001,
    )


@pytest.mark.parametrize(
    ("boot", "message"),
    [
        (BootState(HardState(1), None, [Log(1, 1), Log(3, 1)]), "gap"),
        (BootState(HardState(2), None, [Log(1, 2), Log(2, 1)]), "term goes down"),
        (BootState(HardState(1, None, 5), None, [Log(1, 1)]), "commit index 5 beyond"),
        (
            BootState(HardState(1), SnapshotMeta(3, 1, Configuration((Server("a"),)), 1), [Log(5, 1)]),
            "after the snapshot",
        ),
    ],
)
def test_corrupt_boot_state_is_refused(boot: BootState, message: str) -> None:
    with pytest.raises(CorruptStateError, match=message):
        RaftCore(_config(), boot)


def test_torn_writes_are_repaired_on_boot() -> None:
    # Entries of term 3 reached the disk but the raised term did not: the term is raised, with no vote.
    core = RaftCore(_config(), BootState(HardState(2, "b", 1), None, [Log(1, 1), Log(2, 3)]))
    assert (core.term, core.vote) == (3, None)
    # A snapshot install replaced a log whose deletion did not reach the disk: the first Ready deletes it.
    meta = SnapshotMeta(10, 2, Configuration((Server("a"),)), 1)
    core = RaftCore(_config(), BootState(HardState(2, None, 10), meta, [Log(1, 1), Log(2, 1)]))
    ready = core.ready()
    assert core.log.last_index() == 10 and ready.truncate_from == 11 and ready.compact_to == 10


def test_single_server_elects_itself_commits_and_compacts() -> None:
    core = RaftCore(_config(), bootstrap_state(Configuration((Server("a"),))), seed=1)
    for _ in range(100):
        core.tick()
        if core.role is Role.LEADER:
            break
    assert core.role is Role.LEADER and core.term == 2
    ready = core.ready()
    assert ready.hard_state == HardState(2, "a", 2)
    assert [e.type for e in ready.entries] == [LogType.NOOP]
    assert [e.index for e in ready.committed] == [1, 2]
    first = core.propose(b"x")
    core.barrier()
    ready = core.ready()
    assert [e.index for e in ready.committed] == [first, first + 1] and ready.committed[1].type == LogType.BARRIER
    core.read_index("ctx")
    assert [(s.context, s.index) for s in core.ready().read_states] == [("ctx", first + 1)]
    assert core.lease_read() == first + 1
    with pytest.raises(SnapshotError):
        core.snapshot_taken(first + 5)
    meta = core.snapshot_taken(first + 1)
    assert meta.index == first + 1 and meta.configuration.voters == ("a",)
    assert core.ready().compact_to is None  # trailing_logs (10240) keeps the whole short log
    with pytest.raises(LeadershipTransferError):
        core.transfer_leadership()


def test_trailing_logs_are_kept_after_a_snapshot() -> None:
    config = _config().replace(trailing_logs=3)
    core = RaftCore(config, bootstrap_state(Configuration((Server("a"),))), seed=1)
    core.campaign()
    for i in range(10):
        core.propose(str(i).encode())
    core.ready()
    last = core.log.last_index()
    core.snapshot_taken(last)
    assert core.ready().compact_to == last - 3
    assert core.log.first_index() == last - 2 and core.log.term_at(last - 3) is None


def test_followers_refuse_proposals_and_stale_terms() -> None:
    boot = bootstrap_state(Configuration((Server("a"), Server("b"), Server("c"))))
    core = RaftCore(_config(), boot, seed=1)
    with pytest.raises(NotLeaderError):
        core.propose(b"x")
    with pytest.raises(NotLeaderError):
        core.read_index(1)
    # A vote request at a higher term right after boot is refused without changing term (leader stickiness).
    core.step(RequestVoteRequest("b", "a", 5, 1, 1))
    assert core.term == 1 and not core.ready().messages[0].granted  # type: ignore[union-attr]
    # An AppendEntries from an older term is answered with the current term so a stale leader steps down.
    core.step(AppendEntriesRequest("b", "a", 0, 0, 0, [], 0))
    reply = core.ready().messages[0]
    assert reply.term == 1 and not reply.success  # type: ignore[union-attr]


def test_messages_it_cannot_handle_raise_a_raft_error() -> None:
    core = RaftCore(_config(), bootstrap_state(Configuration((Server("a"), Server("b")))), seed=1)
    with pytest.raises(RaftError, match="cannot handle"):
        core.step(RequestVoteRequest("b", "c", 5, 1, 1))
    with pytest.raises(RaftError, match="cannot handle"):
        core.step("garbage")  # type: ignore[arg-type]
