"""Benchmark: the custody log — 1 M appends and a signed checkpoint; inclusion and consistency verification.

    .venv/bin/python benchmarks/custody.py [--events 1000000] [--batch 10000] [--json]

Appends go to a real `FileCustodyLog` in a temporary directory, in batches of `--batch` events (one write and
one fsync per batch; each event is made, checked, canonicalised and hashed into the tree). Then one checkpoint
is signed. Beside it, in the same run, the floor: the same lines hashed (leaves and interior nodes, hashlib) and
written in the same batches, with nothing else; the ratio says how far above that floor the log is.
Verification is timed on proofs for random leaves / random old sizes of the full tree, as µs per verification
(proof generation not included). Goals (issue 4): appends + checkpoint < 10 s for 1 M events;
each verification < 100 µs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from nohaven.evidence.custody import FileCustodyLog, make_event
from nohaven.evidence.merkle import leaf_hash, verify_consistency, verify_inclusion
from nohaven.evidence.note import NoteSigner


def floor(lines_from: Path, out: Path, batch: int) -> tuple[float, float]:
    """The least any such log must do, timed on the very lines ours wrote (so no event making, no JSON): hash
    every leaf and every interior node with hashlib, and write the lines in the same batches, one fsync each."""
    lines = lines_from.read_bytes().split(b"\n")[:-1]
    sha256 = hashlib.sha256
    t0, c0 = time.perf_counter(), time.process_time()
    with open(out, "wb") as f:
        level: list[bytes] = []
        for first in range(0, len(lines), batch):
            chunk = lines[first:first + batch]
            level.extend(sha256(b"\x00" + line).digest() for line in chunk)
            f.write(b"\n".join(chunk) + b"\n")
            f.flush()
            os.fsync(f.fileno())
        while len(level) > 1:  # the interior nodes (RFC 9162 pairs the left-most complete subtrees first)
            pairs = [sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
            level = pairs + level[len(pairs) * 2:]
    return time.perf_counter() - t0, time.process_time() - c0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--proofs", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    signer = NoteSigner.generate("bench.example/custody")
    start_at = datetime(2026, 1, 1, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="nohaven-bench-custody-") as tmp:
        log = FileCustodyLog.create(Path(tmp) / "custody", "bench.example/custody")
        t0, c0 = time.perf_counter(), time.process_time()
        for first in range(0, args.events, args.batch):
            log.append_many(
                make_event("accessed", at=start_at + timedelta(seconds=i), actor="examiner-7", case="CASE-2026-0042",
                           items=[f"{i:064x}"], details={"reason": "review", "n": i})
                for i in range(first, min(first + args.batch, args.events)))
        t_append, cpu_append = time.perf_counter() - t0, time.process_time() - c0
        t1 = time.perf_counter()
        note = log.checkpoint(signer)
        t_checkpoint = time.perf_counter() - t1
        size = log.size
        root = log.root()
        rng = random.Random(7)
        inclusion = []
        for _ in range(args.proofs):
            i = rng.randrange(size)
            inclusion.append((i, leaf_hash(log.event_bytes(i)), log.inclusion_proof(i)))
        t2 = time.perf_counter()
        for i, leaf, proof in inclusion:
            verify_inclusion(i, size, leaf, proof, root)
        t_inclusion = (time.perf_counter() - t2) / len(inclusion) * 1e6
        consistency = []
        for _ in range(args.proofs):
            old = rng.randrange(1, size)
            consistency.append((old, log.root(old), log.consistency_proof(old)))
        t3 = time.perf_counter()
        for old, old_root, proof in consistency:
            verify_consistency(old, size, old_root, root, proof)
        t_consistency = (time.perf_counter() - t3) / len(consistency) * 1e6
        log_path = Path(tmp) / "custody" / "events.jsonl"
        log_bytes = log_path.stat().st_size
        t_floor, cpu_floor = floor(log_path, Path(tmp) / "floor.jsonl", args.batch)
    result = {"events": size, "batch": args.batch, "append_s": t_append, "checkpoint_s": t_checkpoint,
              "append_plus_checkpoint_s": t_append + t_checkpoint, "log_bytes": log_bytes,
              "append_cpu_s": cpu_append, "append_cpu_us_per_event": cpu_append / size * 1e6,
              "floor_s": t_floor, "floor_cpu_s": cpu_floor, "cpu_ratio_to_floor": cpu_append / cpu_floor,
              "ratio_to_floor": (t_append + t_checkpoint) / t_floor,
              "load_average": os.getloadavg()[0],
              "inclusion_verify_us": t_inclusion, "consistency_verify_us": t_consistency,
              "checkpoint": note.serialize().decode()}
    scale = 1_000_000 / size
    goals = {"append+checkpoint < 10 s per 1 M": (t_append + t_checkpoint) * scale < 10,
             "inclusion verify < 100 us": t_inclusion < 100, "consistency verify < 100 us": t_consistency < 100}
    if args.json:
        print(json.dumps({**result, "goals_met": goals}, indent=2))
    else:
        print(f"{size} events in batches of {args.batch}: appends {t_append:.2f} s ({cpu_append:.2f} s of CPU, "
              f"{cpu_append / size * 1e6:.2f} us per event), "
              f"checkpoint {t_checkpoint:.3f} s, total {t_append + t_checkpoint:.2f} s; log {log_bytes / 1e6:.0f} MB")
        print(f"floor (the same lines: leaf and node hashes with hashlib, written in the same batches with one "
              f"fsync each): {t_floor:.2f} s ({cpu_floor:.2f} s of CPU); "
              f"ours is {(t_append + t_checkpoint) / t_floor:.1f}x the floor ({cpu_append / cpu_floor:.1f}x in CPU); "
              f"load average {os.getloadavg()[0]:.1f}")
        print(f"inclusion verification {t_inclusion:.1f} us, consistency verification {t_consistency:.1f} us "
              f"(mean of {args.proofs} each)")
        for goal, met in goals.items():
            print(f"  {goal}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
