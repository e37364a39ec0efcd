"""IP data: batch resolution over a full-size synthetic table, our store beside pytricia and a bisect baseline.

    .venv/bin/python benchmarks/ipdata.py [--v4 250000] [--v6 50000] [--queries 1000000] [--repeat 3] [--json]

Builds N IPv4 and M IPv6 non-overlapping CIDR prefixes (IPv4 /16 to /24, IPv6 /29 to /48, random gaps), writes
them as a real ip2asn TSV table and as a real RIR delegated-extended file, loads both through `IpDataStore.load`
(parse, sort, write the arrays) and times the load. Then draws Q random IPv4 addresses (half inside a prefix,
half uniform) and Q/5 IPv6 ones and answers "which AS announces this address" with:

- ours, from integers: `SnapshotView.asn_numbers` over uint32 / 16-byte keys (one `searchsorted` per snapshot);
- ours, from text: the same after `text_keys` parses the address strings;
- pytricia (a C Patricia trie), the same prefixes, looked up one by one from integers (IPv4) or packed bytes
  (IPv6), and from text;
- a pure-Python baseline: `bisect.bisect_right` on a sorted list of first addresses, one query at a time;
- ours, full records: `IpDataStore.lookup_many` (IpRecord objects with prefix, holder, snapshot dates) on a
  sample, since that path builds a Python object per address.

Every method's answers are compared with every other's; the script fails on any difference. Each timing is the
best of `--repeat` runs; ratios are computed within the run. Goal: >= 1 M look-ups/s batched over >= 200 000
prefixes. Results: docs/BENCHMARKS.md, section "ipdata".
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import json
import os
import platform
import random
import socket
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytricia

from nohaven.tracing._ipdata_view import keys_for, text_keys
from nohaven.tracing.ipdata import IpDataStore

DAY = date(2026, 11, 30)
GOAL_PER_SECOND = 1_000_000
GOAL_PREFIXES = 200_000


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prefixes(count: int, bits: int, lengths: tuple[int, int], start: int, rng: random.Random) -> list[tuple[int, int]]:
    """Non-overlapping CIDR prefixes as (first, length), ascending, with random gaps between them."""
    out: list[tuple[int, int]] = []
    cursor = start
    low, high = lengths
    for _ in range(count):
        length = high - int(rng.random() ** 3 * (high - low + 1))  # most prefixes long, a few short
        size = 1 << (bits - length)
        cursor = (cursor + size - 1) // size * size
        if cursor + size > 2**bits:
            break
        out.append((cursor, length))
        cursor += size + size * rng.randrange(0, 3)
    return out


def write_tables(root: Path, v4: list[tuple[int, int]], v6: list[tuple[int, int]]) -> tuple[Path, Path]:
    """The same prefixes as an ip2asn table (AS = 64512 + index) and as a RIR delegated-extended file."""
    tsv, rir = root / "ip2asn-combined.tsv", root / "delegated-bench-extended-20261130"
    with tsv.open("w") as table, rir.open("w") as delegated:
        delegated.write(f"2.3|bench|20261130|{len(v4) + len(v6)}|19700101|20261130|+0000\n")
        for n, (first, length) in enumerate(v4):
            a, b = ipaddress.IPv4Address(first), ipaddress.IPv4Address(first + (1 << (32 - length)) - 1)
            table.write(f"{a}\t{b}\t{64512 + n}\tXA\tHolder {n}\n")
            delegated.write(f"bench|XA|ipv4|{a}|{1 << (32 - length)}|20200101|allocated|h{n}\n")
        for n, (first, length) in enumerate(v6, start=len(v4)):
            c, d = ipaddress.IPv6Address(first), ipaddress.IPv6Address(first + (1 << (128 - length)) - 1)
            table.write(f"{c}\t{d}\t{64512 + n}\tXB\tHolder {n}\n")
            delegated.write(f"bench|XB|ipv6|{c}|{length}|20200101|allocated|h{n}\n")
    return tsv, rir


def queries(table: list[tuple[int, int]], bits: int, count: int, rng: random.Random) -> list[int]:
    """Half inside a random prefix, half uniform over the space (mostly misses for IPv6)."""
    out = []
    for n in range(count):
        if n % 2:
            out.append(rng.getrandbits(bits))
        else:
            first, length = table[rng.randrange(len(table))]
            out.append(first + rng.getrandbits(bits - length) if length < bits else first)
    return out


def best(repeat: int, work: Callable[[], Any]) -> tuple[float, Any]:
    """Fastest of `repeat` runs (seconds) and the result of the last."""
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - began)
    return min(times), result


def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    v4 = prefixes(args.v4, 32, (16, 24), 1 << 24, rng)
    v6 = prefixes(args.v6, 128, (29, 48), 0x2000 << 112, rng)
    log(f"{len(v4)} IPv4 and {len(v6)} IPv6 prefixes")
    results: dict[str, Any] = {"v4_prefixes": len(v4), "v6_prefixes": len(v6), "queries_v4": args.queries,
                               "queries_v6": args.queries // 5, "python": platform.python_version(),
                               "numpy": np.__version__, "cpus": os.cpu_count(),
                               "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        tsv, rir = write_tables(root, v4, v6)
        store = IpDataStore(root / "store")
        began = time.perf_counter()
        info = store.load(tsv, kind="ip2asn", snapshot_date=DAY)
        results["load_ip2asn_s"] = time.perf_counter() - began
        began = time.perf_counter()
        store.load(rir)
        results["load_rir_s"] = time.perf_counter() - began
        results["store_bytes"] = sum(p.stat().st_size for p in (root / "store").glob("*.npz"))
        assert info.bad_count == 0 and info.v4_ranges == len(v4) and info.v6_ranges == len(v6)
        log(f"loaded: ip2asn {results['load_ip2asn_s']:.1f} s, RIR {results['load_rir_s']:.1f} s")

        q4 = queries(v4, 32, args.queries, rng)
        q6 = queries(v6, 128, args.queries // 5, rng)
        t4 = [str(ipaddress.IPv4Address(q)) for q in q4]
        t6 = [str(ipaddress.IPv6Address(q)) for q in q6]
        k4, k6 = keys_for(4, q4), keys_for(6, q6)
        p6 = [socket.inet_pton(socket.AF_INET6, t) for t in t6]
        view = store.view()

        results["ours_int_v4_s"], ours4 = best(args.repeat, lambda: view.asn_numbers(4, k4))
        results["ours_int_v6_s"], ours6 = best(args.repeat, lambda: view.asn_numbers(6, k6))
        results["ours_text_v4_s"], text4 = best(args.repeat, lambda: view.asn_numbers(4, text_keys(4, t4)))
        results["ours_text_v6_s"], text6 = best(args.repeat, lambda: view.asn_numbers(6, text_keys(6, t6)))
        log("ours done")

        began = time.perf_counter()
        trie4, trie6 = pytricia.PyTricia(32), pytricia.PyTricia(128)
        for n, (first, length) in enumerate(v4):
            trie4.insert(f"{ipaddress.IPv4Address(first)}/{length}", 64512 + n)
        for n, (first, length) in enumerate(v6, start=len(v4)):
            trie6.insert(f"{ipaddress.IPv6Address(first)}/{length}", 64512 + n)
        results["pytricia_build_s"] = time.perf_counter() - began
        get4, get6 = trie4.get, trie6.get
        results["pytricia_int_v4_s"], tri4 = best(args.repeat, lambda: [get4(q) for q in q4])
        results["pytricia_int_v6_s"], tri6 = best(args.repeat, lambda: [get6(q) for q in p6])
        results["pytricia_text_v4_s"], _ = best(args.repeat, lambda: [get4(t) for t in t4])
        results["pytricia_text_v6_s"], _ = best(args.repeat, lambda: [get6(t) for t in t6])
        log("pytricia done")

        firsts4 = [f for f, _ in v4]
        lasts4 = [f + (1 << (32 - length)) - 1 for f, length in v4]
        asns4 = [64512 + n for n in range(len(v4))]

        def bisect_v4() -> list[int | None]:
            out: list[int | None] = []
            for q in q4:
                i = bisect.bisect_right(firsts4, q) - 1
                out.append(asns4[i] if i >= 0 and q <= lasts4[i] else None)
            return out

        results["bisect_v4_s"], bis4 = best(args.repeat, bisect_v4)
        log("bisect done")

        sample = t4[: args.records]
        results["records_sample"] = len(sample)
        results["records_v4_s"], records = best(1, lambda: store.lookup_many(sample))

        mismatches = sum(int(a) != (b or 0) for a, b in zip(ours4, tri4, strict=True))
        mismatches += sum(int(a) != (b or 0) for a, b in zip(ours6, tri6, strict=True))
        mismatches += sum(int(a) != (b or 0) for a, b in zip(ours4, bis4, strict=True))
        mismatches += int(np.count_nonzero(ours4 != text4) + np.count_nonzero(ours6 != text6))
        mismatches += sum((r.asn if r else 0) != int(a) for r, a in zip(records, ours4, strict=False))
        results["mismatches"] = mismatches
        results["hits_v4"] = int(np.count_nonzero(ours4))
        results["hits_v6"] = int(np.count_nonzero(ours6))
    n4, n6 = args.queries, args.queries // 5
    counted = [("ours_int_v4", n4), ("ours_text_v4", n4), ("pytricia_int_v4", n4), ("pytricia_text_v4", n4),
               ("bisect_v4", n4), ("ours_int_v6", n6), ("ours_text_v6", n6), ("pytricia_int_v6", n6),
               ("pytricia_text_v6", n6), ("records_v4", results["records_sample"])]
    rate = {name: count / results[f"{name}_s"] for name, count in counted}
    results["per_second"] = rate
    results["ratios"] = {
        "ours_int_v4 / pytricia_int_v4": rate["ours_int_v4"] / rate["pytricia_int_v4"],
        "ours_int_v6 / pytricia_int_v6": rate["ours_int_v6"] / rate["pytricia_int_v6"],
        "ours_text_v4 / pytricia_text_v4": rate["ours_text_v4"] / rate["pytricia_text_v4"],
        "ours_text_v6 / pytricia_text_v6": rate["ours_text_v6"] / rate["pytricia_text_v6"],
        "ours_int_v4 / bisect_v4": rate["ours_int_v4"] / rate["bisect_v4"],
    }
    results["goal_met"] = (len(v4) + len(v6) >= GOAL_PREFIXES and rate["ours_int_v4"] >= GOAL_PER_SECOND
                           and rate["ours_text_v4"] >= GOAL_PER_SECOND)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--v4", type=int, default=250_000, help="IPv4 prefixes")
    parser.add_argument("--v6", type=int, default=50_000, help="IPv6 prefixes")
    parser.add_argument("--queries", type=int, default=1_000_000, help="IPv4 queries (IPv6: a fifth)")
    parser.add_argument("--records", type=int, default=100_000, help="sample for the full-record path")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"prefixes: {results['v4_prefixes']} IPv4 + {results['v6_prefixes']} IPv6; load ip2asn "
              f"{results['load_ip2asn_s']:.2f} s, RIR {results['load_rir_s']:.2f} s, arrays on disk "
              f"{results['store_bytes'] / 2**20:.1f} MiB; pytricia build {results['pytricia_build_s']:.2f} s")
        for name, value in results["per_second"].items():
            print(f"  {name:<20} {value / 1e6:8.3f} M look-ups/s")
        for name, value in results["ratios"].items():
            print(f"  {name:<34} {value:6.2f}x")
        print(f"hits: {results['hits_v4']} of {results['queries_v4']} IPv4, {results['hits_v6']} of "
              f"{results['queries_v6']} IPv6; mismatches between methods: {results['mismatches']}; "
              f"goal (>= 1 M/s over >= 200 000 prefixes): {'met' if results['goal_met'] else 'NOT met'}; "
              f"load average {results['load_average']:.1f}")
    return 1 if results["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
