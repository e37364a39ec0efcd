"""Benchmark: nohaven's one-pass triple digest against openssl, sha256sum and hashdeep on the same file.

    .venv/bin/python benchmarks/hashing.py [--size 2G] [--runs 3] [--json]

A file of random bytes is written to a temporary directory and read once to warm the page cache, so every
tool reads from memory and the comparison is between hashing engines. The tools run in `--runs` rounds, each
round running every tool once in turn (so a change in the machine's load falls on all of them); the best wall
time counts, and the CPU time (ours: the process's; the others: their child processes') of every run is kept.
`openssl dgst -md5` alone is timed too: one stream's MD5 cannot be split across cores, so it bounds the triple.
Goals (issue 4): triple ≥ 0.9 × three parallel openssl processes (sha256, sha1, md5);
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


def timed(fn: Callable[[], None]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process and the child processes it waited for) of one run."""
    before, t = os.times(), time.perf_counter()
    fn()
    wall, after = time.perf_counter() - t, os.times()
    cpu = sum(getattr(after, f) - getattr(before, f) for f in ("user", "system", "children_user", "children_system"))
    return wall, cpu


def run(cmd: list[str]) -> Callable[[], None]:
    def go() -> None:
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return go


def parallel(cmds: list[list[str]]) -> Callable[[], None]:
    def go() -> None:
        procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in cmds]
        for p in procs:
            if p.wait():
                raise SystemExit(f"{p.args!r} failed")
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
            "openssl dgst -md5 (alone: the triple's bound)": run(["openssl", "dgst", "-md5", p]),
        }
        load_before = os.getloadavg()[0]
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for _ in range(args.runs):
            for name, fn in cases.items():
                runs[name].append(timed(fn))
        load_after = os.getloadavg()[0]
    results = {name: min(w for w, _ in r) for name, r in runs.items()}
    cpu = {name: min(c for _, c in r) for name, r in runs.items()}
    mbps = {k: size / v / 1e6 for k, v in results.items()}
    triple, single = mbps["nohaven triple (sha256+sha1+md5, one pass)"], mbps["nohaven --algo sha256"]
    ratios = {
        "triple / 3 parallel openssl": triple / mbps["openssl sha256 | sha1 | md5 (3 parallel processes)"],
        "sha256 / openssl dgst -sha256": single / mbps["openssl dgst -sha256"],
        "triple / hashdeep -c md5,sha256": triple / mbps["hashdeep -c md5,sha256"],
        "sha256 / hashdeep -c md5,sha256": single / mbps["hashdeep -c md5,sha256"],
        "openssl md5 alone / hashdeep (the triple's ceiling)": mbps["openssl dgst -md5 (alone: the triple's bound)"]
        / mbps["hashdeep -c md5,sha256"],
    }
    goals = {"triple / 3 parallel openssl": 0.9, "sha256 / openssl dgst -sha256": 0.9,
             "triple / hashdeep -c md5,sha256": 5.0, "sha256 / hashdeep -c md5,sha256": 5.0}
    if args.json:
        print(json.dumps({"size": size, "seconds": results, "cpu_seconds": cpu, "MB_per_s": mbps, "ratios": ratios,
                          "load_average": [load_before, load_after], "runs": runs,
                          "goals_met": {k: ratios[k] >= g for k, g in goals.items()}}, indent=2))
    else:
        print(f"file: {size / 1e9:.2f} GB of random bytes (page cache warm), best of {args.runs} rounds, "
              f"{os.cpu_count()} cores, load average {load_before:.1f} before, {load_after:.1f} after")
        for name, seconds in results.items():
            print(f"  {name:55s} {seconds:7.3f} s  {mbps[name]:8.0f} MB/s  CPU {cpu[name]:6.2f} s  "
                  f"(walls {', '.join(f'{w:.2f}' for w, _ in runs[name])})")
        for name, r in ratios.items():
            goal = goals.get(name)
            verdict = f"(goal >= {goal}x: {'met' if r >= goal else 'NOT met'})" if goal else ""
            print(f"  {name:55s} {r:6.2f}x  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
