"""The NAT table's rows computed in C (nohaven.carrier._natbuild) instead of DuckDB's window SQL, the same rows.

`build_sql("nat", ...)` (nohaven.carrier.build) defines the table; the compiled path computes the same relation
in four steps, each the SQL's step in another order of work:

1. One pass over the events as they are (record batches, read where they lie: nothing is combined into one
   array) finds the sources (a NULL source is dropped, as the SQL's join with the coverage table drops it) and
   each source's coverage, the range of every key field, and where the window's order (t_ms NULLS LAST, src,
   line NULLS LAST) breaks. A key (pub_ip, pub_port, proto, priv_ip, priv_port) becomes fields (a null flag,
   then the value minus the field's minimum as an order-preserving unsigned integer; an address as two
   big-endian 64-bit halves) packed into as few 64-bit words as their widths allow, the public side most
   significant; keys compare NULL equal to NULL, as PARTITION BY and GROUP BY do.
2. The events are taken in the window's order: as they are when they already are, by merging their ordered runs
   (a heap; a run goes on while it comes first, so a month of rotated files costs one comparison an event), or,
   when the runs are many, by a radix sort of (t_ms, source rank, line). Each is folded into its key's open
   segment, held in a hash table; a close (action >= 2) ends the segment (that is `seg`, the count of closes
   strictly before a row), which becomes one interval at once with the aggregates of `grp` and `iv`, NULLs
   ignored as SQL aggregates ignore them: known_start (min of a create's t_ms or a whole record's begin_ms),
   first_seen, known_end (max close t_ms), coverage (max over the rows' sources), max slack, OR of flags (NULL
   when every flag is NULL), src/line/nlines of the segment's first row (`first` keeps a NULL), end_* as maxima
   over its closes; start_ms, end_ms (greatest() skips a NULL) and the two flag bits as the SQL has them. The
   segments open at the end become intervals last. Only the segments open at a time are held (about the
   mappings alive at once), and the events are read in turn, a few dozen ahead of their fold.
3. An interval's days are range(floor((start - slack) / DAY), floor((end + slack) / DAY) + 1), computed in
   double precision like DuckDB's `/`; a NULL start, end or slack gives no row (unnest of NULL), nor does an
   end day before the start day.
4. The table's order is (day, pub_ip, pub_port, start_ms, src, line, proto, priv_ip, priv_port, dur_ms,
   slack_ms, flags, nlines, end_src, end_dline, end_nlines), NULLS LAST (DuckDB's default). Each interval is
   repeated once per day, and the rows are radix-sorted by (day, the key's public side, start_ms) packed into a
   word (or several); rows equal in those are sorted by the rest (a merge sort).

An incremental build's events are those of the keys its new sources name: `incremental_rows` makes a set of
those keys (`key_set`) and keeps, source by source, the events whose key is in it (`keys_in`).

The rows are then handed out either in the SQL's form (`nat_rows`: build_sql's columns and types with the day,
for the incremental build and the tests) or as the stored table has them (`day_tables`: NAT_SCHEMA, the private
address split into priv_v4 / priv_ip6) a day's file of FILE_ROWS rows at a time, so that a full build never
holds the whole table. Tests hold both to DuckDB's rows on random event sets, in every order mode and batching.

Ties in (t_ms, src, line) within one key are the one place the SQL itself is not deterministic (a source's
line is one event of a key, so they do not arise from an ingest). `nat_rows` gives one Arrow chunk with the
SQL's column types (the addresses as large_binary from 2^31 bytes on, which one chunk of binary cannot hold).
The DuckDB path's result is made one chunk too: the Parquet writer cuts pages where its input's chunks end,
DuckDB's batches differ with its thread count (122,880 rows on 2 threads, 131,072 on 1), and a day's part
filtered out of a batched table starts mid-batch, so the bytes of a full build's later days depended on the
threads and were not those of an incremental build, whose days DuckDB hands over from their first row.

The extension is built by the install where a C compiler exists; `available()` says whether it imported, and
`NOHAVEN_CARRIER_NATIVE=0` turns it off (DuckDB's SQL is then used).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nohaven.carrier.schema import EVENT_SCHEMA, NAT_SCHEMA, null_array, source_id
from nohaven.carrier.store import DAY_MS, FILE_ROWS, event_table
from nohaven.carrier.timeparse import FLAG_END_OPEN, FLAG_START_UNKNOWN

__all__ = [
    "COLUMNS",
    "EVENTS_READ",
    "KEY",
    "NAT_EVENTS",
    "SplitBuffers",
    "available",
    "coverage_table",
    "day_tables",
    "incremental_rows",
    "nat_rows",
    "only_nat",
    "range_rows",
    "range_split",
]

_native: ModuleType | None
try:
    from nohaven.carrier import _natbuild

    _native = _natbuild
except ImportError:  # built without a C compiler: DuckDB's SQL serves
    _native = None

if _native is not None and tuple(getattr(_native, name, None) for name in (
        "DAY_MS", "FLAG_START_UNKNOWN", "FLAG_END_OPEN")) != (DAY_MS, FLAG_START_UNKNOWN, FLAG_END_OPEN):
    # the C file repeats these values, or the extension was built from an older one
    raise RuntimeError("nohaven.carrier._natbuild disagrees with store.DAY_MS or timeparse's flags: rebuild it "
                       "(pip install -e .) from a matching _natbuild.c")

# The event columns _natbuild.nat_rows reads, in its order.
COLUMNS = ("action", "t_ms", "begin_ms", "slack_ms", "flags", "proto", "priv_ip", "priv_port", "pub_ip", "pub_port",
           "src", "line", "nlines")
# The rows of build_sql("nat", ...), with DuckDB's types (a BLOB is binary; flags widen to an INTEGER).
ROW_SCHEMA = pa.schema([
    ("pub_ip", pa.binary()), ("pub_port", pa.int32()), ("start_ms", pa.int64()), ("dur_ms", pa.int64()),
    ("slack_ms", pa.int32()), ("flags", pa.int32()), ("proto", pa.int8()), ("priv_ip", pa.binary()),
    ("priv_port", pa.int32()), ("src", pa.int64()), ("line", pa.int64()), ("nlines", pa.int32()),
    ("end_src", pa.int64()), ("end_dline", pa.int64()), ("end_nlines", pa.int32()), ("day", pa.int64()),
])


def available() -> bool:
    """Whether the compiled build imported and is not turned off by NOHAVEN_CARRIER_NATIVE=0."""
    return _native is not None and os.environ.get("NOHAVEN_CARRIER_NATIVE", "1") != "0"


# The event columns a build reads (kind, to keep the nat events, and COLUMNS).
EVENTS_READ = EVENT_SCHEMA.empty_table().select(["kind", *COLUMNS]).schema
# The nat events as a build takes them (the ingest holds its new sources' events so): COLUMNS.
NAT_EVENTS = EVENT_SCHEMA.empty_table().select(list(COLUMNS)).schema


def read_events(paths: Sequence[Path]) -> pa.Table:
    """The nat events of the event files (either format), the columns the build reads."""
    # A file at a time, not through pyarrow.dataset, whose first import alone costs a tenth of the build of 10^6
    # mappings.
    return only_nat(event_table(paths, EVENTS_READ.names)).select(list(COLUMNS))


def only_nat(table: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """The nat events of a table or batch of events (a NULL kind is not nat)."""
    if "kind" not in table.column_names:
        return table
    kind = table.column("kind")
    if pa.types.is_dictionary(kind.type):
        chunks = kind.chunks if isinstance(kind, pa.ChunkedArray) else [kind]
        if kind.null_count == 0 and all(chunk.dictionary.to_pylist() == ["nat"] for chunk in chunks):
            return table  # the usual event file: nat events only
        kind = kind.cast(pa.string())
    is_nat = pc.equal(kind, "nat")
    if kind.null_count == 0 and pc.all(is_nat).as_py():
        return table
    return table.filter(is_nat)


_Buffers = tuple[pa.Buffer | None, pa.Buffer, int]


def _column(array: pa.Array) -> _Buffers:
    """An array's (validity or None, data, offset) buffers, as the extension takes a column."""
    buffers = array.buffers()
    if buffers[1] is None:  # an empty array may come without a data buffer
        buffers[1] = pa.py_buffer(b"\0" * 16)
    return (buffers[0] if array.null_count else None), buffers[1], array.offset


def _aligned(table: pa.Table) -> tuple[list[pa.RecordBatch], tuple[tuple[int, tuple[_Buffers, ...]], ...]]:
    """The table's columns COLUMNS as record batches, and the same batches as the extension takes them: no chunk is
    copied."""
    wanted = [EVENT_SCHEMA.field(name).type for name in COLUMNS]
    columns = [table.column(name) if table.column(name).type == t else table.column(name).cast(t)
               for name, t in zip(COLUMNS, wanted, strict=True)]
    aligned = pa.Table.from_arrays(columns, names=list(COLUMNS)).to_batches()
    return aligned, tuple((b.num_rows, tuple(_column(b.column(k)) for k in range(len(COLUMNS)))) for b in aligned)


def _batches(table: pa.Table) -> tuple[tuple[int, tuple[_Buffers, ...]], ...]:
    """The table's columns COLUMNS, batch by batch, as the extension takes them: no chunk is copied."""
    return _aligned(table)[1]


class SplitBuffers:
    """Memory for range_split's output, kept from one batch to the next: fresh memory for every batch came as new
    pages, which the kernel faults in and zeroes (at 10^8 mappings, millions of page faults). The arrays a split
    gives are views of it, valid until the next split into the same buffers: write them out first."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[int, bool], bytearray] = {}

    def get(self, column: int, validity: bool, size: int) -> bytearray:
        held = self.buffers.get((column, validity))
        if held is None or len(held) < size:  # a new one: an exported bytearray cannot be resized
            held = self.buffers[column, validity] = bytearray(max(size, 1))
        return held


def range_split(cuts: np.ndarray, batch: pa.RecordBatch, into: SplitBuffers | None = None,
                skip: Collection[str] = ()) -> tuple[pa.RecordBatch, np.ndarray] | None:
    """A batch's rows (of COLUMNS) taken by key range (buildparts: keys of (public address, port), `cuts`
    ascending), compiled: the rows range by range, each range's rows in their order (the columns but those named in
    `skip`), and where each range starts (one more than the ranges). A column of NULLs only is not taken (it is a
    slice of one kept array). `into`: the buffers the rows are taken into (the batch is a view of them until the
    next split into them), else new ones. None where the compiled build is not available."""
    if not available():
        return None
    assert _native is not None
    n = batch.num_rows
    kept = [name for name in COLUMNS if name not in skip]
    if n == 0:
        return batch.select(kept), np.zeros(len(cuts) + 2, dtype=np.int64)
    into = SplitBuffers() if into is None else into
    (aligned,), columns = _aligned(pa.Table.from_batches([batch]))
    outputs: list[tuple[memoryview | None, memoryview] | None] = []
    for k, (field, column) in enumerate(zip(NAT_EVENTS, aligned.columns, strict=True)):
        if column.null_count == n or field.name in skip:
            outputs.append(None)
            continue
        bits, size = (n + 7) // 8, n * field.type.byte_width
        validity = memoryview(into.get(k, True, bits))[:bits] if column.null_count else None
        outputs.append((validity, memoryview(into.get(k, False, size))[:size]))
    bounds = _native.range_split(cuts.tobytes(), columns, tuple(outputs))
    arrays = [null_array(field.type, n) if got is None else
              pa.Array.from_buffers(field.type, n, [None if got[0] is None else pa.py_buffer(got[0]),
                                                    pa.py_buffer(got[1])], null_count=column.null_count)
              for field, got, column in zip(NAT_EVENTS, outputs, aligned.columns, strict=True)
              if field.name not in skip]
    return (pa.RecordBatch.from_arrays(arrays, schema=pa.schema([NAT_EVENTS.field(name) for name in kept])),
            np.frombuffer(bounds, dtype=np.int64))


def _start(events: pa.Table, coverage: pa.Table | None, order: int, parts: int = 0) -> object:
    if _native is None:
        raise RuntimeError("the compiled carrier build is not built (install with a C compiler)")
    events = only_nat(events)
    cover = None
    if coverage is not None:
        cover = (coverage.num_rows, *(_column(coverage.column(k).cast(pa.int64()).combine_chunks()) for k in (0, 1)))
    return _native.nat_start(_batches(events), cover, order, parts)


def _arrays(schema: pa.Schema, count: int, buffers: tuple[tuple[bytes | None, bytes, bytes | None], ...]) -> pa.Table:
    arrays = []
    fields = []
    for field, (validity, data, offsets) in zip(schema, buffers, strict=True):
        parts = [None if validity is None else pa.py_buffer(validity)]
        if offsets is not None:
            parts.append(pa.py_buffer(offsets))
            if len(offsets) == 8 * (count + 1) and count:  # 2^31 bytes of addresses or more: 64-bit offsets
                field = field.with_type(pa.large_binary())
        parts.append(pa.py_buffer(data))
        arrays.append(pa.Array.from_buffers(field.type, count, parts, null_count=-1))
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def nat_rows(events: pa.Table, coverage: pa.Table | None = None, order: int = 0, parts: int = 0) -> pa.Table:
    """The rows of build_sql("nat", events) in its order, computed by the extension, in one chunk.

    `coverage` (columns src, coverage) is each source's last nat time when `events` is a subset of the store's
    events; without it, it is computed from `events`. `order` and `parts` are for tests: order 1 has the
    extension merge the events' ordered runs, 2 radix-sort them; parts 1 computes every key on one thread, 2
    splits them in two halves on two threads (0: it chooses).
    """
    assert _native is not None
    state = _start(events, coverage, order, parts)
    chunks = []
    while (got := _native.nat_next(state, 1 << 62, False)) is not None:
        _day, count, buffers = got
        chunks.append(_arrays(ROW_SCHEMA, count, buffers))
    if not chunks:
        return ROW_SCHEMA.empty_table()
    if len(chunks) == 1:
        return chunks[0]
    # chunks of the parts and days, in order, made one; 2^31 bytes of addresses or more need 64-bit offsets
    if sum(c.num_rows for c in chunks) > ((1 << 31) - 1) // 16:
        schema = pa.schema([f.with_type(pa.large_binary()) if pa.types.is_binary(f.type) else f for f in ROW_SCHEMA])
        chunks = [c.cast(schema) for c in chunks]
    return pa.concat_tables(chunks).combine_chunks()


def day_tables(events: pa.Table, coverage: pa.Table | None = None, order: int = 0,
               parts: int = 0) -> Iterator[tuple[int, pa.Table]]:
    """The same rows as the stored NAT table has them (NAT_SCHEMA: the private address split), a day at a time
    in the table's order and at most FILE_ROWS rows at a time, never all of them in memory at once."""
    assert _native is not None
    state = _start(events, coverage, order, parts)
    while (got := _native.nat_next(state, FILE_ROWS, True)) is not None:
        day, count, buffers = got
        yield day, _arrays(NAT_SCHEMA, count, buffers)


def coverage_table(last: Mapping[int, int]) -> pa.Table:
    """Each source's coverage (its last nat time, by source id) as the build takes it: columns src, coverage."""
    return pa.table({"src": pa.array(list(last), pa.int64()), "coverage": pa.array(list(last.values()), pa.int64())})


KEY = ("proto", "priv_ip", "priv_port", "pub_ip", "pub_port")  # a mapping's key, in the build's order


def incremental_rows(events_of: Callable[[str], pa.Table], shas: Sequence[str],
                     new: Sequence[str]) -> tuple[pa.Table, set[int], pa.Table] | None:
    """An incremental build's NAT rows, compiled: those of the keys the new sources' nat events name, from every
    source's events (`events_of(sha)`, one source at a time), the days the same keys' rows fell in without the new
    sources, and the keys (distinct). None when the new sources hold no nat event."""
    assert _native is not None
    fresh_events = [only_nat(events_of(sha)) for sha in new]
    new_events = pa.concat_tables(fresh_events) if fresh_events else read_events([])
    if new_events.num_rows == 0:
        return None
    wanted = _native.key_set(_batches(new_events))
    chosen: list[pa.RecordBatch] = []
    covered: dict[int, int] = {}
    for sha in shas:
        table = only_nat(events_of(sha))
        if table.num_rows == 0:
            continue
        last = pc.max(table.column("t_ms")).as_py()
        if last is not None:  # the source's coverage: the last time it says anything of nat
            covered[pc.min(table.column("src")).as_py()] = last
        batches, columns = _aligned(table)
        masks = _native.keys_in(wanted, columns)
        chosen += [b.filter(pa.array(np.frombuffer(m, dtype=np.bool_))) for b, m in zip(batches, masks, strict=True)]
    events = pa.Table.from_batches(chosen, schema=NAT_EVENTS)
    coverage = coverage_table(covered)
    new_ids = pa.array(sorted({int(source_id(sha)) for sha in new}), pa.int64())
    old = events.filter(pc.invert(pc.is_in(events.column("src"), new_ids)))
    before = {int(d) for d in pc.unique(nat_rows(old, coverage).column("day")).to_pylist()}
    keys = new_events.select(list(KEY)).group_by(list(KEY)).aggregate([])
    return nat_rows(events, coverage), before, keys


def range_rows(events: pa.Table, coverage: pa.Table) -> list[tuple[int, pa.Table]]:
    """The NAT rows of one key range's events (columns COLUMNS) with every source's coverage (src, coverage), as
    stored, day by day: compiled when available, else DuckDB's `build_sql("nat", ...)` on them."""
    if available():
        return list(day_tables(events, coverage))
    from nohaven.carrier.build import build_sql, stored_days  # the SQL lives with the build, which imports this

    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("range_events", events.append_column("kind", pa.array(["nat"] * events.num_rows)))
        con.register("range_coverage", coverage)
        con.execute("CREATE TEMP TABLE coverage AS SELECT src, 'nat' AS kind, coverage FROM range_coverage")
        return list(stored_days(con.sql(build_sql("nat", "range_events")).to_arrow_table().combine_chunks(), "nat"))
    finally:
        con.close()
