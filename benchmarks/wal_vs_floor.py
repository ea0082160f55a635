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

from raftstore.bench.logstore import ENTRY_BYTES, LogBackend, make_batches, wal_bytes
from raftstore.logstore._wal import crc32c, read_entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=1024, help="entries per durable append")
    parser.add_argument("--batches", type=int, default=300, help="batches appended to each contender")
    parser.add_argument("--dir", type=Path, default=None, help="where the files go (default: a temporary dir)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wal-vs-floor-", dir=args.dir))
    payload = os.urandom(ENTRY_BYTES)
    contenders: dict[str, LogBackend] = {}
    try:
        # The stores and the floor as the benchmarks set them up: each WAL settled (entry 1 appended, its next
        # segment already zero-filled), the floor preallocated for every batch.
        for name, backend in (("WALStore", "WALStore"), ("encoded", LogBackend.encoded)):
            contenders[name] = LogBackend(backend, root / name)
            contenders[name].settle(payload=payload)
        batches = make_batches(2, args.batches, args.batch, ENTRY_BYTES, payload=payload)
        prepared = {name: [b.prepare(batch) for batch in batches] for name, b in contenders.items()}
        floor_bytes = wal_bytes(batches[0])  # every batch's frames and commit frame have this size
        contenders["floor"] = LogBackend("floor (preallocated)", root / "floor", room=len(floor_bytes) * args.batches)
        prepared["floor"] = [floor_bytes] * args.batches
        times: dict[str, list[float]] = {name: [] for name in [*contenders, "handover", "checksum"]}
        clock = time.perf_counter
        for k, batch in enumerate(batches):
            for name, backend in contenders.items():
                start = clock()
                backend.append(batch, prepared[name][k])
                times[name].append(clock() - start)
            start = clock()
            read_entries(batch)
            times["handover"].append(clock() - start)
            start = clock()
            crc32c(floor_bytes)
            times["checksum"].append(clock() - start)
    finally:
        for backend in contenders.values():
            backend.close()
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
