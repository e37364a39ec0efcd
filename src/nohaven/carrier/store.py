"""The carrier store on disk: its layout, its writer lock, its sources, and compact reproducible Parquet.

    STORE/
      sources/<sha256>.json        one per ingested source: name, digests, format, zone, counts (commit marker)
      raw/<sha256>.zst             the source's text, zstd-compressed (provenance: raw lines by number)
      events/<sha256>.arrow        its normalised events, with line numbers (Arrow IPC file, zstd buffers;
                                   events/<sha256>.parquet in a store written before: read alike)
      rejects/<sha256>.tsv         its rejected lines: file, line, reason, text
      tables/BUILD.json            which sources the tables were built from, and the rows of each day
      tables/nat/day=YYYY-MM-DD/                     one public port:  sorted by (pub_ip, pub_port, start_ms)
      tables/blocks/day=YYYY-MM-DD/                  a public port range (port blocks, address mappings)
      tables/identity/day=YYYY-MM-DD/                who held a private address or prefix (RADIUS, DHCP)
          index.json                               the day's files in order, each with its range of keys
          part-<digest>.parquet                    FILE_ROWS rows each, named by their content
      evidence/                    what `preserve` sealed: an evidence store (see nohaven.carrier.preserve)

An interval is written into every UTC day partition it overlaps (its slack included), so a lookup reads only
the days of its window. The tables are derived from the events (nohaven.carrier.build): the first build writes
them into a fresh directory that replaces the old one; when sources are added, only the days whose intervals
the new events can change are written again. Either way the same sources give the same bytes.

Event files are read through `event_batches`, `event_table`, `event_count` and `event_dataset`, whichever of the
two formats a file is in: a store ingested before the events were written as Arrow IPC is built without being
ingested again.
"""

from __future__ import annotations

import bisect
import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from nohaven import durable
from nohaven.carrier.errors import StoreError
from nohaven.carrier.schema import BLOCK_SCHEMA, EVENT_SCHEMA, IDENTITY_SCHEMA, NAT_SCHEMA

if TYPE_CHECKING:
    import pyarrow.dataset as ds

    from nohaven.carrier.buildparts import Presplit

__all__ = ["EVENT_SUFFIXES", "FILE_ROWS", "LAYOUT", "TABLES", "DayIndex", "DayWriter", "Store", "event_batches",
           "event_count", "event_dataset", "event_table", "lookup_key", "write_parquet"]

DAY_MS = 86_400_000
LAYOUT = 5  # of the tables; tables of another layout are rebuilt whole by the next ingest
TABLES = {"nat": NAT_SCHEMA, "blocks": BLOCK_SCHEMA, "identity": IDENTITY_SCHEMA}
_SORT = {"nat": ("pub_ip", "pub_port", "start_ms"), "blocks": ("pub_ip", "pub_port", "start_ms"),
         "identity": ("ip_lo", "start_ms")}
# A day of a table is cut into files of FILE_ROWS rows, each one row group, listed in the day's index.json with
# the range of lookup keys each holds, so that a lookup opens the one file its key can be in. DuckDB's cost per
# query grows with the row groups of the files it opens (their statistics are bound and optimised per query)
# and with the rows of a row group it reads (it reads a projected column's chunk whole); one day file of 10^8
# rows in row groups of 2^20 made a lookup 1.85x chdb's, in files of 2^16 rows 0.62x (BENCHMARKS.md). 2^17:
# on that day's rows 15.96 bytes a NAT record against 15.98 at 2^16 (each file has its own footer and
# dictionaries), for a lookup that reads twice the rows of each column it projects.
FILE_ROWS = 1 << 17
PAGE_BYTES = 64 * 1024
INDEX = "index.json"
# A source's events file: Arrow IPC (written since the ingest stopped spending a quarter of its parse stage on
# Parquet encoding), or Parquet in a store ingested before; both hold EVENT_SCHEMA.
EVENT_SUFFIXES = (".arrow", ".parquet")


# Integer columns of the NAT table whose values are close to random once sorted by public address and port
# (start, private address and port, duration, lines): split into byte streams, their constant high bytes
# compress away (measured in BENCHMARKS.md; delta encoding of the start, sorted within a port, was 0.19 bytes a
# record larger on a day of 10^8 mappings). DuckDB reads this encoding for integers only, so addresses keep
# dictionaries.
_BYTE_STREAMS = {"nat": ("start_ms", "dur_ms", "priv_v4", "priv_port", "line", "end_dline")}


# Columns of the identity table that hold a different value on almost every row (a subscriber's address, name,
# session): a dictionary would be as large as the column and read whole by every lookup, so they are plain
# (identity lookups 10.9 -> 3.3 ms on a day of 10^6 RADIUS sessions, and a smaller file).
_PLAIN = {"identity": ("ip_lo", "ip_hi", "subscriber", "station", "mac", "hostname", "session"),
          # a block's private address: one per subscriber of the day, so its dictionary was read whole by every
          # block lookup (p50 4.5 -> 2.7 ms on a day of 10^6 blocks, benchmarks/carrier_pruning.py), and was larger
          "blocks": ("priv_ip",)}


def lookup_key(table: str, ip: bytes, port: int | None = None) -> bytes:
    """The key a lookup of `table` looks for, as index.json ranges compare it: the 16-byte address, and for the
    NAT table the public port after it (4 bytes, big-endian)."""
    return ip + int(port or 0).to_bytes(4, "big") if table == "nat" else ip


def _key_range(table: str, rows: pa.Table) -> tuple[str | None, str | None]:
    """The lowest and highest lookup key of a file's rows (hex), or None where a row has no key (the file is
    then read by every lookup)."""
    if rows.num_rows == 0:
        return None, None
    if table == "identity":
        lo, hi = rows.column("ip_lo"), rows.column("ip_hi")
        if lo.null_count or hi.null_count:
            return None, None
        return bytes(pc.min(lo).as_py()).hex(), bytes(pc.max(hi).as_py()).hex()
    ip, port = rows.column("pub_ip"), rows.column("pub_port")
    ends = []
    for i in (0, rows.num_rows - 1):
        address, number = ip[i].as_py(), port[i].as_py()
        if address is None or number is None:
            return None, None
        ends.append(lookup_key(table, bytes(address), number).hex())
    return ends[0], ends[1]


def write_parquet(table: pa.Table, path: Path, sort: tuple[str, ...] = (), byte_streams: tuple[str, ...] = (),
                  plain: tuple[str, ...] = ()) -> None:
    """Write one file compactly and reproducibly: zstd, dictionaries for addresses, delta encoding for sorted
    integers (a day's files are written by DayWriter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    _write_file(table, tmp, sort, byte_streams, plain)
    os.replace(tmp, path)


def _write_file(table: pa.Table, path: Path | pa.NativeFile, sort: tuple[str, ...], byte_streams: tuple[str, ...],
                plain: tuple[str, ...]) -> None:
    schema = table.schema
    dictionary = [f.name for f in schema if (pa.types.is_binary(f.type) or pa.types.is_fixed_size_binary(f.type)
                  or pa.types.is_string(f.type) or f.name in ("src", "end_src", "flags", "proto", "nlines",
                                                              "end_nlines", "slack_ms")) and f.name not in plain]
    encoding = {f.name: "BYTE_STREAM_SPLIT" if f.name in byte_streams else "DELTA_BINARY_PACKED"
                for f in schema if pa.types.is_integer(f.type) and f.name not in dictionary}
    # zstd level 6: on a day of 10^8 NAT rows (benchmarks/carrier.py --rows 1e8; 2^24 of its rows written
    # at each level) 15.93 bytes a record in 1.34x level 3's time, where level 3 gives 16.14 (over the goal of
    # 16), level 9 15.93 in 1.66x, level 12 15.70 in 3.1x; level 15 took 6.6x level 3's time at 10^6.
    with pq.ParquetWriter(
            path, schema, compression="zstd", compression_level=6, use_dictionary=dictionary,
            column_encoding=encoding, data_page_size=PAGE_BYTES, write_page_index=True, write_statistics=True,
            sorting_columns=[pq.SortingColumn(schema.get_field_index(c)) for c in sort] or None,
            store_schema=False) as writer:
        writer.write_table(table, row_group_size=max(table.num_rows, 1))


# Files are compressed on two threads (the machine's two cores; Arrow's writer releases the GIL), at most
# _PENDING of them in flight per day writer.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nohaven-table-file")
_PENDING = 4


class DayWriter:
    """A day of a table written as rows arrive: files of exactly FILE_ROWS rows (the last one shorter), each one
    row group, named by their content, then the day's index.json, which lists them in order with their key
    ranges, and last the removal of the files it does not list (a lookup that read the previous index and
    finds a file gone reads the index again: lookup.Attributor). The bytes are those of the whole day written
    at once, however the rows arrived (a build in key ranges writes the files a build in one piece writes), and
    a day rewritten with the same rows keeps its files' names. A write that fails or is killed before its index
    leaves the previous index, and the files it lists, in place. A day closed with no rows is removed, its index
    first."""

    def __init__(self, folder: Path, table: str) -> None:
        durable.mkdir(folder)  # a new table's and day's folder in its parent, before an index inside it
        self.folder, self.table, self.schema = folder, table, TABLES[table]
        self.options = (_SORT[table], _BYTE_STREAMS.get(table, ()), _PLAIN.get(table, ()))
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0
        self.files: list[Future[dict[str, Any]]] = []

    def add(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        self.rows += table.num_rows
        while self.buffered >= FILE_ROWS:
            whole = pa.concat_tables(self.buffer)
            self._file(whole.slice(0, FILE_ROWS))
            rest = whole.slice(FILE_ROWS)
            self.buffer, self.buffered = [rest], rest.num_rows

    def _file(self, rows: pa.Table) -> None:
        pending = [f for f in self.files if not f.done()]
        if len(pending) >= _PENDING:
            self._settle(pending[0])
        self.files.append(_POOL.submit(self._write, rows.combine_chunks()))

    def _settle(self, future: Future[dict[str, Any]]) -> dict[str, Any]:
        """A file's entry; if its write failed, the other writes are waited for (none runs on after the
        failure is reported) and the failure raised."""
        try:
            return future.result()
        except BaseException:
            for other in self.files:
                other.cancel()
            wait(self.files)
            raise

    def _write(self, rows: pa.Table) -> dict[str, Any]:
        # Encoded in memory (a file is a few MB), so that it is hashed for its name without being read back.
        sink = pa.BufferOutputStream()
        _write_file(rows, sink, *self.options)
        data = sink.getvalue()
        name = f"part-{hashlib.sha256(data).hexdigest()[:32]}.parquet"
        tmp = self.folder / f".part-{uuid.uuid4().hex}.tmp"
        try:
            durable.write_bytes(tmp, data)  # on the disk before an index can list it
            os.replace(tmp, self.folder / name)
        finally:
            tmp.unlink(missing_ok=True)
        lo, hi = _key_range(self.table, rows)
        return {"name": name, "rows": rows.num_rows, "lo": lo, "hi": hi}

    def close(self) -> int:
        """Write what is left and the day's index, remove the files no longer listed; the number of rows."""
        index = self.folder / INDEX
        if not self.rows:
            for future in self.files:
                self._settle(future)
            index.unlink(missing_ok=True)  # first: a day is never left with an index that lists a missing file
            durable.sync_dir(self.folder)
            shutil.rmtree(self.folder, ignore_errors=True)
            return 0
        if self.buffered:
            self._file(pa.concat_tables(self.buffer))
        files = [self._settle(f) for f in self.files]
        _check_order(self.folder, self.table, files)  # before the index: a misordered day is never listed
        durable.sync_dir(self.folder)  # the files' names, then the index that lists them
        durable.write_file(index, json.dumps({"table": self.table, "rows": self.rows, "files": files},
                                             indent=0).encode())
        keep = {f["name"] for f in files} | {INDEX}
        for path in self.folder.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        return self.rows


def _check_order(folder: Path, table: str, files: list[dict[str, Any]]) -> None:
    """The files' key ranges in the order a lookup's bisection needs (DayIndex): each ranged file's lowest key
    not below the previous one's, and for mappings and blocks (one key a row, rows sorted by it) not below the
    previous file's highest key; an identity range may reach past the next file's lowest key. A build that
    handed rows out of order would otherwise make lookups miss them silently."""
    previous: dict[str, Any] | None = None
    for entry in files:
        if entry["lo"] is None:
            continue
        if entry["lo"] > entry["hi"] and table != "identity":
            raise RuntimeError(f"{folder}: {entry['name']} holds keys out of order ({entry['lo']} > {entry['hi']})")
        if previous is not None:
            floor = previous["lo"] if table == "identity" else previous["hi"]
            if entry["lo"] < floor:
                raise RuntimeError(f"{folder}: {entry['name']} begins at key {entry['lo']}, before the end of "
                                   f"{previous['name']} ({floor}): rows out of order, the day's index was not "
                                   "replaced")
        previous = entry


class DayIndex:
    """A day's index.json: its files, and which of them a key can be in."""

    def __init__(self, folder: Path, entries: list[dict[str, Any]]) -> None:
        self.names = [e["name"] for e in entries]
        self.paths = [str(folder / n) for n in self.names]
        # Files with a range, in order (their `lo` does not decrease), and those without one (a row without a
        # key: read by every lookup). The highest `hi` up to each ranged file lets a scan back from the last
        # file whose `lo` is at most the key stop early: at once where ranges follow each other (mappings,
        # blocks), at the first file no later range reaches back over (identity's overlapping ranges).
        self.ranged = [i for i, e in enumerate(entries) if e["lo"] is not None and e["hi"] is not None]
        self.unranged = [i for i, e in enumerate(entries) if e["lo"] is None or e["hi"] is None]
        self.lo = [bytes.fromhex(entries[i]["lo"]) for i in self.ranged]
        self.hi = [bytes.fromhex(entries[i]["hi"]) for i in self.ranged]
        self.top: list[bytes] = []
        for hi in self.hi:
            self.top.append(max(hi, self.top[-1]) if self.top else hi)

    def files(self, key: bytes | None = None) -> list[str]:
        if key is None:
            return list(self.paths)
        found = list(self.unranged)
        j = bisect.bisect_right(self.lo, key) - 1
        while j >= 0 and self.top[j] >= key:
            if self.hi[j] >= key:
                found.append(self.ranged[j])
            j -= 1
        return [self.paths[i] for i in sorted(found)]


@dataclass
class Store:
    """A carrier store directory."""

    root: Path

    _indexes: dict[str, tuple[tuple[int, int, int], DayIndex]] = field(default_factory=dict, init=False, repr=False,
                                                     compare=False)
    _index_paths: dict[tuple[str, int], str] = field(default_factory=dict, init=False, repr=False, compare=False)

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
        """Where an ingest writes a source's events (Arrow IPC)."""
        return self.root / "events" / f"{sha}{EVENT_SUFFIXES[0]}"

    def events_file(self, sha: str) -> Path | None:
        """A source's events file as stored, in either format (EVENT_SUFFIXES), or None."""
        for suffix in EVENT_SUFFIXES:
            path = self.root / "events" / f"{sha}{suffix}"
            if path.exists():
                return path
        return None

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
            durable.mkdir(self.root / sub)  # the store's folders durable before a manifest inside them

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

    def day_index(self, table: str, day: int) -> DayIndex | None:
        """The index of `table`'s files for a UTC day (read once per store object while it is unchanged)."""
        path = self._index_paths.get((table, day))
        if path is None:
            path = self._index_paths[(table, day)] = str(self.tables_dir / table / f"day={day_name(day)}" / INDEX)
        try:
            info = os.stat(path)  # one stat a lookup: a path string, not pathlib, on this hot path
        except FileNotFoundError:
            return None
        stamp = (info.st_ino, info.st_size, info.st_mtime_ns)  # os.replace gives a new index a new inode
        cached = self._indexes.get(path)
        if cached is None or cached[0] != stamp:
            folder = Path(path).parent
            cached = (stamp, DayIndex(folder, json.loads((folder / INDEX).read_text())["files"]))
            self._indexes[path] = cached
        return cached[1]

    def day_files(self, table: str, lo_ms: int, hi_ms: int, key: bytes | None = None) -> list[str]:
        """Files of `table` for the UTC days from lo_ms to hi_ms; with a key (lookup_key), only those whose
        range holds it."""
        files = []
        for day in range(lo_ms // DAY_MS, hi_ms // DAY_MS + 1):
            index = self.day_index(table, day)
            if index is not None:
                files += index.files(key)
        return files

    # -- build --------------------------------------------------------------------------------------------------
    def build(self, events: Mapping[str, Sequence[pa.RecordBatch]] | None = None,
              presplit: Presplit | None = None) -> dict[str, int]:
        """Bring the interval tables up to date with the sources (see nohaven.carrier.build); row counts.
        `events`: sources' events held in memory by content digest, which a full build need not read again;
        `presplit`: sources' events split into key ranges by the ingest (nohaven.carrier.buildparts)."""
        from nohaven.carrier.build import build

        return build(self, events, presplit)


def _ipc_reader(path: Path, columns: Sequence[str]) -> pa.ipc.RecordBatchFileReader:
    """An events file in the IPC format, reading only `columns` (memory-mapped: the buffers of the others are not
    touched)."""
    source = pa.memory_map(str(path))
    schema = pa.ipc.open_file(source).schema
    fields = sorted(schema.get_field_index(c) for c in columns)
    if -1 in fields:
        raise StoreError(f"{path}: no column {[c for c in columns if c not in schema.names]}")
    return pa.ipc.open_file(source, options=pa.ipc.IpcReadOptions(included_fields=fields))


def event_batches(paths: Sequence[Path], columns: Sequence[str], every: int = 1) -> Iterator[pa.RecordBatch]:
    """The events of the files, file by file, as batches of the columns `columns` (in that order). `every`: only
    one batch in so many of each file, its first among them (an IPC file's batches are read at random; a Parquet
    file's are all read)."""
    names = list(columns)
    for path in paths:
        if path.suffix == ".parquet":
            for batch in pq.ParquetFile(path).iter_batches(batch_size=1 << 16, columns=names):
                yield batch.select(names)
            continue
        reader = _ipc_reader(path, names)
        for i in range(0, reader.num_record_batches, max(every, 1)):
            yield reader.get_batch(i).select(names)


def event_table(paths: Sequence[Path], columns: Sequence[str]) -> pa.Table:
    """The events of the files as one table of the columns `columns` (a chunk per file or batch)."""
    names = list(columns)
    tables = [pq.ParquetFile(p).read(columns=names) if p.suffix == ".parquet" else _ipc_reader(p, names).read_all()
              for p in paths]
    if not tables:
        return EVENT_SCHEMA.empty_table().select(names)
    return pa.concat_tables([t.select(names) for t in tables])


def event_count(paths: Sequence[Path]) -> int:
    """The events in the files, from their footers and batch headers (no column is read)."""
    return sum(pq.ParquetFile(p).metadata.num_rows if p.suffix == ".parquet"
               else pa.ipc.open_file(pa.memory_map(str(p))).count_rows() for p in paths)


def event_dataset(paths: Sequence[Path]) -> ds.Dataset:
    """The event files as one pyarrow dataset (what DuckDB scans, with projection and filters pushed down): the
    IPC files, with a store's older Parquet files added as a union."""
    import pyarrow.dataset as ds  # its import alone costs a tenth of a compiled build of 10^6 mappings

    ipc = [str(p) for p in paths if p.suffix != ".parquet"]
    parquet = [str(p) for p in paths if p.suffix == ".parquet"]
    parts = [ds.dataset(files, schema=EVENT_SCHEMA, format=fmt) for files, fmt in ((ipc, "ipc"), (parquet, "parquet"))
             if files]
    if len(parts) == 1:
        return parts[0]
    return ds.dataset(parts) if parts else ds.dataset([], schema=EVENT_SCHEMA, format="ipc")


def day_name(day: int) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day)).strftime("%Y-%m-%d")
