"""Benchmark: nohaven's one-pass triple digest against openssl, sha256sum and hashdeep on the same file.

    .venv/bin/python benchmarks/hashing.py [--size 2G] [--runs 3] [--json]

A file of random bytes is written to a temporary directory and read once to warm the page cache, so every
tool reads from memory and the comparison is between hashing engines. Each tool runs `--runs` times; the best
wall time counts. Goals (issue 4): triple ≥ 0.9 × three parallel openssl processes (sha256, sha1, md5);
`--algo sha256` ≥ 0.9 × `openssl dgst -sha256`; both ≥ 5 × `hashdeep -c md5,sha256`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from nohaven.evidence.hashing import MultiHasher

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    text = text.strip().upper().removesuffix("B")
    return int(float(text[:-1]) * UNITS[text[-1]]) if text[-1] in UNITS else int(text)


def make_file(path: Path, size: int) -> None:
    block = os.urandom(16 << 20)
    with open(path, "wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)


def best(runs: int, fn: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def run(cmd: list[str]) -> Callable[[], None]:
    return lambda: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def parallel(cmds: list[list[str]]) -> Callable[[], None]:
    def go() -> None:
        procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in cmds]
        for p in procs:
            if p.wait():
                raise SystemExit(f"{p.args} failed")
    return go


def ours(path: Path, algos: tuple[str, ...]) -> Callable[[], None]:
    def go() -> None:
        with MultiHasher(algos) as h:
            h.hash_file(path)
    return go


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2G")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    missing = [t for t in ("openssl", "sha256sum", "hashdeep") if shutil.which(t) is None]
    if missing:
        print(f"missing tools: {', '.join(missing)} (apt-get install openssl coreutils hashdeep)", file=sys.stderr)
        return 2
    size = parse_size(args.size)
    with tempfile.TemporaryDirectory(prefix="nohaven-bench-hash-") as tmp:
        path = Path(tmp) / "data.bin"
        make_file(path, size)
        subprocess.run(["cat", str(path)], check=True, stdout=subprocess.DEVNULL)  # warm the page cache
        p = str(path)
        cases = {
            "nohaven triple (sha256+sha1+md5, one pass)": ours(path, ("sha256", "sha1", "md5")),
            "nohaven --algo sha256": ours(path, ("sha256",)),
            "openssl dgst -sha256": run(["openssl", "dgst", "-sha256", p]),
            "sha256sum": run(["sha256sum", p]),
            "openssl sha256 | sha1 | md5 (3 parallel processes)": parallel(
                [["openssl", "dgst", f"-{a}", p] for a in ("sha256", "sha1", "md5")]),
            "hashdeep -c md5,sha256": run(["hashdeep", "-c", "md5,sha256", p]),
        }
        results = {name: best(args.runs, fn) for name, fn in cases.items()}
    mbps = {k: size / v / 1e6 for k, v in results.items()}
    triple, single = mbps["nohaven triple (sha256+sha1+md5, one pass)"], mbps["nohaven --algo sha256"]
    ratios = {
        "triple / 3 parallel openssl": triple / mbps["openssl sha256 | sha1 | md5 (3 parallel processes)"],
        "sha256 / openssl dgst -sha256": single / mbps["openssl dgst -sha256"],
        "triple / hashdeep -c md5,sha256": triple / mbps["hashdeep -c md5,sha256"],
        "sha256 / hashdeep -c md5,sha256": single / mbps["hashdeep -c md5,sha256"],
    }
    goals = {"triple / 3 parallel openssl": 0.9, "sha256 / openssl dgst -sha256": 0.9,
             "triple / hashdeep -c md5,sha256": 5.0, "sha256 / hashdeep -c md5,sha256": 5.0}
    if args.json:
        print(json.dumps({"size": size, "seconds": results, "MB_per_s": mbps, "ratios": ratios,
                          "goals_met": {k: ratios[k] >= g for k, g in goals.items()}}, indent=2))
    else:
        print(f"file: {size / 1e9:.2f} GB of random bytes (page cache warm), best of {args.runs}, "
              f"{os.cpu_count()} cores")
        for name, seconds in results.items():
            print(f"  {name:55s} {seconds:7.3f} s  {mbps[name]:8.0f} MB/s")
        for name, r in ratios.items():
            print(f"  {name:55s} {r:6.2f}x  (goal >= {goals[name]}x: {'met' if r >= goals[name] else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
