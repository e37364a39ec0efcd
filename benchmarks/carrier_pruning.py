"""Carrier benchmark: port-block and IPv6 subscriber lookups, pruned by page statistics or not, side by side.

Generates one UTC day of N Junos port blocks (`juniper-pba`, an allocation and a release line each, 256-port
blocks of N/250 public IPv4 addresses, held 1 min to 1 h) and N Kea DHCPv6 leases (`kea-csv`: half IA_NA
addresses in eight /64 pools, half delegated /56 prefixes, one hour each), ingests both into a store, then times
the same block and identity statements (engines.block_sql, engines.identity_sql; Q queries each, half hits, half
misses) three ways on the same day:

- `pruned`: the tables as built (layout 3: the addresses a lookup filters on as variable-length binary, the
  blocks' private address without a dictionary);
- `full scan`: the same statement on the same files with the scan's filter pushdown switched off (DuckDB's
  filter_pushdown optimizer, Spark's spark.sql.parquet.filterPushdown), so every page is read;
- `layout 2`: the same statement on a copy of the day written as the previous layout did (16-byte fixed-length
  addresses, a dictionary for the blocks' private addresses), made here from the same rows.

Every variant must give the same rows for every query (the run fails otherwise). Each latency is the best of
--repeat passes over the queries (the machine is shared); the bytes DuckDB read per statement come from its
profile, the rows Spark's Parquet scan returned from the scan's metrics. Spark runs --spark-queries of the
queries (it costs ~0.1-1 s a statement), or none with 0.

    python benchmarks/carrier_pruning.py --rows 1e6 --out /tmp/pruning-bench
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from nohaven.carrier.engines import DuckDBEngine, SparkEngine, block_sql, identity_sql
from nohaven.carrier.ingest import ingest
from nohaven.carrier.ipaddr import to_bytes
from nohaven.carrier.store import _SORT, Store, write_parquet

DAY0 = 1_795_737_600  # 2026-11-27T00:00:00Z
KEA6 = ("address,duid,valid_lifetime,expire,subnet_id,pref_lifetime,lease_type,iaid,prefix_len,fqdn_fwd,fqdn_rev,"
        "hostname,hwaddr,state,user_context,hwtype,hwaddr_source,pool_id")
OLD_PLAIN = {"blocks": (), "identity": ("ip_lo", "ip_hi", "subscriber", "station", "mac", "hostname", "session")}


def stamp(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000Z"


class Day:
    """The generated day: every block's and lease's values, drawn from one seed."""

    def __init__(self, rows: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.rows = rows
        self.alloc = DAY0 + 60 + rng.integers(0, 84_000, rows)
        self.release = self.alloc + rng.integers(60, 3600, rows)
        self.expire = DAY0 + 3600 + 60 + rng.integers(0, 82_000, rows)
        self.iid = rng.integers(0, 1 << 62, rows)

    def block(self, i: int) -> tuple[str, int, str]:
        ip = i // 250
        return (f"203.0.{ip // 256}.{ip % 256}", 1024 + (i % 250) * 256,
                f"100.{64 + i % 64}.{(i // 64) % 256}.{(i // 16384) % 256}")

    def lease(self, i: int) -> tuple[str, int, str]:
        mac = f"02:00:5e:{i % 256:02x}:{i // 256 % 256:02x}:{i // 65536 % 256:02x}"
        if i % 2:
            return f"2001:db8:{0x1000 + (i // 512) % 61440:x}:{(i % 256) * 256:x}::", 56, mac
        return str(ipaddress.IPv6Address((0x20010DB8000A << 80) | ((i % 8) << 64) | int(self.iid[i]))), 128, mac

    def write(self, folder: Path) -> list[Path]:
        pba = folder / "pba.log"
        times = np.concatenate([self.alloc, self.release])
        with pba.open("w") as out:
            for k in np.argsort(times, kind="stable"):
                i, kind = int(k % self.rows), ("ALLOC" if k < self.rows else "RELEASE")
                t = int(times[k])
                public, low, private = self.block(i)
                out.write(f'<14>1 {stamp(t)} mx-cgn-1 RT_NAT - RT_SRC_NAT_PBA_{kind} [junos@2636.1.1.1.2.26 '
                          f'internal-ip="{private}" block-port-low="{low}" block-port-high="{low + 255}" '
                          f'reflexive-ip="{public}" nat-pool-name="cgn-pool" epoch-time-64="{t:x}"]\n')
        kea = folder / "kea6.csv"
        with kea.open("w") as out:
            out.write(KEA6 + "\n")
            for i in np.argsort(self.expire, kind="stable"):
                address, length, mac = self.lease(int(i))
                out.write(f"{address},00:03:00:01:{mac},3600,{int(self.expire[i])},1,1800,{2 if length < 128 else 0},"
                          f"{i},{length},0,0,,{mac},0,,1,0,0\n")
        return [pba, kea]


def statements(store: Store, day: Day, queries: int, seed: int) -> dict[str, list[tuple[list[str], str]]]:
    """Block and identity statements: half hits (inside a block's or lease's interval), half misses."""
    rng = np.random.default_rng(seed + 1)
    out: dict[str, list[tuple[list[str], str]]] = {"blocks": [], "identity": []}
    for n, i in enumerate(rng.integers(0, day.rows, queries)):
        i = int(i)
        public, low, _ = day.block(i)
        at = int(day.alloc[i]) + 30 if n % 2 == 0 else int(day.release[i]) + 4000  # a miss: after the release
        lo, hi = at * 1000 - 2000, at * 1000 + 2000
        out["blocks"].append((store.day_files("blocks", lo, hi),
                              block_sql("{t}", to_bytes(public), low + int(rng.integers(0, 256)), lo, hi)))
        address, length, _ = day.lease(i)
        net = ipaddress.IPv6Network(f"{address}/{length}")
        ip = net[(0x42 << 64) + 1] if length == 56 else net[0]
        if n % 2:  # a miss: a neighbour of the address or prefix, which no lease holds in this day
            ip = ip + (0x8000 << 80) if length == 56 else ip + (1 << 63)
        at = int(day.expire[i]) - 1800
        lo, hi = at * 1000 - 2000, at * 1000 + 2000
        out["identity"].append((store.day_files("identity", lo, hi), identity_sql("{t}", ip.packed, lo, hi)))
    return out


def previous_layout(store: Store, folder: Path) -> dict[str, str]:
    """The store's day files written again as layout 2 did; returns new file -> old file."""
    mapping = {}
    for name in ("blocks", "identity"):
        for path in sorted((store.tables_dir / name).rglob("*.parquet")):
            table = pq.read_table(path)
            for column in ("pub_ip", "ip_lo", "ip_hi"):
                if column in table.schema.names:
                    index = table.schema.get_field_index(column)
                    table = table.set_column(index, column, table.column(column).cast(pa.binary(16)))
            target = folder / path.relative_to(store.tables_dir)
            write_parquet(table, target, _SORT[name], (), OLD_PLAIN[name])
            mapping[str(path)] = str(target)
    return mapping


def percentiles(seconds: list[float]) -> tuple[float, float]:
    return float(np.percentile(seconds, 50) * 1000), float(np.percentile(seconds, 99) * 1000)


def time_duckdb(engine: DuckDBEngine, stmts: list[tuple[list[str], str]], repeat: int,
                full_scan: bool) -> tuple[tuple[float, float], list[list[str]]]:
    engine.con.execute(f"SET disabled_optimizers = '{'filter_pushdown' if full_scan else ''}'")
    best: tuple[float, float] | None = None
    answers: list[list[str]] = []
    try:
        for files, sql in stmts[:20]:
            engine.rows(files, sql)  # warm the metadata cache, as a run of many lookups does
        for _ in range(repeat):
            seconds, answers = [], []
            for files, sql in stmts:
                t0 = time.perf_counter()
                rows = engine.rows(files, sql)
                seconds.append(time.perf_counter() - t0)
                answers.append(sorted(map(repr, rows)))
            p = percentiles(seconds)
            best = p if best is None or p[0] < best[0] else best
    finally:
        engine.con.execute("SET disabled_optimizers = ''")
    assert best is not None
    return best, answers


def duckdb_bytes(engine: DuckDBEngine, stmts: list[tuple[list[str], str]], full_scan: bool) -> int:
    """Median bytes read per statement, from DuckDB's profile."""
    out = []
    fd, name = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    engine.con.execute(f"SET disabled_optimizers = '{'filter_pushdown' if full_scan else ''}'")
    try:
        for files, sql in stmts[:50]:
            engine.con.execute("PRAGMA enable_profiling = 'json'")
            engine.con.execute(f"SET profiling_output = '{name}'")
            engine.rows(files, sql)
            engine.con.execute("PRAGMA disable_profiling")
            out.append(json.loads(Path(name).read_text())["io"]["total_bytes_read"])
    finally:
        engine.con.execute("SET disabled_optimizers = ''")
        os.unlink(name)
    return int(np.median(out))


def time_spark(engine: SparkEngine, stmts: list[tuple[list[str], str]],
               full_scan: bool) -> tuple[tuple[float, float], int, list[list[str]]]:
    spark = engine.spark
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # scans as the plan's leaves, to read their row counts
    spark.conf.set("spark.sql.parquet.filterPushdown", "false" if full_scan else "true")
    views: dict[tuple[str, ...], str] = {}
    seconds, scanned, answers = [], [], []
    try:
        for files, sql in stmts:
            key = tuple(files)
            if key not in views:
                views[key] = f"bench{len(views)}"
                spark.read.parquet(*files).createOrReplaceTempView(views[key])
            frame = spark.sql(sql.format(t=views[key]))
            t0 = time.perf_counter()
            rows = frame.collect()
            seconds.append(time.perf_counter() - t0)
            answers.append(sorted(repr({k: bytes(v) if isinstance(v, bytearray) else v
                                        for k, v in r.asDict().items()}) for r in rows))
            leaves = frame._jdf.queryExecution().executedPlan().collectLeaves().iterator()
            total = 0
            while leaves.hasNext():
                metric = leaves.next().metrics().get("numOutputRows")
                total += int(metric.get().value()) if metric.isDefined() else 0
            scanned.append(total)
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")
        spark.conf.unset("spark.sql.parquet.filterPushdown")
    return percentiles(seconds[2:] or seconds), int(np.median(scanned)), answers


def size(paths: list[str]) -> int:
    return sum(os.path.getsize(p) for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=float, default=1e6, help="blocks and leases each (default 1e6)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--spark-queries", type=int, default=40, help="0: no Spark")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the queries; the best is kept")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "carrier-pruning-bench")
    args = parser.parse_args()
    rows = int(args.rows)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    day = Day(rows, args.seed)
    t0 = time.perf_counter()
    files = day.write(args.out)
    generated = time.perf_counter() - t0
    store = Store(args.out / "store")
    t0 = time.perf_counter()
    result = ingest(store, [str(p) for p in files])
    ingested = time.perf_counter() - t0
    old = previous_layout(store, args.out / "layout2")
    stmts = statements(store, day, args.queries, args.seed)
    report: dict[str, Any] = {"rows": rows, "queries": args.queries, "repeat": args.repeat,
                              "tables": result.tables, "generate_s": round(generated, 1),
                              "ingest_s": round(ingested, 1), "duckdb": {}, "spark": {}, "bytes": {}}
    for name in ("blocks", "identity"):
        new_files = sorted(str(p) for p in (store.tables_dir / name).rglob("*.parquet"))
        report["bytes"][name] = {"layout 3": size(new_files), "layout 2": size([old[f] for f in new_files])}
    engine = DuckDBEngine()
    try:
        for name, items in stmts.items():
            layout2 = [([old[f] for f in files], sql) for files, sql in items]
            timings, answers = {}, {}
            for variant, chosen, full in (("pruned", items, False), ("full scan", items, True),
                                          ("layout 2", layout2, False)):
                timings[variant], answers[variant] = time_duckdb(engine, chosen, args.repeat, full)
                report["duckdb"].setdefault(name, {})[variant] = {
                    "p50_ms": round(timings[variant][0], 2), "p99_ms": round(timings[variant][1], 2),
                    "bytes_read": duckdb_bytes(engine, chosen, full)}
            if not answers["pruned"] == answers["full scan"] == answers["layout 2"]:
                raise SystemExit(f"DuckDB {name}: the variants' answers differ")
            report["duckdb"][name]["hits"] = sum(1 for a in answers["pruned"] if a)
    finally:
        engine.close()
    if args.spark_queries:
        spark = SparkEngine()
        for name, items in stmts.items():
            chosen = items[:args.spark_queries]
            layout2 = [([old[f] for f in files], sql) for files, sql in chosen]
            answers = {}
            for variant, stmt, full in (("pruned", chosen, False), ("full scan", chosen, True),
                                        ("layout 2", layout2, False)):
                (p50, p99), scanned, answers[variant] = time_spark(spark, stmt, full)
                report["spark"].setdefault(name, {})[variant] = {"p50_ms": round(p50, 1), "p99_ms": round(p99, 1),
                                                                 "rows_scanned": scanned}
            if not answers["pruned"] == answers["full scan"] == answers["layout 2"]:
                raise SystemExit(f"Spark {name}: the variants' answers differ")
        spark.close()
    print(f"{rows:,} blocks and {rows:,} IPv6 leases; generated in {generated:.1f} s, ingested in {ingested:.1f} s")
    for name in ("blocks", "identity"):
        sizes = report["bytes"][name]
        print(f"\n{name}: {sizes['layout 3']:,} bytes on disk (layout 2: {sizes['layout 2']:,})")
        for engine_name, unit in (("duckdb", "bytes_read"), ("spark", "rows_scanned")):
            for variant, r in report[engine_name].get(name, {}).items():
                if isinstance(r, dict):
                    print(f"  {engine_name:7s} {variant:10s} p50 {r['p50_ms']:9.2f} ms  p99 {r['p99_ms']:9.2f} ms  "
                          f"{unit.replace('_', ' ')} {r[unit]:>12,}")
    (args.out / "carrier_pruning.json").write_text(json.dumps(report, indent=1))
    print(f"\nJSON: {args.out / 'carrier_pruning.json'}")


if __name__ == "__main__":
    main()
