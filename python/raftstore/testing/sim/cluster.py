"""The seeded simulation: N Raft cores, a simulated network and disks, faults, and a key-value client workload.

Everything random comes from one `random.Random(seed)`, time is a tick counter, and nothing depends on dict or
set iteration of unordered data, so a seed replays exactly. After every step (a message delivered or a tick) the
server's Ready is handled as a real runner would (persist, "sync", send, apply) and `Invariants` are checked;
at the end the network heals, crashed servers restart, the cluster settles, and the client history is checked
for linearizability.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raftstore.logstore.log import LogType
from raftstore.raft.config import Config
from raftstore.raft.configuration import Configuration, Server, Suffrage
from raftstore.raft.core import RaftCore, bootstrap_state
from raftstore.raft.core_base import Role
from raftstore.raft.errors import RaftError
from raftstore.raft.messages import InstallSnapshotRequest, Message
from raftstore.testing.history import Operation, OpName
from raftstore.testing.linearizability import check_kv
from raftstore.testing.sim.disk import SimDisk
from raftstore.testing.sim.invariants import Invariants, InvariantViolation

KEYS = ("a", "b", "c")


def sim_config(server_id: str, rng: random.Random) -> Config:
    """Short timeouts in 1 ms ticks: heartbeats every 2 ticks, elections after 20-40 ticks without a leader."""
    return Config(
        local_id=server_id,
        tick_interval=0.001,
        heartbeat_timeout=0.02,
        election_timeout=0.02,
        leader_lease_timeout=0.01,
        commit_timeout=0.001,
        max_append_entries=rng.choice((1, 4, 16)),
        trailing_logs=rng.choice((0, 4, 32)),
        snapshot_threshold=rng.choice((8, 24, 1000)),
        max_inflight_appends=rng.choice((1, 2, 4)),
    )


@dataclass
class Faults:
    """One seed's fault profile (probabilities per message or per tick)."""

    drop: float = 0.0
    duplicate: float = 0.0
    max_delay: int = 1
    partition: float = 0.0
    crash: float = 0.0
    membership: float = 0.0
    transfer: float = 0.0
    leader_churn: float = 0.0
    """Chance that a newly elected leader crashes a few ticks later (the schedule of Raft's Figure 8)."""

    @classmethod
    def random(cls, rng: random.Random) -> Faults:
        return cls(
            drop=rng.choice((0.0, 0.02, 0.1)),
            duplicate=rng.choice((0.0, 0.02, 0.05)),
            max_delay=rng.choice((1, 3, 8)),
            partition=rng.choice((0.0, 0.01, 0.03)),
            crash=rng.choice((0.0, 0.005, 0.015)),
            membership=rng.choice((0.0, 0.01, 0.03)),
            transfer=rng.choice((0.0, 0.005, 0.02)),
            leader_churn=rng.choice((0.0, 0.0, 0.3, 0.7)),
        )


@dataclass
class PendingOp:
    client: int
    op: OpName
    key: str
    input: Any
    invoke: float
    deadline: int
    server: str = ""
    term: int = 0
    index: int = 0


@dataclass
class SimNode:
    id: str
    disk: SimDisk
    core: RaftCore | None = None
    fsm: dict[str, Any] = field(default_factory=dict)
    applied: int = 0
    writes: dict[int, PendingOp] = field(default_factory=dict)
    reads: list[tuple[int, PendingOp]] = field(default_factory=list)
    crash_in_ready: bool = False
    was_leader_term: int = 0


@dataclass
class SimResult:
    seed: int
    ok: bool
    error: str = ""
    trace: list[str] = field(default_factory=list)
    history: list[Operation] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


class Simulation:
    def __init__(
        self,
        seed: int,
        servers: int = 3,
        ops: int = 40,
        trace: bool = False,
        core_factory: Callable[..., RaftCore] = RaftCore,
        faults: Faults | None = None,
        check_history: bool = True,
        config_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.ids = [f"s{i}" for i in range(1, servers + 1)]
        self.ops_total = ops
        self.tracing = trace
        self.trace: list[str] = []
        self.core_factory = core_factory
        self.faults = faults if faults is not None else Faults.random(self.rng)
        self.check_history = check_history
        self.config_overrides = config_overrides or {}
        self.configs = {sid: sim_config(sid, self.rng).replace(**self.config_overrides) for sid in self.ids}
        self.now = 0
        self.stamp = 0.0
        self.inbox: dict[int, list[Message]] = {}
        self.group: dict[str, int] = dict.fromkeys(self.ids, 0)
        self.heal_at = -1
        self.down: dict[str, int] = {}
        self.doomed: dict[str, int] = {}
        self.confirmed_reads: list[tuple[Any, int]] = []
        self.dropped_reads: list[Any] = []
        self.inv = Invariants()
        self.history: list[Operation] = []
        self.clients: dict[int, PendingOp | None] = dict.fromkeys(range(1, 4))
        self.issued = 0
        self.faulty = True
        boot = bootstrap_state(Configuration(tuple(Server(sid, sid, Suffrage.VOTER) for sid in self.ids)))
        self.nodes = {sid: SimNode(sid, SimDisk(boot)) for sid in self.ids}
        for node in self.nodes.values():
            self._start(node)

    # --------------------------------------------------------------------------------------------- plumbing
    def log(self, text: str) -> None:
        if self.tracing:
            self.trace.append(f"{self.now:5d} {text}")

    def _tick_stamp(self) -> float:
        self.stamp += 1.0
        return self.stamp

    def _start(self, node: SimNode) -> None:
        node.core = self.core_factory(self.configs[node.id], node.disk.boot(), seed=self.rng.getrandbits(32))
        node.fsm = dict(node.disk.snapshot_data)
        node.applied = node.disk.snapshot.index if node.disk.snapshot else 0
        node.writes.clear()
        node.reads.clear()
        node.crash_in_ready = False
        self._process(node)

    def _crash(self, node: SimNode) -> None:
        node.core = None
        for op in list(node.writes.values()) + [op for _, op in node.reads]:
            self._finish(op, "unknown", None)
        node.writes.clear()
        node.reads.clear()
        self.down[node.id] = self.now + self.rng.randint(5, 80)
        self.log(f"{node.id} crashed")

    def send(self, message: Message) -> None:
        faults, rng = self.faults, self.rng
        if self.faulty and faults.drop and rng.random() < faults.drop:
            return
        copies = 2 if self.faulty and faults.duplicate and rng.random() < faults.duplicate else 1
        for _ in range(copies):
            delay = rng.randint(1, faults.max_delay) if self.faulty else 1
            self.inbox.setdefault(self.now + delay, []).append(message)

    # --------------------------------------------------------------------------------------------- the runner
    def _process(self, node: SimNode) -> None:
        """Handle the node's Ready as a runner does: persist, sync, send, apply; check invariants meanwhile."""
        core = node.core
        assert core is not None
        if not core.has_ready():
            self.inv.on_role(core)
            return
        ready = core.ready()
        disk = node.disk
        ops = SimDisk.ops(ready)
        if node.crash_in_ready and ops:
            for op in ops[: self.rng.randrange(len(ops))]:
                disk.apply(op)
            self._crash(node)
            return
        inv = self.inv
        if ready.truncate_from is not None:
            inv.on_truncate(node.id, disk, ready.truncate_from, ready.snapshot.index if ready.snapshot else 0)
        if ready.snapshot is not None:
            inv.on_snapshot(node.id, ready.snapshot.index, ready.snapshot.term)
            node.fsm = dict(ready.snapshot_data)
            node.applied = ready.snapshot.index
        for op in ops:
            disk.apply(op)
        if ready.entries:
            inv.on_entries(core, ready.entries)
        inv.on_role(core)
        if core.role is Role.LEADER and node.was_leader_term != core.term:
            node.was_leader_term = core.term
            self.log(f"{node.id} leads term {core.term}")
            inv.on_new_leader(core)
            if self.faulty and self.faults.leader_churn and self.rng.random() < self.faults.leader_churn:
                if self.rng.random() < 0.5:
                    self.doomed[node.id] = self.now + self.rng.randint(1, 8)
                else:  # cut off before its first AppendEntries arrive
                    self.group[node.id] = 2
                    self.heal_at = max(self.heal_at, self.now + self.rng.randint(10, 60))
                    self.log(f"{node.id} isolated")
        if ready.hard_state is not None:
            inv.on_commit(core, ready.hard_state.commit)
            if core.role is Role.LEADER:
                inv.on_leader_commit(core, {sid: n.disk for sid, n in self.nodes.items()})
        for message in ready.messages:
            if type(message) is InstallSnapshotRequest:
                message.data = disk.snapshot_data
            self.send(message)
        for entry in ready.committed:
            inv.on_apply(node.id, entry)
            node.applied = entry.index
            result = None
            if entry.type == LogType.COMMAND:
                result = self._apply_command(node.fsm, entry.data)
            pending = node.writes.pop(entry.index, None)
            if pending is not None:
                self._finish(pending, "ok" if pending.term == entry.term else "fail", result)
        for state in ready.read_states:
            if isinstance(state.context, PendingOp):
                node.reads.append((state.index, state.context))
            else:  # a read a scenario test asked the core for directly
                self.confirmed_reads.append((state.context, state.index))
        for context in ready.dropped_reads:
            if isinstance(context, PendingOp):
                self._finish(context, "fail", None)
            else:
                self.dropped_reads.append(context)
        if node.reads:
            waiting = []
            for index, reader in node.reads:
                if index <= node.applied:
                    self._finish(reader, "ok", node.fsm.get(reader.key))
                else:
                    waiting.append((index, reader))
            node.reads = waiting
        threshold = core.config.snapshot_threshold
        if node.applied - core.log.snap_index >= threshold and node.applied > core.log.snap_index:
            meta = core.snapshot_taken(node.applied)
            disk.save_snapshot(meta, node.fsm)
            self.log(f"{node.id} snapshot at {meta.index}")
            self._process(node)

    @staticmethod
    def _apply_command(fsm: dict[str, Any], data: bytes) -> Any:
        op, key, value = json.loads(data)
        if op == "put":
            fsm[key] = value
            return None
        if op == "delete":
            fsm.pop(key, None)
            return None
        expected, new = value
        if fsm.get(key) == expected:
            fsm[key] = new
            return True
        return False

    # --------------------------------------------------------------------------------------------- clients
    def _finish(self, op: PendingOp, status: str, output: Any) -> None:
        client = self.clients.get(op.client)
        if client is not op:
            return  # already given up on (recorded as unknown)
        self.clients[op.client] = None
        if status == "unknown":
            record = Operation(op.client, op.op, op.key, op.input, None, op.invoke, None, "unknown")
        else:
            record = Operation(
                op.client,
                op.op,
                op.key,
                op.input,
                output,
                op.invoke,
                self._tick_stamp(),
                status,  # type: ignore[arg-type]
            )
        self.history.append(record)
        self.log(f"client {op.client} {op.op} {op.key} {op.input!r} -> {status} {output!r}")

    def _issue(self, client: int) -> None:
        rng = self.rng
        leaders = [n for sid in self.ids if (n := self.nodes[sid]).core is not None and n.core.role is Role.LEADER]
        if not leaders:
            return
        node = rng.choice(leaders)
        core = node.core
        assert core is not None
        kind: OpName = rng.choice(("get", "get", "put", "put", "cas", "delete"))
        key = rng.choice(KEYS)
        self.issued += 1
        value: Any = None
        if kind == "put":
            value = f"v{self.issued}"
        elif kind == "cas":
            value = (
                rng.choice((None, *[f"v{i}" for i in range(max(1, self.issued - 6), self.issued)])),
                f"v{self.issued}",
            )
        op = PendingOp(client, kind, key, value, self._tick_stamp(), self.now + 80, node.id)
        self.clients[client] = op
        self.log(f"client {client} -> {node.id}: {kind} {key} {value!r}")
        try:
            if kind == "get":
                index = core.lease_read() if rng.random() < 0.5 else None
                if index is not None:
                    node.reads.append((index, op))
                else:
                    core.read_index(op)
            else:
                data = json.dumps([kind, key, list(value) if kind == "cas" else value]).encode()
                op.index = core.propose(data)
                op.term = core.term
                node.writes[op.index] = op
        except RaftError:
            self._finish(op, "fail", None)
            return
        self._process(node)

    # --------------------------------------------------------------------------------------------- faults
    def _random_fault(self) -> None:
        rng, faults = self.rng, self.faults
        alive = [sid for sid in self.ids if self.nodes[sid].core is not None]
        if faults.partition and rng.random() < faults.partition and self.heal_at < 0:
            for sid in self.ids:
                self.group[sid] = rng.randrange(2)
            self.heal_at = self.now + rng.randint(10, 120)
            self.log(f"partition {sorted(self.group.items())}")
        if self.heal_at >= 0 and self.now >= self.heal_at:
            self.group = dict.fromkeys(self.ids, 0)
            self.heal_at = -1
            self.log("heal")
        if faults.crash and alive and rng.random() < faults.crash:
            victim = self.nodes[rng.choice(alive)]
            if rng.random() < 0.5:
                victim.crash_in_ready = True
                self.log(f"{victim.id} will crash mid-write")
            else:
                self._crash(victim)
        leaders = [n for sid in self.ids if (n := self.nodes[sid]).core is not None and n.core.role is Role.LEADER]
        if not leaders:
            return
        leader = rng.choice(leaders)
        core = leader.core
        assert core is not None
        try:
            if faults.membership and rng.random() < faults.membership:
                configuration = core.latest_configuration
                target = rng.choice(self.ids)
                member = configuration.get(target)
                voters = configuration.voters
                if member is None:
                    index = core.add_nonvoter(target, target) if rng.random() < 0.5 else core.add_voter(target, target)
                elif member.suffrage != Suffrage.VOTER:
                    index = core.add_voter(target, target) if rng.random() < 0.7 else core.remove_server(target)
                elif len(voters) > 1:
                    index = core.remove_server(target) if rng.random() < 0.5 else core.demote_voter(target)
                else:
                    return
                self.log(f"{leader.id} membership change at {index}: {target}")
            elif faults.transfer and rng.random() < faults.transfer:
                target = core.transfer_leadership(rng.choice((None, *self.ids)) if rng.random() < 0.5 else None)
                self.log(f"{leader.id} transfers leadership to {target}")
        except RaftError as error:
            self.log(f"{leader.id} refused: {error}")
        self._process(leader)

    # --------------------------------------------------------------------------------------------- main loop
    def step_tick(self) -> None:
        self.now += 1
        batch = self.inbox.pop(self.now, None)
        if batch:
            if self.faulty and len(batch) > 1:
                self.rng.shuffle(batch)
            for message in batch:
                node = self.nodes[message.target]
                if node.core is None or self.group[message.source] != self.group[message.target]:
                    continue
                if self.tracing:
                    self.log(f"{message.source}->{message.target} {message!r}")
                node.core.step(message)
                self._process(node)
        for sid in self.ids:
            node = self.nodes[sid]
            if node.core is not None and self.doomed.get(sid, -1) == self.now:
                self._crash(node)
            if node.core is not None:
                node.core.tick()
                self._process(node)
            elif self.now >= self.down[sid]:
                self.log(f"{sid} restarts")
                self._start(node)
        for client, op in self.clients.items():
            if op is not None and self.now >= op.deadline:
                self._finish(op, "unknown", None)
                for node in self.nodes.values():
                    node.writes = {i: o for i, o in node.writes.items() if o is not op}
                    node.reads = [(i, o) for i, o in node.reads if o is not op]
                self.clients[client] = None

    def run(self) -> SimResult:
        try:
            self._run()
        except (InvariantViolation, RaftError, AssertionError) as error:
            return SimResult(self.seed, False, f"{type(error).__name__}: {error}", self.trace, self.history)
        return SimResult(self.seed, True, "", self.trace, self.history, self.inv.summary())

    def _run(self) -> None:
        rng = self.rng
        while self.issued < self.ops_total and self.now < 60 * self.ops_total + 400:
            self.step_tick()
            self._random_fault()
            for client, op in self.clients.items():
                if op is None and self.issued < self.ops_total and rng.random() < 0.05:
                    self._issue(client)
        # Settle: no more faults, everyone up and connected, until every client has its answer and servers agree.
        self.faulty = False
        self.group = dict.fromkeys(self.ids, 0)
        for sid in self.ids:
            self.down[sid] = self.now
        for _ in range(3000):
            self.step_tick()
            if self._settled():
                break
        else:
            raise InvariantViolation(f"cluster did not settle: {self._describe()}")
        self._final_checks()

    def _settled(self) -> bool:
        if any(op is not None for op in self.clients.values()):
            return False
        cores = [n.core for n in self.nodes.values() if n.core is not None]
        if len(cores) != len(self.nodes):
            return False
        leaders = [c for c in cores if c.role is Role.LEADER]
        if len(leaders) != 1 or leaders[0].commit < leaders[0].term_start_index:
            return False
        leader = leaders[0]
        members = leader.latest_configuration.ids()
        return leader.latest_configuration_index <= leader.commit and all(
            self.nodes[m].applied == leader.commit for m in members
        )

    def _describe(self) -> str:
        return "; ".join(
            f"{sid}: {n.core.status()['state']} t{n.core.term} c{n.core.commit} a{n.applied}"
            if n.core
            else f"{sid}: down"
            for sid, n in self.nodes.items()
        )

    def _final_checks(self) -> None:
        leader = next(n for n in self.nodes.values() if n.core is not None and n.core.role is Role.LEADER)
        assert leader.core is not None
        for member in leader.core.latest_configuration.ids():
            if self.nodes[member].fsm != leader.fsm:
                raise InvariantViolation(f"state machine safety: {member}'s state differs from the leader's")
        if self.check_history and not check_kv(self.history):
            raise InvariantViolation("history is not linearizable")


def run_seed(seed: int, servers: int = 3, ops: int = 40, trace: bool = False, **options: Any) -> SimResult:
    """Run one seeded simulation and return its result (with a readable trace when asked)."""
    return Simulation(seed, servers, ops, trace, **options).run()


class Harness(Simulation):
    """A fault-free simulation driven by hand, for scenario tests: partitions, crashes and proposals on demand,
    with every invariant still checked after every step."""

    def __init__(self, servers: int = 3, seed: int = 0, **options: Any) -> None:
        options.setdefault("faults", Faults())
        options.setdefault("check_history", False)
        super().__init__(seed, servers, 0, **options)
        self.faulty = False

    def run_until(self, condition: Callable[[], bool], ticks: int = 2000) -> None:
        """Advance time until `condition()` holds; raise if it does not within `ticks`."""
        for _ in range(ticks):
            if condition():
                return
            self.step_tick()
        if not condition():
            raise AssertionError(f"condition not reached in {ticks} ticks: {self._describe()}")

    def run(self, ticks: int = 1) -> SimResult:
        for _ in range(ticks):
            self.step_tick()
        return SimResult(self.seed, True, "", self.trace, self.history, self.inv.summary())

    def core(self, server: str) -> RaftCore:
        core = self.nodes[server].core
        assert core is not None, f"{server} is down"
        return core

    def leader(self) -> str | None:
        leaders = [sid for sid in self.ids if (c := self.nodes[sid].core) is not None and c.role is Role.LEADER]
        return leaders[0] if len(leaders) == 1 else None

    def wait_leader(self, ticks: int = 2000, among: tuple[str, ...] | None = None) -> str:
        self.run_until(lambda: self.leader() is not None and (among is None or self.leader() in among), ticks)
        leader = self.leader()
        assert leader is not None
        return leader

    def partition(self, *groups: tuple[str, ...]) -> None:
        """Servers talk only within their group; servers not named form one more group."""
        self.group = dict.fromkeys(self.ids, len(groups))
        for number, members in enumerate(groups):
            for sid in members:
                self.group[sid] = number
        self.heal_at = 1 << 60

    def heal(self) -> None:
        self.group = dict.fromkeys(self.ids, 0)
        self.heal_at = -1

    def crash(self, server: str) -> None:
        self._crash(self.nodes[server])
        self.down[server] = 1 << 60

    def restart(self, server: str) -> None:
        self._start(self.nodes[server])

    def add_server(self, server: str) -> None:
        """A new, empty server (not in any configuration until a leader adds it)."""
        self.ids.append(server)
        self.group[server] = 0
        self.configs[server] = sim_config(server, self.rng).replace(**self.config_overrides)
        self.nodes[server] = SimNode(server, SimDisk())
        self._start(self.nodes[server])

    def propose(self, value: str, key: str = "k") -> int:
        """Propose a put through the current leader; returns its index."""
        leader = self.leader()
        assert leader is not None, "no leader"
        index = self.core(leader).propose(json.dumps(["put", key, value]).encode())
        self._process(self.nodes[leader])
        return index

    def applied_everywhere(self, index: int, servers: tuple[str, ...] | None = None) -> bool:
        return all(
            self.nodes[sid].core is not None and self.nodes[sid].applied >= index for sid in (servers or self.ids)
        )

    def act(self, server: str, action: Callable[[RaftCore], Any]) -> Any:
        """Call `action(core)` on a server and handle the resulting Ready."""
        result = action(self.core(server))
        self._process(self.nodes[server])
        return result
