"""`snapshot inspect`: what a snapshot holds, per record type, printed as Consul prints it.

Sizes are exact: each record's size is its type byte plus its msgpack value, measured from the stream offsets.
(Consul counts bytes pulled through a buffered reader, so its per-type sizes are approximate; the columns, order
and units are the same.) The total is the whole of state.bin, header included.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from raftstore.fsm.messages import type_name
from raftstore.fsm.snapshot_stream import SnapshotReader
from raftstore.snapshot.archive import ArchiveError, read_archive


@dataclass
class TypeStats:
    name: str
    count: int = 0
    size: int = 0


@dataclass
class SnapshotInfo:
    meta: dict[str, Any]
    stats: list[TypeStats]
    total_size: int
    kv_stats: list[TypeStats] | None = None
    total_size_kv: int = 0


def _sorted(stats: list[TypeStats]) -> list[TypeStats]:
    """Largest first, then by name (Consul's sortTypeStats)."""
    return sorted(stats, key=lambda s: (-s.size, s.name))


def analyse_state(
    state: BinaryIO, meta: dict[str, Any], kv_depth: int | None = None, kv_filter: str = ""
) -> SnapshotInfo:
    """Read a state.bin stream once, counting records and bytes per type (and per key prefix for KVS records when
    `kv_depth` is given, like Consul's ``-kvdetails``)."""
    reader = SnapshotReader(state)
    stats: dict[int, TypeStats] = {}
    kv: dict[str, TypeStats] = {}
    total_kv = 0
    previous = reader.offset
    for record_type, value in reader:
        offset = reader.offset
        size, previous = offset - previous, offset
        entry = stats.setdefault(record_type, TypeStats(type_name(record_type)))
        entry.count += 1
        entry.size += size
        if kv_depth is not None and entry.name == "KVS" and isinstance(value, dict):
            key = value.get("Key")
            if isinstance(key, str) and key.startswith(kv_filter):
                prefix = "/".join(key.split("/")[:kv_depth])
                bucket = kv.setdefault(prefix, TypeStats(prefix))
                bucket.count += 1
                bucket.size += size
                total_kv += size
    return SnapshotInfo(
        meta=meta,
        stats=_sorted(list(stats.values())),
        total_size=reader.offset,
        kv_stats=_sorted(list(kv.values())) if kv_depth is not None else None,
        total_size_kv=total_kv,
    )


def inspect_file(path: str | os.PathLike[str], kv_depth: int | None = None, kv_filter: str = "") -> SnapshotInfo:
    """Inspect an archive, or an internal ``state.bin`` next to its ``meta.json`` (as Consul's command does)."""
    path = Path(path)
    if path.name.lower() == "state.bin":
        meta_path = path.with_name("meta.json")
        try:
            meta = json.loads(meta_path.read_bytes())
        except (OSError, ValueError) as error:
            raise ArchiveError(f"reading {meta_path} next to the internal snapshot: {error}") from None
        if not isinstance(meta, dict):
            raise ArchiveError(f"{meta_path} is not a JSON object")
        meta = _consul_meta(meta)
        with open(path, "rb") as state:
            return analyse_state(state, meta, kv_depth, kv_filter)
    with open(path, "rb") as source, tempfile.TemporaryFile() as state:
        meta = read_archive(source, state)
        state.seek(0)
        return analyse_state(state, meta, kv_depth, kv_filter)


def _consul_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """raftstore's own snapshot-store metadata (snake_case) in Consul's field names; Consul's passes through."""
    if "ID" in meta:
        return meta
    return {
        "ID": meta.get("id"),
        "Size": meta.get("size"),
        "Index": meta.get("index"),
        "Term": meta.get("term"),
        "Version": meta.get("version"),
    }


def byte_size(size: int) -> str:
    """Consul's ByteSize: one decimal, a trailing ".0" dropped, binary units named KB, MB, GB, TB."""
    if size == 0:
        return "0"
    unit, scale = next(
        (
            (unit, scale)
            for unit, scale in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10))
            if size >= scale
        ),
        ("B", 1),
    )
    return f"{size / scale:.1f}".removesuffix(".0") + unit


def tabwrite(text: str, minwidth: int = 8, padding: int = 6) -> str:
    """Go's text/tabwriter with space padding (what Consul's table goes through): a tab-terminated cell is padded
    to the widest cell of its column block, a block being consecutive lines that have a cell in that column."""
    lines = [line.split("\t") for line in text.split("\n")]
    widths: list[list[int]] = [[] for _ in lines]

    def fmt(line0: int, line1: int, column: int) -> None:
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            start = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            for number in range(start, this):
                widths[number].append(width)
            fmt(start, this, column + 1)

    fmt(0, len(lines), 0)
    out = []
    for cells, cell_widths in zip(lines, widths, strict=True):
        out.append(
            "".join(cell.ljust(cell_widths[j]) if j < len(cell_widths) else cell for j, cell in enumerate(cells))
        )
    return "\n".join(out)


def format_pretty(info: SnapshotInfo) -> str:
    meta = info.meta
    parts = [
        f" ID\t{meta.get('ID')}",
        f"\n Size\t{meta.get('Size')}",
        f"\n Index\t{meta.get('Index')}",
        f"\n Term\t{meta.get('Term')}",
        f"\n Version\t{meta.get('Version')}",
        "\n",
        "\n Type\tCount\tSize\n",
        " ----\t----\t----",
    ]
    parts += [f"\n {s.name}\t{s.count}\t{byte_size(s.size)}" for s in info.stats]
    parts += ["\n ----\t----\t----", f"\n Total\t\t{byte_size(info.total_size)}"]
    if info.kv_stats is not None:
        parts += ["\n", "\n Key Name\tCount\tSize\n", " ----\t----\t----"]
        parts += [f"\n {s.name}\t{s.count}\t{byte_size(s.size)}" for s in info.kv_stats]
        parts += ["\n ----\t----\t----", f"\n Total\t\t{byte_size(info.total_size_kv)}"]
    return tabwrite("".join(parts))


def format_json(info: SnapshotInfo) -> str:
    """Consul's JSON shape (`json.MarshalIndent(info, "", "   ")`)."""
    meta = info.meta
    document = {
        "Meta": {key: meta.get(key) for key in ("ID", "Size", "Index", "Term", "Version")},
        "Stats": [{"Name": s.name, "Sum": s.size, "Count": s.count} for s in info.stats],
        "StatsKV": None
        if info.kv_stats is None
        else [{"Name": s.name, "Sum": s.size, "Count": s.count} for s in info.kv_stats],
        "TotalSize": info.total_size,
        "TotalSizeKV": info.total_size_kv,
    }
    return json.dumps(document, indent=3)
