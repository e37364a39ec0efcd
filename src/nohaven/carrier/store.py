"""The carrier store on disk: its layout, its writer lock, its sources, and compact reproducible Parquet.

    STORE/
      sources/<sha256>.json        one per ingested source: name, digests, format, zone, counts (commit marker)
      raw/<sha256>.zst             the source's text, zstd-compressed (provenance: raw lines by number)
      events/<sha256>.parquet      its normalised events, with line numbers
      rejects/<sha256>.tsv         its rejected lines: file, line, reason, text
      tables/BUILD.json            which sources the tables were built from, and the rows of each day
      tables/nat/day=YYYY-MM-DD/part-0.parquet       one public port:  sorted by (pub_ip, pub_port, start_ms)
      tables/blocks/day=YYYY-MM-DD/part-0.parquet    a public port range (port blocks, address mappings)
      tables/identity/day=YYYY-MM-DD/part-0.parquet  who held a private address or prefix (RADIUS, DHCP)
      evidence/                    what `preserve` sealed: an evidence store (see nohaven.carrier.preserve)

An interval is written into every UTC day partition it overlaps (its slack included), so a lookup reads only
the days of its window. The tables are derived from the events (nohaven.carrier.build): the first build writes
them into a fresh directory that replaces the old one; when sources are added, only the days whose intervals
the new events can change are written again. Either way the same sources give the same bytes.
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

import pyarrow as pa
import pyarrow.parquet as pq

from nohaven.carrier.errors import StoreError
from nohaven.carrier.schema import BLOCK_SCHEMA, IDENTITY_SCHEMA, NAT_SCHEMA

__all__ = ["LAYOUT", "TABLES", "DayWriter", "Store", "write_parquet"]

DAY_MS = 86_400_000
LAYOUT = 4  # of the tables; tables of another layout are rebuilt whole by the next ingest
TABLES = {"nat": NAT_SCHEMA, "blocks": BLOCK_SCHEMA, "identity": IDENTITY_SCHEMA}
_SORT = {"nat": ("pub_ip", "pub_port", "start_ms"), "blocks": ("pub_ip", "pub_port", "start_ms"),
         "identity": ("ip_lo", "start_ms")}
# Large row groups of small pages with a page index: a lookup's cost is then set by the pages it reads (the
# page index lets DuckDB skip the rest), not by how many row groups a day holds (their metadata is evaluated per
# query, which made lookups grow linearly with the day's size; measured in BENCHMARKS.md).
ROW_GROUP = 1 << 20
PAGE_BYTES = 64 * 1024


# Integer columns of the NAT table whose values are close to random once sorted by public address and port
# (start, private port, duration, lines): split into byte streams, their constant high bytes compress away
# (measured in BENCHMARKS.md). DuckDB reads this encoding for integers only, so addresses keep dictionaries.
_BYTE_STREAMS = {"nat": ("start_ms", "dur_ms", "priv_v4", "priv_port", "line", "end_dline")}


# Columns of the identity table that hold a different value on almost every row (a subscriber's address, name,
# session): a dictionary would be as large as the column and read whole by every lookup, so they are plain
# (identity lookups 10.9 -> 3.3 ms on a day of 10^6 RADIUS sessions, and a smaller file).
_PLAIN = {"identity": ("ip_lo", "ip_hi", "subscriber", "station", "mac", "hostname", "session"),
          # a block's private address: one per subscriber of the day, so its dictionary was read whole by every
          # block lookup (p50 4.5 -> 2.7 ms on a day of 10^6 blocks, benchmarks/carrier_pruning.py), and was larger
          "blocks": ("priv_ip",)}


def write_parquet(table: pa.Table, path: Path, sort: tuple[str, ...] = (), byte_streams: tuple[str, ...] = (),
                  plain: tuple[str, ...] = ()) -> None:
    """Write compactly and reproducibly: zstd, dictionaries for addresses, delta encoding for sorted integers."""
    writer = DayWriter(path, table.schema, sort, byte_streams, plain)
    writer.add(table)
    writer.close()


class DayWriter:
    """A table file written as rows arrive, in row groups of exactly ROW_GROUP rows (the last one shorter), each
    handed to the writer as one chunk: the bytes are then those of the whole table written at once, however the
    rows arrived (a build in key ranges writes the file a build in one piece writes)."""

    def __init__(self, path: Path, schema: pa.Schema, sort: tuple[str, ...] = (), byte_streams: tuple[str, ...] = (),
                 plain: tuple[str, ...] = ()) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.tmp = path, path.with_name(path.name + ".tmp")
        dictionary = [f.name for f in schema if (pa.types.is_binary(f.type) or pa.types.is_fixed_size_binary(f.type)
                      or pa.types.is_string(f.type) or f.name in ("src", "end_src", "flags", "proto", "nlines",
                                                                  "end_nlines", "slack_ms")) and f.name not in plain]
        encoding = {f.name: "BYTE_STREAM_SPLIT" if f.name in byte_streams else "DELTA_BINARY_PACKED"
                    for f in schema if pa.types.is_integer(f.type) and f.name not in dictionary}
        # zstd level 6: on a day of 10^8 NAT rows (benchmarks/carrier.py --rows 1e8; 2^24 of its rows written
        # at each level) 15.93 bytes a record in 1.34x level 3's time, where level 3 gives 16.14 (over the goal of
        # 16), level 9 15.93 in 1.66x, level 12 15.70 in 3.1x; level 15 took 6.6x level 3's time at 10^6.
        self.writer = pq.ParquetWriter(
            self.tmp, schema, compression="zstd", compression_level=6, use_dictionary=dictionary,
            column_encoding=encoding, data_page_size=PAGE_BYTES, write_page_index=True, write_statistics=True,
            sorting_columns=[pq.SortingColumn(schema.get_field_index(c)) for c in sort] or None, store_schema=False)
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        self.rows += table.num_rows
        while self.buffered >= ROW_GROUP:
            whole = pa.concat_tables(self.buffer)
            self.writer.write_table(whole.slice(0, ROW_GROUP).combine_chunks(), row_group_size=ROW_GROUP)
            rest = whole.slice(ROW_GROUP)
            self.buffer, self.buffered = [rest], rest.num_rows

    def close(self) -> int:
        """Write what is left, put the file in place; the number of rows."""
        if self.buffered or not self.rows:
            self.writer.write_table(pa.concat_tables(self.buffer).combine_chunks() if self.buffer
                                    else self.writer.schema.empty_table(), row_group_size=ROW_GROUP)
        self.writer.close()
        os.replace(self.tmp, self.path)
        return self.rows


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

    def build_state(self) -> dict[str, Any] | None:
        """What the last finished build wrote in tables/BUILD.json (layout, sources, rows per day), or None."""
        path = self.tables_dir / "BUILD.json"
        return dict(json.loads(path.read_text())) if path.exists() else None

    def is_current(self) -> bool:
        """Whether the tables are built, in this layout, from every committed source."""
        state = self.build_state()
        return bool(state is not None and state.get("layout") == LAYOUT and state["sources"] == sorted(self.sources()))

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
        """Bring the interval tables up to date with the sources (see nohaven.carrier.build); row counts."""
        from nohaven.carrier.build import build

        return build(self)


def day_name(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")
