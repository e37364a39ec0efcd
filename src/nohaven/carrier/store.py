"""The carrier store on disk, and the build that turns per-source events into sorted interval tables.

    STORE/
      sources/<sha256>.json        one per ingested source: name, digests, format, zone, counts (commit marker)
      raw/<sha256>.zst             the source's text, zstd-compressed (provenance: raw lines by number)
      events/<sha256>.parquet      its normalised events, with line numbers
      rejects/<sha256>.tsv         its rejected lines: file, line, reason, text
      tables/BUILD.json            which sources the tables were built from
      tables/nat/day=YYYY-MM-DD/part-0.parquet       one public port:  sorted by (pub_ip, pub_port, start_ms)
      tables/blocks/day=YYYY-MM-DD/part-0.parquet    a public port range (port blocks, address mappings)
      tables/identity/day=YYYY-MM-DD/part-0.parquet  who held a private address or prefix (RADIUS, DHCP)

An interval is written into every UTC day partition it overlaps (its slack included), so a lookup reads only
the days of its window. The tables are derived: they are rebuilt from the events whenever the set of sources
changes, into a fresh directory that replaces the old one, so an interrupted build leaves the old tables or
none, and a build from the same sources writes the same bytes.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nohaven.carrier.errors import StoreError
from nohaven.carrier.ipaddr import V4_PREFIX
from nohaven.carrier.schema import BLOCK_SCHEMA, IDENTITY_SCHEMA, IP, NAT_SCHEMA
from nohaven.carrier.timeparse import FLAG_END_OPEN, FLAG_START_UNKNOWN

__all__ = ["TABLES", "Store", "write_parquet"]

DAY_MS = 86_400_000
TABLES = {"nat": NAT_SCHEMA, "blocks": BLOCK_SCHEMA, "identity": IDENTITY_SCHEMA}
_SORT = {"nat": ("pub_ip", "pub_port", "start_ms"), "blocks": ("pub_ip", "pub_port", "start_ms"),
         "identity": ("ip_lo", "start_ms")}
ROW_GROUP = 64 * 1024


# Integer columns of the NAT table whose values are close to random once sorted by public address and port
# (start, private port, duration, lines): split into byte streams, their constant high bytes compress away
# (measured in BENCHMARKS.md). DuckDB reads this encoding for integers only, so addresses keep dictionaries.
_BYTE_STREAMS = {"nat": ("start_ms", "dur_ms", "priv_v4", "priv_port", "line", "end_dline")}


def write_parquet(table: pa.Table, path: Path, sort: tuple[str, ...] = (), byte_streams: tuple[str, ...] = ()) -> None:
    """Write compactly and reproducibly: zstd, dictionaries for addresses, delta encoding for sorted integers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    dictionary = [f.name for f in table.schema if pa.types.is_binary(f.type) or pa.types.is_fixed_size_binary(f.type)
                  or pa.types.is_string(f.type) or f.name in ("src", "end_src", "flags", "proto", "nlines",
                                                              "end_nlines", "slack_ms")]
    encoding = {f.name: "BYTE_STREAM_SPLIT" if f.name in byte_streams else "DELTA_BINARY_PACKED"
                for f in table.schema if pa.types.is_integer(f.type) and f.name not in dictionary}
    pq.write_table(table, tmp, compression="zstd", compression_level=15, use_dictionary=dictionary,
                   column_encoding=encoding, row_group_size=ROW_GROUP, write_statistics=True,
                   sorting_columns=[pq.SortingColumn(table.schema.get_field_index(c)) for c in sort] or None,
                   store_schema=False)
    os.replace(tmp, path)


@dataclass
class Store:
    """A carrier store directory."""

    root: Path

    def __post_init__(self) -> None:
        self.root = Path(self.root)

    # -- layout -------------------------------------------------------------------------------------------------
    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    def marker(self, sha: str) -> Path:
        return self.root / "sources" / f"{sha}.json"

    def raw_path(self, sha: str) -> Path:
        return self.root / "raw" / f"{sha}.zst"

    def events_path(self, sha: str) -> Path:
        return self.root / "events" / f"{sha}.parquet"

    def rejects_path(self, sha: str) -> Path:
        return self.root / "rejects" / f"{sha}.tsv"

    def tmp_dir(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's writer lock; a second ingest into the same store is refused, not interleaved."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / "LOCK").open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(f"another ingest is writing to {self.root}; wait for it to finish") from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def clear_tmp(self) -> None:
        shutil.rmtree(self.root / "tmp", ignore_errors=True)
        shutil.rmtree(self.root / "tables.new", ignore_errors=True)

    def create(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store {self.root} is not a directory")
        for sub in ("sources", "raw", "events", "rejects"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def require(self) -> None:
        if not (self.root / "sources").is_dir():
            raise StoreError(f"{self.root} is not a carrier store (no sources/); create it with `nohaven carrier "
                             "ingest --store DIR ...`")

    # -- sources ------------------------------------------------------------------------------------------------
    def sources(self) -> dict[str, dict[str, Any]]:
        """Every committed source: content digest -> its manifest."""
        out: dict[str, dict[str, Any]] = {}
        folder = self.root / "sources"
        if folder.is_dir():
            for path in sorted(folder.glob("*.json")):
                out[path.stem] = json.loads(path.read_text())
        return out

    def sources_by_id(self) -> dict[int, dict[str, Any]]:
        return {int(m["source_id"]): m for m in self.sources().values()}

    def built_from(self) -> list[str] | None:
        path = self.tables_dir / "BUILD.json"
        if not path.exists():
            return None
        return list(json.loads(path.read_text())["sources"])

    def is_current(self) -> bool:
        return self.built_from() == sorted(self.sources())

    def day_files(self, table: str, lo_ms: int, hi_ms: int) -> list[str]:
        """Partition files of `table` for the UTC days from lo_ms to hi_ms."""
        files = []
        day = lo_ms // DAY_MS
        while day <= hi_ms // DAY_MS:
            path = self.tables_dir / table / f"day={day_name(day)}" / "part-0.parquet"
            if path.exists():
                files.append(str(path))
            day += 1
        return files

    # -- build --------------------------------------------------------------------------------------------------
    def build(self) -> dict[str, int]:
        """Rebuild the interval tables from every source's events; returns row counts per table."""
        shas = sorted(self.sources())
        work = self.root / "tables.new"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        counts = {name: 0 for name in TABLES}
        files = [str(self.events_path(s)) for s in shas if self.events_path(s).exists()]
        if files:
            con = duckdb.connect()
            try:
                con.execute("SET preserve_insertion_order = true")
                con.execute(f"CREATE VIEW events AS SELECT * FROM read_parquet({files!r})")  # noqa: S608 - our paths
                for name in TABLES:
                    table = con.sql(_BUILD_SQL[name]).to_arrow_table()
                    table = _cast(table, TABLES[name])
                    counts[name] = self._write_days(table, work / name, name)
            finally:
                con.close()
        (work / "BUILD.json").write_text(json.dumps({"sources": shas, "rows": counts}, indent=1, sort_keys=True))
        old = self.root / "tables.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.tables_dir.exists():
            os.replace(self.tables_dir, old)
        os.replace(work, self.tables_dir)
        shutil.rmtree(old, ignore_errors=True)
        return counts

    def _write_days(self, table: pa.Table, folder: Path, name: str) -> int:
        if table.num_rows == 0:
            return 0
        days = table.column("day")
        rows = 0
        for day in pc.unique(days).to_pylist():
            part = table.filter(pc.equal(days, day)).drop_columns(["day"])
            write_parquet(part, folder / f"day={day_name(day)}" / "part-0.parquet", _SORT[name],
                          _BYTE_STREAMS.get(name, ()))
            rows += part.num_rows
        return rows


def day_name(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if "priv_v4" in schema.names:
        table = _split_private(table)
    columns = [table.column(f.name).cast(f.type) for f in schema] + [table.column("day").cast(pa.int32())]
    return pa.Table.from_arrays(columns, names=[*schema.names, "day"])


def _split_private(table: pa.Table) -> pa.Table:
    """priv_ip as an integer when it is IPv4-mapped (priv_v4), else kept whole (priv_ip6)."""
    column = table.column("priv_ip").cast(IP).combine_chunks()
    n = len(column)
    raw = np.frombuffer(column.buffers()[1], dtype=np.uint8, count=(column.offset + n) * 16)[column.offset * 16:]
    matrix = raw.reshape(n, 16)
    is_v4 = (matrix[:, :12] == np.frombuffer(V4_PREFIX, dtype=np.uint8)).all(axis=1)
    if column.null_count:
        is_v4 &= column.is_valid().to_numpy(zero_copy_only=False)
    value = matrix[:, 12:].astype(np.int64) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)
    table = table.append_column("priv_v4", pa.array(value, mask=~is_v4))
    return table.append_column("priv_ip6", pc.if_else(pa.array(is_v4), pa.nulls(n, IP), column))


def _segments(kind: str, key: str, extra: str) -> str:
    """Intervals from events: each close ends a segment of its key; a segment is one interval."""
    # The build statements are assembled from constants of this module only.
    return f"""
    WITH ev AS (
      SELECT *, max(t_ms) OVER (PARTITION BY src) AS coverage FROM events WHERE kind = '{kind}'),
    seg AS (
      SELECT *, coalesce(sum(CASE WHEN action >= 2 THEN 1 ELSE 0 END) OVER (
          PARTITION BY {key} ORDER BY t_ms, src, line ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS seg
      FROM ev),
    grp AS (
      SELECT {key}, {extra}
        min(CASE WHEN action = 0 THEN t_ms WHEN action = 3 THEN begin_ms END) AS known_start,
        min(t_ms) AS first_seen,
        max(CASE WHEN action >= 2 THEN t_ms END) AS known_end,
        max(coverage) AS coverage,
        max(slack_ms) AS slack_ms,
        bit_or(flags) AS flags0,
        first(src ORDER BY t_ms, src, line) AS src,
        first(line ORDER BY t_ms, src, line) AS line,
        first(nlines ORDER BY t_ms, src, line) AS nlines,
        max(CASE WHEN action >= 2 THEN src END) AS end_src,
        max(CASE WHEN action >= 2 THEN line END) AS end_line,
        max(CASE WHEN action >= 2 THEN nlines END) AS end_nlines
      FROM seg GROUP BY {key}, seg),
    iv AS (
      SELECT *,
        coalesce(known_start, first_seen) AS start_ms,
        coalesce(known_end, greatest(coverage, coalesce(known_start, first_seen))) AS end_ms,
        flags0 | (CASE WHEN known_start IS NULL THEN {FLAG_START_UNKNOWN} ELSE 0 END)
               | (CASE WHEN known_end IS NULL THEN {FLAG_END_OPEN} ELSE 0 END) AS flags
      FROM grp)
    """  # noqa: S608


def _days(select: str, order: str) -> str:
    return f"""
    SELECT {select}, unnest(range(CAST(floor((start_ms - slack_ms) / {DAY_MS}) AS BIGINT),
                                  CAST(floor((end_ms + slack_ms) / {DAY_MS}) AS BIGINT) + 1)) AS day
    FROM iv ORDER BY day, {order}, src, line
    """  # noqa: S608


_NAT_KEY = "proto, priv_ip, priv_port, pub_ip, pub_port"
_BLOCK_KEY = "proto, priv_ip, pub_ip, pub_port, port_hi"
_ID_KEY = "priv_ip, ip_hi, session"
_PROV = "src, line, nlines, end_src, end_line, end_nlines"
_BUILD_SQL = {
    "nat": _segments("nat", _NAT_KEY, "") + _days(
        "pub_ip, pub_port, start_ms, end_ms - start_ms AS dur_ms, slack_ms, flags, proto, priv_ip, priv_port, "
        "src, line, nlines, end_src, end_line - line AS end_dline, end_nlines",
        "pub_ip, pub_port, start_ms"),
    "blocks": _segments("block", _BLOCK_KEY, "") + _days(
        f"pub_ip, pub_port, port_hi, start_ms, end_ms, slack_ms, flags, proto, priv_ip, {_PROV}",
        "pub_ip, pub_port, start_ms"),
    # A DHCP lease declared again (renewed) keeps its start: the declaration with the latest end wins.
    "identity": _segments("identity", _ID_KEY, "first(subscriber ORDER BY subscriber NULLS LAST) AS subscriber, "  # noqa: S608
                          "first(station ORDER BY station NULLS LAST) AS station, "
                          "first(mac ORDER BY mac NULLS LAST) AS mac, "
                          "first(hostname ORDER BY hostname NULLS LAST) AS hostname,")
    + """, best AS (SELECT * FROM iv QUALIFY row_number() OVER (
            PARTITION BY priv_ip, ip_hi, session, start_ms ORDER BY end_ms DESC, src DESC, line DESC) = 1)"""
    + _days(f"priv_ip AS ip_lo, ip_hi, start_ms, end_ms, slack_ms, flags, subscriber, station, mac, hostname, "
            f"session, {_PROV}", "ip_lo, start_ms").replace("FROM iv ORDER", "FROM best ORDER"),
}
