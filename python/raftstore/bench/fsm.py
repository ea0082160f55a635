"""The FSM layer's benchmark material, shared by `raftstore bench` and benchmarks/bench_fsm.py (pytest-benchmark):
the committed entries applied (Consul KVS `set` commands, a catalog register/flip/deregister mix), the peer (an
rqlite-style FSM over sqlite3) and the `raftstore bench` workloads, so both harnesses time exactly the same code.

Every engine is driven through hashicorp/raft's FSM protocol as raftstore's node drives it (`apply_batch` of
committed entries, `snapshot().persist(sink)` then `release()`, `restore(reader)`), so a user's own FSM plugs in as
it would plug into `raftstore.raft`.

The peer applies the same commands (one type byte + old-spec msgpack) by upserting rows into an in-memory sqlite3
database, one SQL transaction per batch. It implements `set` with Consul's index rules (CreateIndex kept on update,
ModifyIndex = the Raft index) and the `kvs` index-table row, so both engines do the same logical work per command;
its snapshot is sqlite's own `serialize()` (as rqlite snapshots its database file) and restore is `deserialize()`.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import msgpack

from raftstore.bench.harness import BackendSpec, Context, Workload
from raftstore.fsm import FSM, MessageType, encode
from raftstore.logstore.log import Log

BATCH = 64  # entries per apply_batch (a Raft applier hands the FSM what committed together)
KEY_PREFIX = "bench/"
VALUE = b"v" * 32

# ------------------------------------------------------------------------------------------------- the sqlite3 peer

_UPSERT = (
    "INSERT INTO kvs(key, value, flags, create_index, modify_index) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, flags = excluded.flags, "
    "modify_index = excluded.modify_index "
    "WHERE kvs.value IS NOT excluded.value OR kvs.flags IS NOT excluded.flags"
)


class _SqliteSnapshot:
    def __init__(self, image: bytes) -> None:
        self._image = image

    def persist(self, sink: BinaryIO) -> None:
        sink.write(self._image)

    def release(self) -> None:
        self._image = b""


class SqliteFSM:
    """An rqlite-style FSM: KVS `set` commands upserted into sqlite3 in memory (see the module docstring)."""

    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self.db.execute(
            "CREATE TABLE kvs(key TEXT PRIMARY KEY, value BLOB, flags INTEGER, create_index INTEGER, "
            "modify_index INTEGER) WITHOUT ROWID"
        )
        self.db.execute("CREATE TABLE idx(key TEXT PRIMARY KEY, value INTEGER) WITHOUT ROWID")

    def apply_batch(self, logs: Iterable[Log]) -> list[Any]:
        rows = []
        last = 0
        for log in logs:
            data = log.data
            if data[0] != MessageType.KVS:
                raise ValueError(f"the sqlite peer applies KVS commands only, got type {data[0]}")
            req = msgpack.unpackb(memoryview(data)[1:], raw=False, unicode_errors="surrogateescape")
            if req["Op"] != "set":
                raise ValueError(f"the sqlite peer applies 'set' only, got {req['Op']!r}")
            ent = req["DirEnt"]
            value = ent.get("Value") or ""
            rows.append(
                (ent["Key"], value.encode("utf-8", "surrogateescape"), ent.get("Flags", 0), log.index, log.index)
            )
            last = log.index
        cur = self.db.cursor()
        cur.execute("BEGIN")
        cur.executemany(_UPSERT, rows)
        cur.execute("INSERT OR REPLACE INTO idx(key, value) VALUES ('kvs', ?)", (last,))
        cur.execute("COMMIT")
        return [None] * len(rows)

    def count(self) -> int:
        n: int = self.db.execute("SELECT count(*) FROM kvs").fetchone()[0]
        return n

    def snapshot(self) -> _SqliteSnapshot:
        """The database image, taken at once (sqlite's serialize(); the FSM protocol's point-in-time view)."""
        return _SqliteSnapshot(self.db.serialize())

    def restore(self, reader: BinaryIO) -> None:
        self.db.deserialize(reader.read())


# ------------------------------------------------------------------------------------------------- entries


def kv_set_batches(n: int) -> list[list[Log]]:
    """N KVS `set` commands (32-byte values, distinct keys in order) in batches of BATCH."""
    logs = [
        Log(
            i + 1,
            1,
            data=encode(MessageType.KVS, {"Op": "set", "DirEnt": {"Key": f"{KEY_PREFIX}{i:09d}", "Value": VALUE}}),
        )
        for i in range(n)
    ]
    return [logs[i : i + BATCH] for i in range(0, n, BATCH)]


def catalog_batches(rounds: int) -> list[list[Log]]:
    """Per round: register a node with a service and two checks, flip the service check, and deregister every
    4th node; in batches of BATCH. Leaves rounds - ceil(rounds / 4) nodes."""
    out: list[Log] = []

    def add(kind: MessageType, body: dict[str, Any]) -> None:
        out.append(Log(len(out) + 1, 1, data=encode(kind, body)))

    for i in range(rounds):
        node = f"node-{i:07d}"
        add(
            MessageType.REGISTER,
            {
                "Node": node,
                "Address": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                "Service": {"ID": f"web-{i}", "Service": f"web-{i % 100}", "Tags": ["v1"], "Port": 8080},
                "Checks": [
                    {"CheckID": "serfHealth", "Status": "passing"},
                    {"CheckID": f"web-{i}-alive", "ServiceID": f"web-{i}", "Status": "passing"},
                ],
            },
        )
        add(MessageType.REGISTER, {"Node": node, "Check": {"CheckID": f"web-{i}-alive", "ServiceID": f"web-{i}"}})
        if i % 4 == 0:
            add(MessageType.DEREGISTER, {"Node": node})
    return [out[i : i + BATCH] for i in range(0, len(out), BATCH)]


def catalog_nodes_left(rounds: int) -> int:
    return rounds - (rounds + 3) // 4


def apply_all(fsm: Any, batches: Sequence[Sequence[Log]]) -> Any:
    for batch in batches:
        fsm.apply_batch(batch)
    return fsm


def persist(fsm: Any) -> bytes:
    """A snapshot of the FSM as the node takes one: snapshot(), persist into a sink, release()."""
    sink = io.BytesIO()
    snap = fsm.snapshot()
    try:
        snap.persist(sink)
    finally:
        snap.release()
    return sink.getvalue()


def restore(make: Callable[[], Any], image: bytes) -> Any:
    fsm = make()
    fsm.restore(io.BytesIO(image))
    return fsm


def kv_count(fsm: Any) -> int | None:
    """Keys under KEY_PREFIX, or None for an FSM that cannot say (a plugin that is not a raftstore FSM)."""
    if isinstance(fsm, SqliteFSM):
        return fsm.count()
    state = getattr(fsm, "state", None)
    if state is None or not hasattr(state, "kvs_list"):
        return None
    return len(state.kvs_list(KEY_PREFIX)[1])


def catalog_node_count(fsm: Any) -> int | None:
    state = getattr(fsm, "state", None)
    if state is None or not hasattr(state, "nodes"):
        return None
    return len(state.nodes()[1])


# ------------------------------------------------------------------------------------------------- `raftstore bench`

QUICK_N = 20_000
FULL_N = 200_000
RAFTSTORE = "raftstore FSM"
PEER = "sqlite3 (rqlite-style)"


@dataclass
class Dataset:
    n: int
    kv: list[list[Log]]
    catalog_rounds: int
    catalog: list[list[Log]]

    @property
    def catalog_commands(self) -> int:
        return sum(len(batch) for batch in self.catalog)


def make_dataset(n: int) -> Dataset:
    rounds = max(n // 10, 100)
    return Dataset(n, kv_set_batches(n), rounds, catalog_batches(rounds))


@dataclass(frozen=True)
class Engine:
    """How to make a fresh FSM, and whether it applies Consul's catalog commands (the sqlite peer does not)."""

    name: str
    make: Callable[[], Any]
    catalog: bool = True


def _prepare_fresh(ctx: Context) -> None:
    ctx.scratch["fresh"] = ctx.backend.make()


def _run_apply_kv(ctx: Context) -> int:
    ctx.scratch["loaded"] = apply_all(ctx.scratch.pop("fresh"), ctx.data.kv)
    return int(ctx.data.n)


def _check_apply_kv(ctx: Context) -> None:
    count = kv_count(ctx.scratch["loaded"])
    assert count in (None, ctx.data.n), f"KV apply: {count} keys, not {ctx.data.n}"


def _run_apply_catalog(ctx: Context) -> int:
    ctx.scratch["catalog"] = apply_all(ctx.scratch.pop("fresh"), ctx.data.catalog)
    return int(ctx.data.catalog_commands)


def _check_apply_catalog(ctx: Context) -> None:
    count = catalog_node_count(ctx.scratch.pop("catalog"))
    expected = catalog_nodes_left(ctx.data.catalog_rounds)
    assert count in (None, expected), f"catalog apply: {count} nodes, not {expected}"


def _catalog_only(engine: Engine) -> str | None:
    return None if engine.catalog else "applies KV sets only (no catalog)"


def _loaded(ctx: Context) -> Any:
    """The FSM the KV-apply workload loaded this round (loaded untimed when that workload did not run)."""
    if "loaded" not in ctx.scratch:
        ctx.scratch["loaded"] = apply_all(ctx.backend.make(), ctx.data.kv)
    return ctx.scratch["loaded"]


def _prepare_persist(ctx: Context) -> None:
    _loaded(ctx)


def _run_persist(ctx: Context) -> int:
    ctx.scratch["image"] = persist(ctx.scratch["loaded"])
    return int(ctx.data.n)


def _check_persist(ctx: Context) -> None:
    assert ctx.scratch["image"], "snapshot persist wrote nothing"


def _prepare_restore(ctx: Context) -> None:
    if "image" not in ctx.scratch:
        ctx.scratch["image"] = persist(_loaded(ctx))
    ctx.scratch.pop("loaded", None)  # one FSM of N keys in memory at a time is enough


def _run_restore(ctx: Context) -> int:
    ctx.scratch["restored"] = restore(ctx.backend.make, ctx.scratch["image"])
    return int(ctx.data.n)


def _check_restore(ctx: Context) -> None:
    count = kv_count(ctx.scratch.pop("restored"))
    assert count in (None, ctx.data.n), f"snapshot restore: {count} keys, not {ctx.data.n}"


class FsmLayer:
    """The FSM layer for `raftstore bench`: raftstore's FSM (memdb over the C radix tree) against the rqlite-style
    sqlite3 FSM."""

    name = "fsm"
    default_baseline = PEER

    def __init__(self) -> None:
        self._n = FULL_N

    def prepare(self, quick: bool) -> Dataset:
        self._n = QUICK_N if quick else FULL_N
        return make_dataset(self._n)

    def parameters(self, data: Dataset) -> dict[str, Any]:
        return {
            "n": data.n,
            "batch": BATCH,
            "value_bytes": len(VALUE),
            "catalog_rounds": data.catalog_rounds,
            "catalog_commands": data.catalog_commands,
        }

    def workloads(self) -> list[Workload]:
        return [
            Workload(
                f"apply KV set, batch={BATCH}",
                _run_apply_kv,
                prepare=_prepare_fresh,
                check=_check_apply_kv,
                unit="commands",
            ),
            Workload(
                "apply catalog mix",
                _run_apply_catalog,
                prepare=_prepare_fresh,
                applies=_catalog_only,
                check=_check_apply_catalog,
                unit="commands",
            ),
            Workload("snapshot persist", _run_persist, prepare=_prepare_persist, check=_check_persist, unit="keys"),
            Workload("snapshot restore", _run_restore, prepare=_prepare_restore, check=_check_restore, unit="keys"),
        ]

    def backends(self) -> list[BackendSpec]:
        engines = [Engine(RAFTSTORE, FSM), Engine(PEER, SqliteFSM, catalog=False)]
        return [BackendSpec(engine.name, _constant(engine)) for engine in engines]

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A user's FSM: a class or factory called with no arguments, with the FSM protocol of `raftstore.raft`
        (apply_batch, snapshot() -> persist(sink)/release(), restore(reader)) and Consul's command set. Its answers
        are checked when it exposes a raftstore StateStore as `.state`; otherwise only that it runs."""
        engine = Engine(name, implementation)
        return BackendSpec(name, _constant(engine), origin="plugin")


def _constant(engine: Engine) -> Callable[[Dataset], Engine]:
    """A BackendSpec.create that ignores the data set (an FSM is made fresh per sample)."""
    return lambda data: engine
