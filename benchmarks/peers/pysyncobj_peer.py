"""PySyncObj (a pure-Python Raft library, from PyPI): one process per server (pysyncobj_server.py) with its file
journal and full dump on; the leader process generates the load itself through a replicated method with callbacks.

PySyncObj's FileJournal writes through mmap and does not msync or fsync on the commit path (only when it is
closed), so unlike the other peers its commits are not on disk when acknowledged; the result says so."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from typing import Any

from ._support import PeerUnavailable, free_ports, http_json, process_group, try_http_json, wait_for

INSTALL_HINT = "pip install pysyncobj  (or: pip install 'raftstore[peers]')"
SERVER = Path(__file__).resolve().parent / "pysyncobj_server.py"


def run(
    *, servers: int, in_flight: int, seconds: float, key_size: int, value_size: int, workdir: Path
) -> dict[str, Any]:
    if importlib.util.find_spec("pysyncobj") is None:
        raise PeerUnavailable(f"pysyncobj: the pysyncobj package is not installed; install with: {INSTALL_HINT}")
    version = importlib.metadata.version("pysyncobj")
    workdir.mkdir(parents=True, exist_ok=True)
    ports = free_ports(2 * servers)
    raft_addrs = [f"127.0.0.1:{ports[2 * i]}" for i in range(servers)]
    controls = [f"http://127.0.0.1:{ports[2 * i + 1]}" for i in range(servers)]
    with process_group() as group:
        for i in range(servers):
            data = workdir / f"server{i}"
            data.mkdir(parents=True, exist_ok=True)
            partners = ",".join(a for j, a in enumerate(raft_addrs) if j != i)
            group.start(
                f"pysyncobj server{i}",
                [
                    sys.executable,
                    str(SERVER),
                    "--self",
                    raft_addrs[i],
                    "--partners",
                    partners,
                    "--dir",
                    str(data),
                    "--control",
                    str(ports[2 * i + 1]),
                ],
                data / "server.log",
            )

        def leader_control() -> str | None:
            for control in controls:
                state = try_http_json("GET", f"{control}/state")
                if state is not None and state.get("leader") and state.get("ready"):
                    return control
            return None

        leader = wait_for("a pysyncobj leader", leader_control, 60, group)
        query = f"key_size={key_size}&value_size={value_size}"
        http_json(
            "POST", f"{leader}/run?in_flight={min(in_flight, 8)}&seconds={min(1.0, seconds / 5)}&{query}", timeout=90
        )
        result: dict[str, Any] = http_json(
            "POST", f"{leader}/run?in_flight={in_flight}&seconds={seconds}&{query}", timeout=seconds + 120
        )
    result["version"] = f"pysyncobj {version}"
    result["note"] = (
        "load generated inside the leader process through a replicated method with callbacks; "
        "FileJournal writes through mmap without fsync on the commit path"
    )
    return result
