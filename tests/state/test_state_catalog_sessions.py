"""Catalog, sessions and transactions (after Consul's state/catalog_test.go, session_test.go, txn_test.go)."""

from __future__ import annotations

import pytest

from raftstore.state import DirEntry, InvalidRequestError, StateStore
from raftstore.state.txn import TxnAborted, txn_rw

SID = "2f7d6b5a-0000-4000-8000-000000000001"


def register_web(store: StateStore, idx: int = 1, status: str = "passing") -> None:
    store.ensure_registration(
        idx,
        {
            "Node": "n1",
            "Address": "10.0.0.1",
            "Service": {"ID": "web1", "Service": "web", "Tags": ["v1"], "Port": 80},
            "Checks": [
                {"CheckID": "serfHealth", "Status": "passing"},
                {"CheckID": "web-alive", "ServiceID": "web1", "Status": status},
            ],
        },
    )


def test_register_and_queries() -> None:
    store = StateStore()
    register_web(store)
    assert [n["Node"] for n in store.nodes()[1]] == ["n1"]
    assert store.node_services("n1")[1][0]["ServiceName"] == "web"
    assert store.service_nodes("web")[1][0]["ServicePort"] == 80
    idx, health = store.check_service_nodes("web")
    assert idx == 1 and len(health) == 1 and {c["CheckID"] for c in health[0]["Checks"]} == {"serfHealth", "web-alive"}
    register_web(store, 2, status="critical")
    assert store.check_service_nodes("web", passing_only=True)[1] == []
    assert [c["CheckID"] for c in store.checks_in_state("critical")[1]] == ["web-alive"]
    register_web(store, 3, status="critical")  # no change: indexes stay
    assert store.checks_in_state("any")[0] == 2


def test_check_for_missing_service_refused_without_writes() -> None:
    store = StateStore()
    with pytest.raises(InvalidRequestError, match="Missing service"):
        store.ensure_registration(1, {"Node": "n1", "Check": {"CheckID": "c", "ServiceID": "nope"}})
    assert store.nodes() == (0, [])


def test_deregister_precedence() -> None:
    store = StateStore()
    register_web(store)
    store.deregister(2, {"Node": "n1", "ServiceID": "web1", "CheckID": "serfHealth"})
    assert store.node_services("n1")[1] == []
    assert [c["CheckID"] for c in store.node_checks("n1")[1]] == ["serfHealth"]  # service's check went with it
    store.deregister(3, {"Node": "n1", "CheckID": "serfHealth"})
    assert store.node_checks("n1")[1] == [] and len(store.nodes()[1]) == 1
    store.deregister(4, {"Node": "n1"})
    assert store.nodes() == (4, [])


def test_session_create_requires_node_and_healthy_checks() -> None:
    store = StateStore()
    with pytest.raises(InvalidRequestError, match="Missing node"):
        store.session_create(1, {"ID": SID, "Node": "n1"})
    register_web(store, 2, status="critical")
    with pytest.raises(InvalidRequestError, match="Missing check 'nope'"):
        store.session_create(3, {"ID": SID, "Node": "n1", "NodeChecks": ["nope"]})
    with pytest.raises(InvalidRequestError, match="critical"):
        store.session_create(3, {"ID": SID, "Node": "n1", "NodeChecks": ["web-alive"]})
    with pytest.raises(InvalidRequestError, match="behavior"):
        store.session_create(3, {"ID": SID, "Node": "n1", "Behavior": "explode"})
    assert store.session_create(4, {"ID": SID, "Node": "n1", "NodeChecks": ["serfHealth"]}) == SID
    idx, session = store.session_get(SID)
    assert idx == 4 and session is not None and session["Behavior"] == "release" and session["CreateIndex"] == 4
    assert [s["ID"] for s in store.node_sessions("n1")[1]] == [SID]


def test_check_turning_critical_invalidates_session() -> None:
    store = StateStore()
    register_web(store)
    store.session_create(2, {"ID": SID, "Node": "n1", "NodeChecks": ["serfHealth"]})
    store.kvs_lock(3, DirEntry(Key="lock", Session=SID))
    store.ensure_registration(4, {"Node": "n1", "Address": "10.0.0.1", "Check": {"CheckID": "serfHealth"}})
    assert store.session_get(SID)[1] is None
    assert store.kvs_get("lock")[1].Session == ""  # type: ignore[union-attr]


def test_deregister_node_destroys_its_sessions() -> None:
    store = StateStore()
    register_web(store)
    store.session_create(2, {"ID": SID, "Node": "n1"})
    store.deregister(3, {"Node": "n1"})
    assert store.session_list() == (3, [])


def _txn(store: StateStore, idx: int, ops: list[dict[str, object]]) -> list[dict[str, object]]:
    with store.write() as tx:
        return txn_rw(tx, idx, ops)


def test_txn_applies_all_or_nothing() -> None:
    store = StateStore()
    results = _txn(
        store,
        1,
        [
            {"KV": {"Verb": "set", "DirEnt": {"Key": "a", "Value": b"1"}}},
            {"KV": {"Verb": "check-not-exists", "DirEnt": {"Key": "b"}}},
            {"KV": {"Verb": "get", "DirEnt": {"Key": "a"}}},
        ],
    )
    assert results[0]["KV"]["Value"] is None and results[1]["KV"]["Value"] == b"1"  # type: ignore[index]
    with pytest.raises(TxnAborted) as aborted:
        _txn(
            store,
            2,
            [
                {"KV": {"Verb": "set", "DirEnt": {"Key": "c", "Value": b"3"}}},
                {"KV": {"Verb": "cas", "DirEnt": {"Key": "a", "ModifyIndex": 99}}},
            ],
        )
    assert aborted.value.errors == [{"OpIndex": 1, "What": "failed to set key 'a', index is stale"}]
    assert store.kvs_get("c")[1] is None  # rolled back
    with pytest.raises(TxnAborted, match="unknown KV verb"):
        _txn(store, 3, [{"KV": {"Verb": "frob", "DirEnt": {"Key": "a"}}}])
    with pytest.raises(TxnAborted, match="doesn't exist"):
        _txn(store, 3, [{"KV": {"Verb": "get", "DirEnt": {"Key": "zz"}}}])
    with pytest.raises(InvalidRequestError, match="too many"):
        _txn(store, 3, [{"KV": {"Verb": "get", "DirEnt": {"Key": "a"}}}] * 129)


def test_registration_validates_every_check_before_writing() -> None:
    store = StateStore()
    with pytest.raises(InvalidRequestError, match="Invalid check status"):
        store.ensure_registration(
            1,
            {
                "Node": "n1",
                "Service": {"ID": "web1", "Service": "web"},
                "Checks": [
                    {"CheckID": "ok", "ServiceID": "web1"},
                    {"CheckID": "bad", "ServiceID": "web1", "Status": "meh"},
                ],
            },
        )
    assert store.nodes() == (0, []) and store.service_nodes("web") == (0, [])


def test_txn_catalog_ops() -> None:
    store = StateStore()
    results = _txn(
        store,
        1,
        [
            {"Node": {"Verb": "set", "Node": {"Node": "n1", "Address": "10.0.0.1"}}},
            {"Service": {"Verb": "set", "Node": "n1", "Service": {"ID": "web1", "Service": "web", "Port": 80}}},
            {
                "Check": {
                    "Verb": "set",
                    "Check": {"Node": "n1", "CheckID": "c1", "ServiceID": "web1", "Status": "passing"},
                }
            },
            {"Service": {"Verb": "get", "Node": "n1", "Service": {"ID": "web1"}}},
        ],
    )
    assert results[3]["Service"]["Port"] == 80  # type: ignore[index]
    assert store.check_service_nodes("web")[1][0]["Checks"][0]["ServiceName"] == "web"
    with pytest.raises(TxnAborted, match="index is stale"):
        _txn(store, 2, [{"Node": {"Verb": "cas", "Node": {"Node": "n1", "Address": "x", "ModifyIndex": 9}}}])
    with pytest.raises(TxnAborted, match="doesn't exist"):
        _txn(store, 2, [{"Check": {"Verb": "set", "Check": {"Node": "nope", "CheckID": "c"}}}])
    _txn(store, 3, [{"Service": {"Verb": "delete", "Node": "n1", "Service": {"ID": "web1"}}}])
    assert store.service_nodes("web")[1] == [] and store.node_checks("n1")[1] == []
    with pytest.raises(TxnAborted, match="not supported"):
        _txn(store, 4, [{"Intention": {"Op": "create"}}])
