"""Fixtures of the memdb tests: the radix backend under test and a Consul-like schema.

* ``tree_factory`` — parametrised over the C ``Tree`` (id ``c``) and the pure-Python ``PyTree`` (id ``py``): every
  behavioural test builds its MemDB with it, so each runs once per backend.
* ``make_db`` — ``make_db(schema=None)``: a MemDB over the backend under test (default: ``services_schema()``).
* ``Svc`` / ``services_schema`` — the record type and schema shared by the tests (exposed as fixtures because
  pytest runs in importlib mode, where test modules cannot import each other).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import raftstore.radix as radix
from raftstore.memdb import (
    CompoundIndex,
    DBSchema,
    IndexSchema,
    IntFieldIndex,
    MemDB,
    StringFieldIndex,
    StringMapFieldIndex,
    StringSliceFieldIndex,
    TableSchema,
)


@dataclass(frozen=True)
class Svc:
    id: str
    node: str
    name: str
    tags: tuple[str, ...] = ()
    meta: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    port: int = 0


def services_schema() -> DBSchema:
    return DBSchema(
        tables={
            "services": TableSchema(
                "services",
                indexes={
                    "id": IndexSchema("id", StringFieldIndex("id"), unique=True),
                    "node": IndexSchema("node", StringFieldIndex("node")),
                    "name": IndexSchema("name", StringFieldIndex("name", lowercase=True)),
                    "tags": IndexSchema("tags", StringSliceFieldIndex("tags"), allow_missing=True),
                    "meta": IndexSchema("meta", StringMapFieldIndex("meta"), allow_missing=True),
                    "port": IndexSchema("port", IntFieldIndex("port")),
                    "node_name": IndexSchema(
                        "node_name", CompoundIndex([StringFieldIndex("node"), StringFieldIndex("name")])
                    ),
                },
            ),
            "nodes": TableSchema(
                "nodes",
                indexes={"id": IndexSchema("id", StringFieldIndex("id"), unique=True)},
            ),
        }
    )


@pytest.fixture(params=["Tree", pytest.param("PyTree", marks=pytest.mark.pure_python)], ids=["c", "py"])
def tree_factory(request: pytest.FixtureRequest) -> Any:
    """The radix backend under test: ``raftstore.radix.Tree`` (C) or ``PyTree``."""
    return getattr(radix, request.param)


@pytest.fixture
def make_db(tree_factory: Any) -> Callable[..., MemDB]:
    def make(schema: DBSchema | None = None) -> MemDB:
        return MemDB(services_schema() if schema is None else schema, tree_factory=tree_factory)

    return make


@pytest.fixture(name="Svc")
def svc_fixture() -> type[Svc]:
    return Svc


@pytest.fixture(name="services_schema")
def services_schema_fixture() -> Callable[[], DBSchema]:
    return services_schema
