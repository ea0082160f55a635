"""Embedding: run a raftstore server inside an application and use KV, sessions and the catalog from ordinary
(synchronous, any-thread) Python code, without HTTP::

    from raftstore.agent import Server

    with Server(node_name="app-1") as server:          # a dev (single, in-memory) server; see AgentConfig
        server.kv_put("config/port", b"8500")
        entry = server.kv_get("config/port")            # a DirEntry copy: .Value, .Flags, .ModifyIndex ...
        session = server.session_create(ttl="10s")
        server.kv_put("leader", b"me", acquire=session)
        index, entry = server.kv_get_blocking("config/port", index=entry.ModifyIndex, wait=5.0)

The server runs on its own event loop thread (`AgentThread`); writes are the same operations the HTTP API runs
(`raftstore.agent.commands`: Consul's validation, limits and error texts) and raise the agent's errors
(`InvalidRequest`, `CommandRejected`, ...) or the backend's (`NotLeaderError` when this server is a follower: an
embedded follower cannot forward without HTTP, so the application decides). Reads go straight to the state store:
``consistency="stale"`` reads this server's state, "default" requires this server to be the leader, "consistent"
also confirms leadership first. Pass ``http_addr`` to serve the HTTP API as well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, BinaryIO, TypeVar

from raftstore.agent import commands
from raftstore.agent.backend import NotLeaderError, ServerBackend
from raftstore.agent.config import AgentConfig
from raftstore.agent.factory import make_backend
from raftstore.agent.server import AgentThread, BackendFactory
from raftstore.memdb import WatchSet
from raftstore.state import DirEntry, StateStore
from raftstore.state.blocking import blocking_query

T = TypeVar("T")


class Server:
    """An embedded raftstore server (see the module docstring)."""

    def __init__(
        self,
        config: AgentConfig | None = None,
        *,
        http_addr: str | None = None,
        backend_factory: BackendFactory = make_backend,
        **settings: Any,
    ) -> None:
        if config is None:
            settings.setdefault("dev", True)
            settings.setdefault("node_name", "raftstore-embedded")
            config = AgentConfig(**settings)
        elif settings:
            config = dataclasses.replace(config, **settings)
        if http_addr is not None:
            config = dataclasses.replace(config, http_addr=http_addr)
        else:
            config = dataclasses.replace(config)  # the agent fills in fields (advertise_http): never the caller's
        config.validate()
        self._thread = AgentThread(config, serve_http=http_addr is not None, backend_factory=backend_factory)

    # ------------------------------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 30.0) -> Server:
        self._thread.start(timeout)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._thread.stop(timeout)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def backend(self) -> ServerBackend:
        core = self._thread.agent.core
        assert core is not None, "the server is not running"
        return core.backend

    @property
    def http_address(self) -> str:
        """HOST:PORT of the HTTP API (only when started with ``http_addr``)."""
        return self._thread.http_address

    # ------------------------------------------------------------------------------------------ snapshots

    def snapshot_save(self, out: BinaryIO) -> int:
        """Write a Consul snapshot archive of the whole state to `out`; returns its Raft index."""
        index: int = self._run(self.backend.snapshot_save(out), timeout=None)
        return index

    def snapshot_restore(self, archive: BinaryIO) -> None:
        """Verify `archive` completely, then replace the whole state with it (through Raft: every server)."""
        self._run(self.backend.snapshot_restore(archive), timeout=None)

    def _run(self, coroutine: Any, timeout: float | None = 60.0) -> Any:
        return self._thread.call(coroutine, timeout)

    def _read(self, query: Callable[[StateStore], T], consistency: str) -> T:
        if consistency not in ("default", "consistent", "stale"):
            raise ValueError(f"consistency must be default, consistent or stale, got {consistency!r}")
        backend = self.backend
        if consistency == "consistent" or (consistency == "default" and not backend.is_leader()):
            self._run(backend.verify_leader())
            if not backend.is_leader():
                raise NotLeaderError("this server is not the leader")
        return query(backend.state)

    # ------------------------------------------------------------------------------------------ KV

    def kv_get(self, key: str, *, consistency: str = "default") -> DirEntry | None:
        entry = self._read(lambda s: s.kvs_get(key)[1], consistency)
        return entry.copy() if entry is not None else None

    def kv_get_blocking(self, key: str, *, index: int, wait: float = 300.0) -> tuple[int, DirEntry | None]:
        """Wait until the key's index passes `index` (or `wait` seconds); (index, entry) as a blocking query."""

        def query(store: StateStore, ws: WatchSet) -> tuple[int, DirEntry | None]:
            return store.kvs_get(key, ws)

        found_index, entry = blocking_query(lambda: self.backend.state, query, min_index=index, timeout=wait)
        return found_index, entry.copy() if entry is not None else None

    def kv_list(self, prefix: str = "", *, consistency: str = "default") -> list[DirEntry]:
        return [e.copy() for e in self._read(lambda s: s.kvs_list(prefix)[1], consistency)]

    def kv_keys(self, prefix: str = "", separator: str = "", *, consistency: str = "default") -> list[str]:
        return self._read(lambda s: s.kvs_list_keys(prefix, separator)[1], consistency)

    def kv_put(
        self,
        key: str,
        value: bytes | str,
        *,
        flags: int = 0,
        cas: int | None = None,
        acquire: str | None = None,
        release: str | None = None,
    ) -> bool:
        data = value.encode() if isinstance(value, str) else bytes(value)
        return bool(
            self._run(
                commands.kv_put(
                    self.backend,
                    key,
                    data,
                    flags=flags,
                    cas=cas,
                    acquire=acquire,
                    release=release,
                    limits=self._thread.agent.config.limits,
                )
            )
        )

    def kv_delete(self, key: str, *, recurse: bool = False, cas: int | None = None) -> bool:
        return bool(self._run(commands.kv_delete(self.backend, key, recurse=recurse, cas=cas)))

    def txn(self, ops: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """FSM-shaped TxnOps (``{"KV": {"Verb": "set", "DirEnt": {"Key": ..., "Value": b"..."}}}``); returns
        ``{"Results": [...], "Errors": None}`` or ``{"Results": None, "Errors": [...]}``."""
        result: dict[str, Any] = self._run(commands.txn(self.backend, ops, self._thread.agent.config.limits))
        return result

    # ------------------------------------------------------------------------------------------ sessions

    def session_create(
        self,
        *,
        name: str = "",
        ttl: str | None = None,
        behavior: str = "release",
        lock_delay: float | str = 15,
        node: str | None = None,
        checks: list[str] | None = None,
    ) -> str:
        spec: dict[str, Any] = {"Name": name, "Behavior": behavior, "LockDelay": lock_delay, "TTL": ttl or ""}
        if node:
            spec["Node"] = node
        if checks is not None:
            spec["NodeChecks"] = checks
        config = self._thread.agent.config
        return str(self._run(commands.session_create(self.backend, spec, self.backend.node_name, config.limits)))

    def session_destroy(self, session_id: str) -> None:
        self._run(commands.session_destroy(self.backend, session_id))

    def session_renew(self, session_id: str) -> dict[str, Any]:
        core = self._thread.agent.core
        assert core is not None
        return dict(self._run(core.renew_session(session_id)))

    def session_info(self, session_id: str, *, consistency: str = "default") -> dict[str, Any] | None:
        found = self._read(lambda s: s.session_get(session_id)[1], consistency)
        return dict(found) if found is not None else None

    def session_list(self, *, consistency: str = "default") -> list[dict[str, Any]]:
        return [dict(s) for s in self._read(lambda s: s.session_list()[1], consistency)]

    # ------------------------------------------------------------------------------------------ catalog

    def register(
        self,
        node: str,
        address: str,
        *,
        service: Mapping[str, Any] | None = None,
        check: Mapping[str, Any] | None = None,
        node_meta: Mapping[str, str] | None = None,
    ) -> None:
        """Consul's catalog register; `service` and `check` use Consul's field names (``{"Service": "web",
        "Port": 80, "Tags": [...]}``, ``{"CheckID": ..., "Status": "passing", "ServiceID": ...}``)."""
        request: dict[str, Any] = {"Node": node, "Address": address}
        if service is not None:
            request["Service"] = dict(service)
        if check is not None:
            request["Check"] = dict(check)
        if node_meta is not None:
            request["NodeMeta"] = dict(node_meta)
        self._run(commands.register(self.backend, request))

    def deregister(self, node: str, *, service_id: str | None = None, check_id: str | None = None) -> None:
        request = {"Node": node, "ServiceID": service_id or "", "CheckID": check_id or ""}
        self._run(commands.deregister(self.backend, request))

    def nodes(self, *, consistency: str = "default") -> list[dict[str, Any]]:
        return [dict(n) for n in self._read(lambda s: s.nodes()[1], consistency)]

    def service_nodes(self, service: str, *, consistency: str = "default") -> list[dict[str, Any]]:
        return [dict(r) for r in self._read(lambda s: s.service_nodes(service)[1], consistency)]

    def health_service(
        self, service: str, *, passing: bool = False, consistency: str = "default"
    ) -> list[dict[str, Any]]:
        return self._read(lambda s: s.check_service_nodes(service, passing_only=passing)[1], consistency)
