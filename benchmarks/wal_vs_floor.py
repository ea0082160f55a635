"""The WAL's durable append against the physical floor, batch by batch, interleaved.

    python benchmarks/wal_vs_floor.py --batch 1024 --batches 300

The disk behind a shared VM changes speed from one second to the next (the floors of two back-to-back
pytest-benchmark runs have differed by 2x), so comparing medians of separate runs, or of rounds minutes apart,
compares the disk with itself. Here every batch is appended to each contender in turn, so drift hits all of them
equally, and the medians are per batch:

  WALStore        store_logs(batch of Log objects), durable
  encoded         store_encoded(the same entries as WAL frames, encoded untimed), durable
  floor           the WAL's bytes for the batch (frames and commit frame) written with os.pwrite over a zero-filled
                  preallocated file, then os.fdatasync: the faster of the issue's two floors
  handover        read_entries(batch): only reading the Log objects as store_logs does (nothing written)
  checksum        one CRC-32C pass over the batch's bytes (the C one, three lanes of the crc32 instruction)

Prints one JSON line: the per-batch medians in microseconds, the rate ratios against the floor, and two bounds.
`bound_handover` = floor / (floor + handover): no store that is handed Log objects passes it, since the floor does
not read them. `bound_checksummed` = floor / (floor + handover + checksum): nor does one that can tell a torn batch
from a complete one, which takes a checksum over every byte written (the floor computes none). Never an assertion: a
measurement to quote.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from raftstore.bench.logstore import ENTRY_BYTES, FileFloor, make_batches, wal_bytes
from raftstore.logstore import WALStore
from raftstore.logstore._wal import crc32c, encode_logs, read_entries


def settled_wal(directory: Path, payload: bytes) -> WALStore:
    """A durable WAL holding entry 1 whose next segment is already zero-filled (its steady state)."""
    store = WALStore(directory, sync=True)
    store.store_logs(make_batches(1, 1, 1, ENTRY_BYTES, payload=payload)[0])
    deadline = time.monotonic() + 120
    while not store.stats()["spare_ready"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the WAL's spare segment was not ready in time")
        time.sleep(0.01)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024, help="entries per durable append")
    parser.add_argument("--batches", type=int, default=300, help="batches appended to each contender")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temporary dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wal-vs-floor-", dir=args.dir))
    try:
        payload = os.urandom(ENTRY_BYTES)
        wal = settled_wal(root / "wal", payload)
        encoded = settled_wal(root / "encoded", payload)
        batches = make_batches(2, args.batches, args.batch, ENTRY_BYTES, payload=payload)
        frames = [encode_logs(batch) for batch in batches]
        floor_bytes = wal_bytes(batches[0])
        floor = FileFloor(root / "floor.bin", preallocate=len(floor_bytes) * args.batches + (1 << 20), sync=True)
        times: dict[str, list[float]] = {"WALStore": [], "encoded": [], "floor": [], "handover": [], "checksum": []}
        clock = time.perf_counter
        for batch, frame in zip(batches, frames, strict=True):
            start = clock()
            wal.store_logs(batch)
            times["WALStore"].append(clock() - start)
            start = clock()
            floor.append(floor_bytes)
            times["floor"].append(clock() - start)
            start = clock()
            encoded.store_encoded(frame)
            times["encoded"].append(clock() - start)
            start = clock()
            read_entries(batch)
            times["handover"].append(clock() - start)
            start = clock()
            crc32c(floor_bytes)
            times["checksum"].append(clock() - start)
        wal.close()
        encoded.close()
        floor.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    median_us = {name: statistics.median(samples) * 1e6 for name, samples in times.items()}
    floor_us = median_us["floor"]
    print(
        json.dumps(
            {
                "batch": args.batch,
                "batches": args.batches,
                "median_us_per_batch": {k: round(v, 1) for k, v in median_us.items()},
                "wal_vs_floor": round(floor_us / median_us["WALStore"], 3),
                "encoded_vs_floor": round(floor_us / median_us["encoded"], 3),
                "bound_handover": round(floor_us / (floor_us + median_us["handover"]), 3),
                "bound_checksummed": round(floor_us / (floor_us + median_us["handover"] + median_us["checksum"]), 3),
                "wal_entries_per_s": round(args.batch / median_us["WALStore"] * 1e6),
                "floor_entries_per_s": round(args.batch / floor_us * 1e6),
            }
        )
    )


if __name__ == "__main__":
    main()
