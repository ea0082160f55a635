"""The memdb layer's benchmark material, shared by `raftstore bench` and benchmarks/bench_memdb.py (pytest-benchmark):
Consul-like service records, the memdb schema with 4 indexes (one multi-valued), and the engines compared (memdb
over the C tree and over PyTree, and sqlite3 in memory with the equivalent table and indexes), so both harnesses
time exactly the same code. See benchmarks/bench_memdb.py for what each operation does.
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from raftstore.bench.harness import BackendSpec, Context, Workload
from raftstore.memdb import DBSchema, IndexSchema, MemDB, StringFieldIndex, StringSliceFieldIndex, TableSchema
from raftstore.radix import PyTree, Tree

SMOKE_N = 2_000
BATCH = 10_000
ID_LOOKUPS = 100_000
NODE_LOOKUPS = 10_000
DELETE_SERVICES = 10
WATCH_TRIALS = 200
TAGS = ["primary", "secondary", "canary", "v1", "v2", "zone-a", "zone-b", "zone-c", "ipv6", "metrics"]


@dataclass(frozen=True, slots=True)
class Service:
    """A Consul-like catalog service record."""

    id: str
    node: str
    service: str
    tags: tuple[str, ...]
    meta: dict[str, str] = field(hash=False, compare=False)
    port: int = 0


SCHEMA = DBSchema(
    tables={
        "services": TableSchema(
            "services",
            indexes={
                "id": IndexSchema("id", StringFieldIndex("id"), unique=True),
                "node": IndexSchema("node", StringFieldIndex("node")),
                "service": IndexSchema("service", StringFieldIndex("service")),
                "tags": IndexSchema("tags", StringSliceFieldIndex("tags"), allow_missing=True),
            },
        )
    }
)


@dataclass
class Dataset:
    n: int
    records: list[Service]
    id_probes: list[str]
    node_probes: list[str]
    prefix: str
    prefix_ids: list[str]
    delete_services: list[str]
    single_n: int  # how many of `records` the txn-of-1 benchmark inserts


def make_dataset(n: int, single_n: int) -> Dataset:
    rng = random.Random(20261126)
    nodes = max(1, n // 20)

    def record(i: int) -> Service:
        node = f"node-{rng.randrange(nodes):06d}"
        name = f"service-{rng.randrange(1000):04d}"
        return Service(
            id=f"{node}/{name}-{i}",
            node=node,
            service=name,
            tags=tuple(rng.sample(TAGS, 2)),
            meta={"version": f"1.{i % 7}.0", "team": f"team-{i % 13}"},
            port=20000 + i % 10000,
        )

    records = [record(i) for i in range(n)]
    rng.shuffle(records)
    # Nodes node-000000 .. node-000099 (20 records each): ~2,000 ids, whatever N >= 2,000.
    prefix = "node-0000"
    prefix_ids = sorted(r.id for r in records if r.id.startswith(prefix))
    return Dataset(
        n=n,
        records=records,
        id_probes=[r.id for r in rng.choices(records, k=min(ID_LOOKUPS, n * 10))],
        node_probes=[r.node for r in rng.choices(records, k=min(NODE_LOOKUPS, n))],
        prefix=prefix,
        prefix_ids=prefix_ids,
        delete_services=[f"service-{s:04d}" for s in rng.sample(range(1000), DELETE_SERVICES)],
        single_n=min(single_n, n),
    )


# ------------------------------------------------------------------------------------------------ engines


class MemDBEngine:
    def __init__(self, name: str, factory: Any) -> None:
        self.name = name
        self.factory = factory

    def new(self) -> MemDB:
        return MemDB(SCHEMA, tree_factory=self.factory)

    def insert_batches(self, db: MemDB, records: list[Service], batch: int) -> MemDB:
        for start in range(0, len(records), batch):
            txn = db.txn(write=True)
            insert = txn.insert
            for r in records[start : start + batch]:
                insert("services", r)
            txn.commit()
        return db

    def insert_singles(self, db: MemDB, records: list[Service]) -> None:
        for r in records:
            txn = db.txn(write=True)
            txn.insert("services", r)
            txn.commit()

    def copy(self, db: MemDB) -> MemDB:
        return db.snapshot()

    def get_ids(self, db: MemDB, ids: list[str]) -> list[Any]:
        first = db.txn().first
        return [first("services", "id", i) for i in ids]

    def get_nodes(self, db: MemDB, nodes: list[str]) -> list[list[Any]]:
        get = db.txn().get
        return [list(get("services", "node", n)) for n in nodes]

    def prefix_scan(self, db: MemDB, prefix: str) -> list[str]:
        return [r.id for r in db.txn().get("services", "id_prefix", prefix)]

    def delete_by_service(self, db: MemDB, names: list[str]) -> int:
        with db.txn(write=True) as txn:
            return sum(txn.delete_all("services", "service", name) for name in names)

    def count(self, db: MemDB) -> int:
        return sum(1 for _ in db.txn().get("services", "id"))


class SqliteEngine:
    name = "sqlite3"

    def new(self) -> sqlite3.Connection:
        con = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False, cached_statements=256)
        con.executescript(
            """
            CREATE TABLE services (id TEXT PRIMARY KEY, node TEXT NOT NULL, service TEXT NOT NULL,
                                   meta TEXT NOT NULL, port INTEGER NOT NULL);
            CREATE INDEX services_node ON services(node);
            CREATE INDEX services_service ON services(service);
            CREATE TABLE service_tags (tag TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (tag, id)) WITHOUT ROWID;
            """
        )
        return con

    @staticmethod
    def _rows(records: list[Service]) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
        rows = [(r.id, r.node, r.service, json.dumps(r.meta), r.port) for r in records]
        tags = [(t, r.id) for r in records for t in r.tags]
        return rows, tags

    def insert_batches(self, con: sqlite3.Connection, records: list[Service], batch: int) -> sqlite3.Connection:
        for start in range(0, len(records), batch):
            rows, tags = self._rows(records[start : start + batch])  # encoding is part of the work, as in memdb
            con.execute("BEGIN")
            con.executemany("INSERT OR REPLACE INTO services VALUES (?, ?, ?, ?, ?)", rows)
            con.executemany("INSERT OR REPLACE INTO service_tags VALUES (?, ?)", tags)
            con.execute("COMMIT")
        return con

    def insert_singles(self, con: sqlite3.Connection, records: list[Service]) -> None:
        execute = con.execute
        for r in records:
            execute("BEGIN")
            execute(
                "INSERT OR REPLACE INTO services VALUES (?, ?, ?, ?, ?)",
                (r.id, r.node, r.service, json.dumps(r.meta), r.port),
            )
            for t in r.tags:
                execute("INSERT OR REPLACE INTO service_tags VALUES (?, ?)", (t, r.id))
            execute("COMMIT")

    def copy(self, con: sqlite3.Connection) -> sqlite3.Connection:
        dst = sqlite3.connect(":memory:", isolation_level=None, cached_statements=256)
        con.backup(dst)
        return dst

    def get_ids(self, con: sqlite3.Connection, ids: list[str]) -> list[Any]:
        execute = con.execute
        sql = "SELECT id, node, service, meta, port FROM services WHERE id = ?"
        return [execute(sql, (i,)).fetchone() for i in ids]

    def get_nodes(self, con: sqlite3.Connection, nodes: list[str]) -> list[list[Any]]:
        execute = con.execute
        sql = "SELECT id, node, service, meta, port FROM services WHERE node = ? ORDER BY id"
        return [execute(sql, (n,)).fetchall() for n in nodes]

    def prefix_scan(self, con: sqlite3.Connection, prefix: str) -> list[str]:
        hi = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = con.execute("SELECT id FROM services WHERE id >= ? AND id < ? ORDER BY id", (prefix, hi)).fetchall()
        return [r[0] for r in rows]

    def delete_by_service(self, con: sqlite3.Connection, names: list[str]) -> int:
        con.execute("BEGIN")
        params = [(n,) for n in names]
        con.executemany("DELETE FROM service_tags WHERE id IN (SELECT id FROM services WHERE service = ?)", params)
        before = con.total_changes
        con.executemany("DELETE FROM services WHERE service = ?", params)
        deleted = con.total_changes - before
        con.execute("COMMIT")
        return deleted

    def count(self, con: sqlite3.Connection) -> int:
        return int(con.execute("SELECT count(*) FROM services").fetchone()[0])


ENGINES: dict[str, Any] = {
    "memdb[Tree]": MemDBEngine("memdb[Tree]", Tree),
    "memdb[PyTree]": MemDBEngine("memdb[PyTree]", PyTree),
    "sqlite3": SqliteEngine(),
}


# ------------------------------------------------------------------------------------------------- `raftstore bench`

QUICK_N = 20_000
FULL_N = (
    300_000  # with every other layer the full run fits in 15 minutes on a loaded 2-core machine (1M: ~11 min alone)
)
FULL_PYTREE_N = 100_000
SINGLE_N = 2_000  # records inserted one per txn per sample (the full N takes minutes on sqlite3)


def _data(ctx: Context) -> Dataset:
    data: Dataset = ctx.data[ctx.scratch.setdefault("n", _n_of(ctx))]
    return data


def _n_of(ctx: Context) -> int:
    n: int = ctx.backend.bench_n
    return n


def _run_insert_batched(ctx: Context) -> int:
    data = _data(ctx)
    ctx.scratch["loaded"] = ctx.backend.insert_batches(ctx.backend.new(), data.records, BATCH)
    return data.n


def _check_loaded(ctx: Context) -> None:
    assert ctx.backend.count(ctx.scratch["loaded"]) == _data(ctx).n, "batched insert lost records"


def _run_insert_single(ctx: Context) -> int:
    data = _data(ctx)
    ctx.backend.insert_singles(ctx.backend.new(), data.records[: data.single_n])
    return data.single_n


def _run_get_by_id(ctx: Context) -> int:
    probes = _data(ctx).id_probes
    ctx.scratch["got"] = ctx.backend.get_ids(ctx.scratch["loaded"], probes)
    return len(probes)


def _check_get_by_id(ctx: Context) -> None:
    assert all(row is not None for row in ctx.scratch.pop("got")), "a stored id was not found"


def _run_get_by_node(ctx: Context) -> int:
    probes = _data(ctx).node_probes
    ctx.backend.get_nodes(ctx.scratch["loaded"], probes)
    return len(probes)


def _run_prefix_scan(ctx: Context) -> int:
    ctx.scratch["ids"] = ctx.backend.prefix_scan(ctx.scratch["loaded"], _data(ctx).prefix)
    return len(ctx.scratch["ids"])


def _check_prefix_scan(ctx: Context) -> None:
    assert ctx.scratch.pop("ids") == _data(ctx).prefix_ids, "prefix scan: wrong ids"


def _prepare_delete(ctx: Context) -> None:
    ctx.scratch["to_delete"] = ctx.backend.copy(ctx.scratch["loaded"])


def _run_delete_by_index(ctx: Context) -> int:
    deleted: int = ctx.backend.delete_by_service(ctx.scratch.pop("to_delete"), _data(ctx).delete_services)
    return deleted


class _Sized:
    """An engine and the N it is measured at (PyTree may run at a smaller N in the full run)."""

    def __init__(self, engine: Any, n: int) -> None:
        self.engine = engine
        self.bench_n = n

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)


class MemdbLayer:
    """The memdb layer for `raftstore bench`: memdb over Tree and PyTree against sqlite3 in memory."""

    name = "memdb"
    default_baseline = "sqlite3"

    def __init__(self) -> None:
        self._n = FULL_N
        self._pytree_n = FULL_PYTREE_N

    def prepare(self, quick: bool) -> dict[int, Dataset]:
        self._n = QUICK_N if quick else FULL_N
        self._pytree_n = QUICK_N if quick else FULL_PYTREE_N
        return {n: make_dataset(n, SINGLE_N) for n in {self._n, self._pytree_n}}

    def parameters(self, data: dict[int, Dataset]) -> dict[str, Any]:
        main = data[self._n]
        return {
            "n": self._n,
            "pytree_n": self._pytree_n,
            "indexes": "id (unique), node, service, tags (multi)",
            "batch": BATCH,
            "single_txns": main.single_n,
            "id_lookups": len(main.id_probes),
            "node_lookups": len(main.node_probes),
            "prefix_ids": len(main.prefix_ids),
            "deleted_services": len(main.delete_services),
        }

    def workloads(self) -> list[Workload]:
        return [
            Workload(f"insert (txns of {BATCH:,})", _run_insert_batched, check=_check_loaded, unit="records"),
            Workload("insert (txns of 1)", _run_insert_single, unit="records"),
            Workload("get by id", _run_get_by_id, check=_check_get_by_id),
            Workload("get by node", _run_get_by_node),
            Workload("prefix scan", _run_prefix_scan, check=_check_prefix_scan, unit="records"),
            Workload("delete by index", _run_delete_by_index, prepare=_prepare_delete, unit="records"),
        ]

    def backends(self) -> list[BackendSpec]:
        def spec(name: str, engine: Any) -> BackendSpec:
            def create(data: dict[int, Dataset]) -> _Sized:
                return _Sized(engine, self._pytree_n if name == "memdb[PyTree]" else self._n)

            return BackendSpec(name, create)

        return [spec(name, engine) for name, engine in ENGINES.items()]

    def wrap(self, name: str, implementation: Any) -> BackendSpec:
        """A radix-tree class with Tree's API, as the tree under memdb."""
        engine = MemDBEngine(name, implementation)
        return BackendSpec(name, lambda data: _Sized(engine, self._n), origin="plugin")
