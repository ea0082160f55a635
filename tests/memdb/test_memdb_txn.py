"""memdb transactions over both radix backends: go-memdb's catalogue of behaviours (txn_test.go, isolation_test.go,
integ_test.go) — inserts and updates across indexes, deletes, prefix lookups, lower bounds, compound and multi
indexes, isolation, change tracking, defer order, snapshots, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from raftstore.memdb import (
    Change,
    CompoundMultiIndex,
    DBSchema,
    IndexerError,
    IndexSchema,
    IntFieldIndex,
    MemDB,
    MemDBError,
    NotFoundError,
    SingleFuncIndex,
    StringFieldIndex,
    StringSliceFieldIndex,
    TableSchema,
    TxnError,
    UUIDFieldIndex,
)

MakeDB = Callable[..., MemDB]


def _fill(db: MemDB, Svc: Any) -> list[Any]:
    objs = [
        Svc("web-1", "n1", "Web", ("primary", "v1"), {"env": "prod"}, 80),
        Svc("web-2", "n2", "web", ("v1",), {"env": "dev"}, 81),
        Svc("db-1", "n1", "db", (), {}, 5432),
        Svc("api-1", "n2", "api", ("v2", "primary"), {"env": "prod", "team": "x"}, -5),
    ]
    with db.txn(write=True) as txn:
        for o in objs:
            txn.insert("services", o)
    return objs


def _ids(objs: Any) -> list[str]:
    return [o.id for o in objs]


# ------------------------------------------------------------------------------------------------ inserts, reads


def test_insert_then_read_every_index(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    objs = _fill(db, Svc)
    txn = db.txn()
    assert txn.first("services", "id", "web-1") is objs[0]  # stored as given, never copied
    assert txn.first("services", "id", "nope") is None
    assert _ids(txn.get("services", "id")) == ["api-1", "db-1", "web-1", "web-2"]
    # Non-unique keys are value + primary key: equal values come in primary-key order.
    assert _ids(txn.get("services", "node", "n1")) == ["db-1", "web-1"]
    assert _ids(txn.get("services", "name", "WEB")) == ["web-1", "web-2"]  # lowercase index
    assert _ids(txn.get("services", "tags", "primary")) == ["api-1", "web-1"]
    assert _ids(txn.get("services", "meta", "env", "prod")) == ["api-1", "web-1"]
    assert _ids(txn.get("services", "port")) == ["api-1", "web-1", "web-2", "db-1"]  # numeric order, -5 first
    assert _ids(txn.get("services", "node_name", "n2", "web")) == ["web-2"]
    assert _ids(txn.get("services", "node_name_prefix", "n1")) == ["web-1", "db-1"]  # "Web" < "db": byte order
    assert _ids(txn.get("services", "node_name_prefix", "n1", "W")) == ["web-1"]
    assert _ids(txn.get("services", "node_name_prefix", "n1", "w")) == []
    assert txn.first("services", "tags", "nope") is None


def test_first_last_and_reverse(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    txn = db.txn()
    assert txn.first("services", "node", "n2").id == "api-1"
    assert txn.last("services", "node", "n2").id == "web-2"
    assert txn.first("services", "id").id == "api-1"
    assert txn.last("services", "id").id == "web-2"
    assert txn.last("services", "id", "db-1").id == "db-1"
    assert txn.last("services", "id_prefix", "web").id == "web-2"
    assert txn.last("services", "tags", "none") is None
    assert _ids(txn.get_reverse("services", "id")) == ["web-2", "web-1", "db-1", "api-1"]
    assert _ids(txn.get_reverse("services", "node", "n1")) == ["web-1", "db-1"]


def test_prefix_lookups(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    txn = db.txn()
    assert _ids(txn.get("services", "id_prefix", "web")) == ["web-1", "web-2"]
    assert _ids(txn.get("services", "id_prefix", "")) == ["api-1", "db-1", "web-1", "web-2"]
    assert _ids(txn.get("services", "id_prefix")) == ["api-1", "db-1", "web-1", "web-2"]
    assert _ids(txn.get("services", "tags_prefix", "v")) == ["web-1", "web-2", "api-1"]  # v1, v1, v2
    assert txn.first("services", "id_prefix", "db").id == "db-1"
    assert txn.first("services", "id_prefix", "x") is None
    assert _ids(txn.get("services", "id_prefix", "web-1")) == ["web-1"]
    with pytest.raises(MemDBError, match=r"index 'meta' does not support prefix scanning"):
        txn.get("services", "meta_prefix", "env")
    with pytest.raises(MemDBError, match=r"index 'port' does not support prefix scanning"):
        txn.first("services", "port_prefix", 1)


def test_lower_bound_and_reverse_lower_bound(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    txn = db.txn()
    assert _ids(txn.lower_bound("services", "id", "b")) == ["db-1", "web-1", "web-2"]
    assert _ids(txn.lower_bound("services", "id", "web-1")) == ["web-1", "web-2"]
    assert _ids(txn.lower_bound("services", "id")) == ["api-1", "db-1", "web-1", "web-2"]
    assert _ids(txn.reverse_lower_bound("services", "id", "web-1")) == ["web-1", "db-1", "api-1"]
    assert _ids(txn.reverse_lower_bound("services", "id", "c")) == ["api-1"]
    assert _ids(txn.lower_bound("services", "port", 81)) == ["web-2", "db-1"]
    assert _ids(txn.reverse_lower_bound("services", "port", 80)) == ["api-1"]  # 80's key has no pk suffix: < web-1's
    assert _ids(txn.lower_bound("services", "id_prefix", "d")) == ["db-1", "web-1", "web-2"]


def test_update_moves_every_index_entry(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    new = Svc("web-1", "n3", "Frontend", ("v9",), {}, 8080)
    with db.txn(write=True) as txn:
        txn.insert("services", new)
    txn = db.txn()
    assert txn.first("services", "id", "web-1") is new
    assert _ids(txn.get("services", "node", "n1")) == ["db-1"]
    assert _ids(txn.get("services", "node", "n3")) == ["web-1"]
    assert _ids(txn.get("services", "tags", "primary")) == ["api-1"]
    assert _ids(txn.get("services", "tags", "v9")) == ["web-1"]
    assert _ids(txn.get("services", "meta", "env", "prod")) == ["api-1"]
    assert _ids(txn.get("services", "name", "web")) == ["web-2"]
    assert len(list(txn.get("services", "id"))) == 4
    assert len(list(txn.get("services", "port"))) == 4


def test_update_with_identical_keys_replaces_the_object(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    objs = _fill(db, Svc)
    same = Svc(*[getattr(objs[0], f) for f in ("id", "node", "name", "tags", "meta", "port")])
    with db.txn(write=True) as txn:
        txn.insert("services", same)
    txn = db.txn()
    assert txn.first("services", "tags", "v1") is same
    assert (
        txn.first(
            "services",
            "node",
            "n1",
        ).id
        == "db-1"
    )
    assert [o is same for o in txn.get("services", "node", "n1")] == [False, True]


def test_missing_index_value_is_an_error_and_changes_nothing(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    with db.txn(write=True) as txn:
        with pytest.raises(MemDBError, match=r"^missing value for index 'node'$"):
            txn.insert("services", Svc("x", "", "name"))
        assert txn.first("services", "id", "x") is None
        assert list(txn.get("services", "name")) == []
        txn.insert("services", Svc("y", "n", "name"))  # tags and meta allow missing
    assert db.txn().first("services", "id", "y").id == "y"
    assert list(db.txn().get("services", "tags")) == []


def test_missing_primary_key(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    with db.txn(write=True) as txn:
        with pytest.raises(MemDBError, match=r"^object missing primary index$"):
            txn.insert("services", Svc("", "n", "x"))
        with pytest.raises(MemDBError, match=r"^object missing primary index$"):
            txn.delete("services", Svc("", "n", "x"))


def test_errors_for_bad_tables_indexes_and_args(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    txn = db.txn(write=True)
    with pytest.raises(MemDBError, match=r"^invalid table 'nope'$"):
        txn.insert("nope", Svc("a", "b", "c"))
    with pytest.raises(MemDBError, match=r"^invalid table 'nope'$"):
        txn.first("nope", "id", "x")
    with pytest.raises(MemDBError, match=r"^invalid index 'nope'$"):
        txn.get("services", "nope", "x")
    with pytest.raises(MemDBError, match=r"^invalid index 'nope'$"):
        txn.get("services", "nope_prefix", "x")
    with pytest.raises(IndexerError, match=r"^index error: argument must be a string: 1$"):
        txn.first("services", "id", 1)
    with pytest.raises(IndexerError, match=r"^index error: must provide only a single argument$"):
        txn.get("services", "node", "a", "b")
    with pytest.raises(IndexerError, match=r"field 'node' for .* is invalid"):
        txn.insert("services", {"id": "x"})
    txn.abort()


def test_read_only_and_finished_transactions(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    read = db.txn()
    for op in (
        lambda: read.insert("services", Svc("a", "b", "c")),
        lambda: read.delete("services", Svc("web-1", "b", "c")),
        lambda: read.delete_all("services", "id"),
        lambda: read.delete_prefix("services", "id_prefix", "w"),
    ):
        with pytest.raises(TxnError, match=r"cannot write in read-only transaction"):
            op()
    read.commit()  # no-ops on a read txn
    read.abort()
    assert read.first("services", "id", "web-1") is not None
    txn = db.txn(write=True)
    txn.commit()
    txn.commit()  # repeated: no-op
    txn.abort()
    with pytest.raises(TxnError, match=r"transaction is closed"):
        txn.insert("services", Svc("a", "b", "c"))
    with pytest.raises(TxnError, match=r"transaction is closed"):
        txn.first("services", "id", "web-1")
    with pytest.raises(TxnError, match=r"transaction is closed"):
        txn.get("services", "id")


# ------------------------------------------------------------------------------------------------ deletes


def test_delete_removes_every_index_entry(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    with db.txn(write=True) as txn:
        txn.delete("services", Svc("web-1", "ignored", "ignored"))  # keys come from the stored object
        with pytest.raises(NotFoundError, match=r"^not found$"):
            txn.delete("services", Svc("web-1", "n1", "Web"))
    txn = db.txn()
    assert txn.first("services", "id", "web-1") is None
    for index, args in [
        ("node", ("n1",)),
        ("tags", ("primary",)),
        ("meta", ("env", "prod")),
        ("port", (80,)),
        ("name", ("web",)),
        ("node_name", ("n1", "web")),
    ]:
        assert "web-1" not in _ids(txn.get("services", index, *args)), index
    assert _ids(txn.get("services", "id")) == ["api-1", "db-1", "web-2"]


def test_delete_all(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    with db.txn(write=True) as txn:
        assert txn.delete_all("services", "tags", "primary") == 2
        assert txn.delete_all("services", "tags", "primary") == 0
        assert _ids(txn.get("services", "id")) == ["db-1", "web-2"]
        assert _ids(txn.get("services", "node", "n2")) == ["web-2"]
        assert txn.delete_all("services", "id") == 2
        assert list(txn.get("services", "port")) == []


def test_delete_prefix_clears_every_index(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    with db.txn(write=True) as txn:
        txn.track_changes()
        assert txn.delete_prefix("services", "id_prefix", "web") is True
        assert txn.delete_prefix("services", "id_prefix", "web") is False
        assert _ids(txn.get("services", "id")) == ["api-1", "db-1"]
        assert _ids(txn.get("services", "node")) == ["db-1", "api-1"]
        assert _ids(txn.get("services", "tags", "v1")) == []
        assert _ids(txn.get("services", "meta")) == ["api-1", "api-1"]
        assert _ids(txn.get("services", "name", "web")) == []
        changes = txn.changes()
        assert changes is not None
        assert sorted(c.before.id for c in changes) == ["web-1", "web-2"]
        assert all(c.deleted for c in changes)
        # A non-unique prefix index: keys are value + primary key, the subtree drop still works.
        assert txn.delete_prefix("services", "node_prefix", "n") is True
        assert list(txn.get("services", "id")) == []
        assert list(txn.get("services", "port")) == []


def test_delete_prefix_needs_a_prefix_index(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    with db.txn(write=True) as txn:
        with pytest.raises(MemDBError, match=r"^Index name for DeletePrefix must be a prefix index, Got id$"):
            txn.delete_prefix("services", "id", "x")
        with pytest.raises(MemDBError, match=r"index 'meta' does not support prefix scanning"):
            txn.delete_prefix("services", "meta_prefix", "x")


# ------------------------------------------------------------------------------------------------ isolation


def test_readers_see_their_snapshot_during_and_after_a_write(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    before = db.txn()
    writer = db.txn(write=True)
    writer.insert("services", Svc("new", "n9", "new"))
    writer.delete("services", Svc("web-1", "", ""))
    during = db.txn()
    for txn in (before, during):
        assert txn.first("services", "id", "new") is None
        assert txn.first("services", "id", "web-1") is not None
    assert writer.first("services", "id", "new") is not None  # a writer reads its own writes
    assert writer.first("services", "id", "web-1") is None
    assert _ids(writer.get("services", "node", "n9")) == ["new"]
    writer.commit()
    for txn in (before, during):
        assert txn.first("services", "id", "new") is None
        assert _ids(txn.get("services", "id")) == ["api-1", "db-1", "web-1", "web-2"]
    assert db.txn().first("services", "id", "new") is not None


def test_iterator_in_write_txn_sees_the_index_as_of_its_creation(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    with db.txn(write=True) as txn:
        it = txn.get("services", "id")
        assert next(it).id == "api-1"
        txn.delete("services", Svc("db-1", "", ""))
        txn.insert("services", Svc("b", "n", "b"))
        assert _ids(it) == ["db-1", "web-1", "web-2"]
        assert _ids(txn.get("services", "id")) == ["api-1", "b", "web-1", "web-2"]
        # delete_all while iterating the same index (go-memdb materialises first; so do we)
        assert txn.delete_all("services", "node", "n") == 1


def test_abort_discards_everything(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    txn = db.txn(write=True)
    txn.insert("services", Svc("new", "n", "x"))
    txn.delete_all("services", "id")
    txn.abort()
    assert _ids(db.txn().get("services", "id")) == ["api-1", "db-1", "web-1", "web-2"]
    with db.txn(write=True) as again:  # the writer lock was released
        assert again.first("services", "id", "new") is None


def test_context_manager_commits_on_success_and_aborts_on_error(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    with db.txn(write=True) as txn:
        txn.insert("services", Svc("a", "n", "x"))
    with pytest.raises(RuntimeError, match=r"boom"), db.txn(write=True) as txn:
        txn.insert("services", Svc("b", "n", "x"))
        raise RuntimeError("boom")
    assert _ids(db.txn().get("services", "id")) == ["a"]


def test_txn_snapshot_includes_uncommitted_writes(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    txn = db.txn(write=True)
    txn.insert("services", Svc("new", "n", "x"))
    snap = txn.snapshot()
    txn.delete("services", Svc("new", "", ""))
    assert snap.first("services", "id", "new") is not None
    assert txn.first("services", "id", "new") is None
    with pytest.raises(TxnError):
        snap.insert("services", Svc("z", "n", "x"))
    txn.abort()
    assert snap.first("services", "id", "new") is not None
    assert db.txn().first("services", "id", "new") is None


def test_db_snapshot_is_independent(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    _fill(db, Svc)
    snap = db.snapshot()
    watch, _ = db.txn().first_watch("services", "id", "web-1")
    with snap.txn(write=True) as txn:
        txn.delete("services", Svc("web-1", "", ""))
    assert not watch.fired  # a snapshot's writes never fire the primary's watches
    assert db.txn().first("services", "id", "web-1") is not None
    assert snap.txn().first("services", "id", "web-1") is None
    with db.txn(write=True) as txn:
        txn.insert("services", Svc("only-primary", "n", "x"))
    assert snap.txn().first("services", "id", "only-primary") is None


def test_tables_are_independent(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    with db.txn(write=True) as txn:
        txn.insert("nodes", {"id": "web-1"})
        txn.insert("services", Svc("web-1", "n", "x"))
    txn = db.txn()
    assert txn.first("nodes", "id", "web-1") == {"id": "web-1"}
    assert txn.first("services", "id", "web-1").node == "n"


# ------------------------------------------------------------------------------------------------ changes, defer


def test_changes_are_collapsed_per_object(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    objs = _fill(db, Svc)
    txn = db.txn(write=True)
    assert txn.changes() is None  # not tracking
    txn.track_changes()
    a1, a2 = Svc("a", "n", "x"), Svc("a", "n", "y")
    w1 = Svc("web-1", "n5", "w")
    txn.insert("services", a1)  # created ...
    txn.insert("services", w1)  # updated ...
    txn.insert("services", a2)  # ... and updated again: one creation, before=None, after=a2
    txn.delete("services", Svc("db-1", "", ""))  # deleted
    tmp = Svc("tmp", "n", "x")
    txn.insert("services", tmp)
    txn.delete("services", tmp)  # created and deleted: no change at all
    txn.delete("services", w1)  # updated then deleted: before is the original
    changes = txn.changes()
    assert changes == [
        Change("services", None, a2, b"a\x00"),
        Change("services", objs[2], None, b"db-1\x00"),
        Change("services", objs[0], None, b"web-1\x00"),
    ]
    assert [(c.created, c.updated, c.deleted) for c in changes] == [(True, False, False)] + [(False, False, True)] * 2
    assert txn.changes() == changes  # idempotent
    txn.insert("services", Svc("api-1", "n", "x"))
    later = txn.changes()
    assert later is not None and later[-1].updated and later[-1].before is objs[3]
    txn.commit()
    assert txn.changes() == later  # still readable after commit


def test_changes_after_abort_are_none(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    txn = db.txn(write=True)
    txn.track_changes()
    txn.insert("services", Svc("a", "n", "x"))
    txn.abort()
    assert txn.changes() is None


def test_defer_runs_after_commit_last_first(make_db: MakeDB, Svc: Any) -> None:
    db = make_db()
    order: list[Any] = []
    txn = db.txn(write=True)
    txn.insert("services", Svc("a", "n", "x"))
    txn.defer(lambda: order.append(1))
    txn.defer(lambda: order.append(2))
    # A deferred callback sees the committed data and may open a write txn itself (the writer is released).
    txn.defer(lambda: order.append(db.txn().first("services", "id", "a").id))
    txn.defer(lambda: db.txn(write=True).abort())
    assert order == []
    txn.commit()
    assert order == ["a", 2, 1]
    aborted = db.txn(write=True)
    aborted.defer(lambda: order.append("never"))
    aborted.abort()
    assert order == ["a", 2, 1]


# ------------------------------------------------------------------------------------------------ other indexers


def test_compound_multi_and_uuid_and_function_indexes(tree_factory: Any) -> None:
    def by_owner(obj: dict[str, Any]) -> bytes | None:
        return obj["owner"].encode() + b"\x00" if obj.get("owner") else None

    schema = DBSchema(
        tables={
            "t": TableSchema(
                "t",
                indexes={
                    "id": IndexSchema("id", UUIDFieldIndex("id"), unique=True),
                    "combo": IndexSchema(
                        "combo",
                        CompoundMultiIndex([StringFieldIndex("kind"), StringSliceFieldIndex("tags")]),
                        allow_missing=True,
                    ),
                    "owner": IndexSchema(
                        "owner",
                        SingleFuncIndex(by_owner, lambda q: q.encode() + b"\x00", lambda q: q.encode()),
                        allow_missing=True,
                    ),
                    "rank": IndexSchema("rank", IntFieldIndex("rank"), unique=True),
                },
            )
        }
    )
    db = MemDB(schema, tree_factory=tree_factory)
    u1, u2 = "11111111-2222-3333-4444-555555555555", "11112222-2222-3333-4444-555555555555"
    a = {"id": u1, "kind": "k", "tags": ["x", "y"], "owner": "ann", "rank": 2}
    b = {"id": u2, "kind": "k", "tags": ["y"], "owner": None, "rank": 1}
    with db.txn(write=True) as txn:
        txn.insert("t", a)
        txn.insert("t", b)
    txn = db.txn()
    assert txn.first("t", "id", u1) is a
    assert [o["id"] for o in txn.get("t", "id_prefix", "1111")] == [u1, u2]
    assert [o["id"] for o in txn.get("t", "id_prefix", "111122")] == [u2]
    assert [o["id"] for o in txn.get("t", "combo", "k", "y")] == [u1, u2]
    assert [o["id"] for o in txn.get("t", "combo", "k", "x")] == [u1]
    assert [o["id"] for o in txn.get("t", "owner_prefix", "an")] == [u1]
    assert [o["id"] for o in txn.get("t", "rank")] == [u2, u1]
    assert txn.first("t", "rank", 1) is b
    with db.txn(write=True) as wtxn:
        assert wtxn.delete_all("t", "combo", "k", "y") == 2
    assert list(db.txn().get("t", "owner")) == []


def test_longest_prefix(tree_factory: Any) -> None:
    schema = DBSchema(
        tables={
            "t": TableSchema(
                "t",
                indexes={
                    "id": IndexSchema("id", StringFieldIndex("id"), unique=True),
                    "path": IndexSchema(
                        "path",
                        SingleFuncIndex(lambda o: o["path"].encode(), lambda q: q.encode(), lambda q: q.encode()),
                        unique=True,
                    ),
                    "kind": IndexSchema("kind", StringFieldIndex("kind")),
                },
            )
        }
    )
    db = MemDB(schema, tree_factory=tree_factory)
    with db.txn(write=True) as txn:
        for i, p in enumerate(["foo", "foo/bar", "zip"]):
            txn.insert("t", {"id": str(i), "path": p, "kind": "k"})
    txn = db.txn()
    assert txn.longest_prefix("t", "path_prefix", "foo/bar/baz")["path"] == "foo/bar"
    assert txn.longest_prefix("t", "path_prefix", "foo/b")["path"] == "foo"
    assert txn.longest_prefix("t", "path_prefix", "nope") is None
    with pytest.raises(MemDBError, match=r"must use 'path_prefix' on index"):
        txn.longest_prefix("t", "path", "foo")
    with pytest.raises(MemDBError, match=r"index 'kind_prefix' is not unique"):
        txn.longest_prefix("t", "kind_prefix", "k")
