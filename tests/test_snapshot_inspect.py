"""`snapshot inspect`: exact per-type statistics and Consul's output, byte for byte where Consul has goldens."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from raftstore.cli import main
from raftstore.fsm import MessageType
from raftstore.fsm.snapshot_stream import SnapshotWriter
from raftstore.raft.snapshots import FileSnapshotStore
from raftstore.snapshot.archive import write_archive
from raftstore.snapshot.inspect import SnapshotInfo, TypeStats, byte_size, format_json, format_pretty, inspect_file

pytestmark = pytest.mark.pure_python

# Consul's formatter tests (command/snapshot/inspect/formatter_test.go) feed these values; the expected texts are
# its testdata/pretty.golden and testdata/json.golden.
CONSUL_INFO = SnapshotInfo(
    meta={"ID": "one", "Size": 2, "Index": 3, "Term": 4, "Version": 1},
    stats=[TypeStats("msg", count=2, size=1)],
    total_size=1,
    kv_stats=[TypeStats("msgKV", count=2, size=1)],
    total_size_kv=1,
)
CONSUL_PRETTY = (
    " ID           one\n Size         2\n Index        3\n Term         4\n Version      1\n\n"
    " Type       Count      Size\n ----       ----       ----\n msg        2          1B\n"
    " ----       ----       ----\n Total                 1B\n\n"
    " Key Name      Count      Size\n ----          ----       ----\n msgKV         2          1B\n"
    " ----          ----       ----\n Total                    1B"
)
CONSUL_JSON = """{
   "Meta": {
      "ID": "one",
      "Size": 2,
      "Index": 3,
      "Term": 4,
      "Version": 1
   },
   "Stats": [
      {
         "Name": "msg",
         "Sum": 1,
         "Count": 2
      }
   ],
   "StatsKV": [
      {
         "Name": "msgKV",
         "Sum": 1,
         "Count": 2
      }
   ],
   "TotalSize": 1,
   "TotalSizeKV": 1
}"""


def test_pretty_output_matches_consuls_golden() -> None:
    assert format_pretty(CONSUL_INFO) == CONSUL_PRETTY


def test_json_output_matches_consuls_golden() -> None:
    assert format_json(CONSUL_INFO) == CONSUL_JSON


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0"),
        (1, "1B"),
        (1023, "1023B"),
        (1024, "1KB"),
        (1740, "1.7KB"),
        (5 << 10, "5KB"),
        (3 << 20, "3MB"),
        ((1 << 30) + (1 << 29), "1.5GB"),
        (2 << 40, "2TB"),
    ],
)
def test_byte_size_like_consul(size: int, text: str) -> None:
    assert byte_size(size) == text


def _state() -> tuple[bytes, dict[MessageType, tuple[int, int]]]:
    """A state.bin with known records, and the exact (count, bytes) per type."""
    out = io.BytesIO()
    writer = SnapshotWriter(out, last_index=99)
    expected: dict[MessageType, tuple[int, int]] = {}
    records = [(MessageType.REGISTER, {"Node": f"node{i}", "Address": "10.0.0.1"}) for i in range(3)]
    records += [(MessageType.KVS, {"Key": f"app/{i % 4}/k{i}", "Value": b"x" * 100}) for i in range(20)]
    records += [(MessageType.INDEX, {"Key": "kvs", "Value": 99})]
    for record_type, value in records:
        before = out.tell()
        writer.write(record_type, value)
        count, size = expected.get(record_type, (0, 0))
        expected[record_type] = (count + 1, size + out.tell() - before)
    return out.getvalue(), expected


def _write_archive(path: Path, state: bytes) -> None:
    meta = {"Version": 1, "ID": "3-99-1700000000000", "Index": 99, "Term": 3, "Size": len(state)}
    with open(path, "wb") as out:
        write_archive(out, meta, io.BytesIO(state))


def test_inspect_archive_counts_exact_bytes_per_type(tmp_path: Path) -> None:
    state, expected = _state()
    _write_archive(tmp_path / "backup.snap", state)
    info = inspect_file(tmp_path / "backup.snap")
    assert info.meta["Index"] == 99 and info.total_size == len(state)
    assert {s.name: (s.count, s.size) for s in info.stats} == {t.consul_name: v for t, v in expected.items()}
    assert [s.size for s in info.stats] == sorted((s.size for s in info.stats), reverse=True)
    assert info.kv_stats is None


def test_kv_details_group_keys_by_prefix(tmp_path: Path) -> None:
    state, _ = _state()
    _write_archive(tmp_path / "backup.snap", state)
    info = inspect_file(tmp_path / "backup.snap", kv_depth=2)
    assert info.kv_stats is not None
    assert sorted((s.name, s.count) for s in info.kv_stats) == [("app/0", 5), ("app/1", 5), ("app/2", 5), ("app/3", 5)]
    filtered = inspect_file(tmp_path / "backup.snap", kv_depth=1, kv_filter="app/1")
    assert filtered.kv_stats is not None and [(s.name, s.count) for s in filtered.kv_stats] == [("app", 5)]


def test_inspect_an_internal_state_bin_from_the_snapshot_store(tmp_path: Path) -> None:
    state, _ = _state()
    store = FileSnapshotStore(tmp_path)
    sink = store.create(99, 3, [], 1)
    sink.write(state)
    meta = sink.close()
    info = inspect_file(store.path / meta.id / "state.bin")
    assert (info.meta["ID"], info.meta["Index"], info.meta["Size"]) == (meta.id, 99, len(state))
    assert info.total_size == len(state)


def test_cli_inspect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state, _ = _state()
    _write_archive(tmp_path / "backup.snap", state)
    assert main(["snapshot", "inspect", str(tmp_path / "backup.snap")]) == 0
    out = capsys.readouterr().out
    assert out.startswith(" ID           3-99-1700000000000\n") and "\n KVS " in out and "\n Total " in out
    assert main(["snapshot", "inspect", "-format", "json", str(tmp_path / "backup.snap")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["Meta"]["Index"] == 99 and document["StatsKV"] is None
    assert main(["snapshot", "inspect", "--kvdetails", str(tmp_path / "backup.snap")]) == 0
    assert " Key Name " in capsys.readouterr().out


def test_cli_inspect_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshot", "inspect", str(tmp_path / "absent.snap")]) == 1
    assert "Error opening snapshot file" in capsys.readouterr().err
    (tmp_path / "bad.snap").write_bytes(b"not an archive")
    assert main(["snapshot", "inspect", str(tmp_path / "bad.snap")]) == 1
    assert "Error reading snapshot" in capsys.readouterr().err
    assert main(["snapshot", "inspect", "--kvdepth", "3", str(tmp_path / "bad.snap")]) == 1
    assert "need -kvdetails" in capsys.readouterr().err
    state, _ = _state()
    _write_archive(tmp_path / "cut.snap", state)
    data = (tmp_path / "cut.snap").read_bytes()
    (tmp_path / "cut.snap").write_bytes(data[: len(data) // 2])
    assert main(["snapshot", "inspect", str(tmp_path / "cut.snap")]) == 1
