"""User snapshots end to end on the Raft backend: save from one server and restore into a fresh one gives identical
KV, catalog and session state; damaged archives (a flipped byte, truncation, an extra member, trailing garbage) are
refused and leave the state untouched."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from typing import Any

import pytest

from raftstore.agent import Server


def dump(server: Server) -> dict[str, Any]:
    return {
        "kv": [(e.Key, e.Value, e.Flags, e.CreateIndex, e.ModifyIndex, e.Session) for e in server.kv_list("")],
        "sessions": sorted(server.session_list(), key=lambda s: s["ID"]),
        "web": server.service_nodes("web"),
        "nodes": sorted(n["Node"] for n in server.nodes()),
    }


@pytest.fixture
def populated() -> Iterator[tuple[Server, bytes]]:
    with Server(node_name="snap-node") as server:
        for i in range(50):
            server.kv_put(f"app/key-{i:02d}", f"value-{i}".encode(), flags=i)
        server.register(
            "web-1",
            "10.0.0.1",
            service={"Service": "web", "Port": 80, "Tags": ["a"]},
            check={"CheckID": "web-alive", "Name": "alive", "Status": "passing", "ServiceID": "web"},
        )
        session = server.session_create(node="snap-node", ttl="60s")
        server.kv_put("app/lock", b"held", acquire=session)
        archive = io.BytesIO()
        index = server.snapshot_save(archive)
        assert index > 0
        yield server, archive.getvalue()


def test_restore_into_a_fresh_server_gives_identical_state(populated: tuple[Server, bytes]) -> None:
    source, archive = populated
    expected = dump(source)
    with Server(node_name="snap-node") as fresh:
        fresh.snapshot_restore(io.BytesIO(archive))
        assert dump(fresh) == expected
        fresh.kv_put("after", b"restore")  # and it keeps working


def _members(archive: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]  # type: ignore[union-attr]


def _tar(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray()
    for name, data in members:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), 0o600
        out += info.tobuf(format=tarfile.USTAR_FORMAT) + data + b"\0" * (-len(data) % 512)
    return gzip.compress(bytes(out + b"\0" * 1024))


def damaged(archive: bytes) -> dict[str, bytes]:
    flipped = bytearray(archive)
    flipped[len(flipped) // 2] ^= 0x40
    return {
        "flipped byte": bytes(flipped),
        "truncated": archive[: len(archive) * 2 // 3],
        "extra member": _tar([*_members(archive), ("extra.txt", b"surprise")]),
        "trailing garbage": archive + b"garbage",
    }


def test_damaged_archives_are_refused_and_change_nothing(populated: tuple[Server, bytes]) -> None:
    server, archive = populated
    server.kv_put("app/after-save", b"kept")
    before = dump(server)
    for what, bad in damaged(archive).items():
        with pytest.raises(Exception) as refused:
            server.snapshot_restore(io.BytesIO(bad))
        assert type(refused.value).__name__ in ("ArchiveError", "SnapshotFormatError", "BadGzipFile"), (what, refused)
        assert dump(server) == before, what
