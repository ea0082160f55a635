"""User-facing snapshots: Consul's archive format (`archive`) and `snapshot inspect` (`inspect`).

Save and restore against a live cluster arrive with the agent.
"""

from raftstore.snapshot.archive import ArchiveError, read_archive, verify_archive, write_archive
from raftstore.snapshot.inspect import SnapshotInfo, TypeStats, format_json, format_pretty, inspect_file

__all__ = [
    "ArchiveError",
    "SnapshotInfo",
    "TypeStats",
    "format_json",
    "format_pretty",
    "inspect_file",
    "read_archive",
    "verify_archive",
    "write_archive",
]
