"""The build: per-source events turned into the sorted interval tables (nat, blocks, identity), day by day.

An interval belongs to one key (a NAT mapping's protocol, private and public address and port; a port block; a
RADIUS session or DHCP lease) and is computed from that key's events alone, whatever source they came from, plus
each source's coverage (the last time it says anything of that kind, where an interval without a close ends).
So when sources are added, only the intervals of the keys the new events name can change, and only the days
those intervals cover, before or after, need writing again:

1. K = the keys of the new sources' events, per table;
2. the intervals of K are computed from every source (new), and from the old sources alone (as they were);
3. each day either of them covers is rewritten: its other keys' rows as stored, plus the new intervals of K,
   in the same total order a full build uses, so the file is byte for byte the one a full build writes;
4. BUILD.json (sources, rows per day) is written last. A run killed before that leaves BUILD.json naming the old
   sources; the next run computes the same K (or a larger one) and rewrites the same days again, so it ends in
   the same store.

The first build (or one after sources were removed) is a full build into `tables.new/`, which replaces `tables/`.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nohaven import durable
from nohaven.carrier import buildparts, formats, natbuild
from nohaven.carrier.ipaddr import V4_PREFIX
from nohaven.carrier.schema import IP, NAT_VIEW, V4_ANY, source_id
from nohaven.carrier.store import (
    DAY_MS,
    LAYOUT,
    TABLES,
    DayWriter,
    day_name,
    event_dataset,
)
from nohaven.carrier.timeparse import FLAG_END_OPEN, FLAG_START_UNKNOWN

if TYPE_CHECKING:
    from nohaven.carrier.store import Store

__all__ = ["build"]


@dataclass(frozen=True)
class _Spec:
    kind: str  # the events' kind
    key: tuple[str, ...]  # the interval key, in event columns
    stored_key: tuple[str, ...]  # the same key in the table's columns
    columns: tuple[str, ...]  # the build's output columns (before the NAT table's private address is split)
    order: str  # a total order of the rows of one day


_SPECS = {
    "nat": _Spec("nat", ("proto", "priv_ip", "priv_port", "pub_ip", "pub_port"),
                 ("proto", "priv_ip", "priv_port", "pub_ip", "pub_port"),
                 ("pub_ip", "pub_port", "start_ms", "dur_ms", "slack_ms", "flags", "proto", "priv_ip", "priv_port",
                  "src", "line", "nlines", "end_src", "end_dline", "end_nlines"),
                 "pub_ip, pub_port, start_ms, src, line, proto, priv_ip, priv_port, dur_ms, slack_ms, flags, "
                 "nlines, end_src, end_dline, end_nlines"),
    "blocks": _Spec("block", ("proto", "priv_ip", "pub_ip", "pub_port", "port_hi"),
                    ("proto", "priv_ip", "pub_ip", "pub_port", "port_hi"),
                    tuple(TABLES["blocks"].names),
                    "pub_ip, pub_port, start_ms, src, line, port_hi, proto, priv_ip, end_ms, slack_ms, flags, "
                    "nlines, end_src, end_line, end_nlines"),
    "identity": _Spec("identity", ("priv_ip", "ip_hi", "session"), ("ip_lo", "ip_hi", "session"),
                      tuple(n for n in TABLES["identity"].names if n not in ("lo_v4", "hi_v4")),
                      "ip_lo, start_ms, src, line, ip_hi, session, end_ms, slack_ms, flags, subscriber, station, "
                      "mac, hostname, nlines, end_src, end_line, end_nlines"),
}


def build(store: Store, events: Mapping[str, Sequence[pa.RecordBatch]] | None = None,
          presplit: buildparts.Presplit | None = None) -> dict[str, int]:
    """Bring the tables up to date with the store's sources; returns row counts per table. `events`: sources'
    events the caller holds in memory (the ingest that just wrote them), by content digest; a full build reads
    those from there instead of from their files. `presplit`: sources' nat events the ingest split into key ranges
    as it wrote them, which a full build in key ranges takes instead of splitting their files again."""
    manifests = store.sources()
    shas = sorted(manifests)
    state = store.build_state()
    built = set(state["sources"]) if state else None
    paths = [p for p in map(store.events_file, shas) if p is not None]
    if state is not None and state.get("layout") == LAYOUT and built is not None and built < set(shas) and paths:
        return _incremental(store, shas, paths, sorted(set(shas) - built), state["days"], events or {})
    return _full(store, shas, paths, _kinds(manifests, shas), events or {}, presplit)


def _duckdb(spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    if spill is not None:
        # An incremental build's DuckDB within the build's memory budget (the rest of the process comes on top):
        # its sorts and temporary tables spill under the store's tmp/
        con.execute(f"SET memory_limit = '{max(buildparts.memory_budget(), 1 << 27)}B'")
        con.execute(f"SET temp_directory = '{spill}'")
    return con


def _connect(paths: list[Path], spill: Path | None = None) -> duckdb.DuckDBPyConnection:
    con = _duckdb(spill)
    # The event files (Arrow IPC, which DuckDB does not read itself; Parquet in an older store) as a pyarrow
    # dataset, which it scans with the statements' projections and filters pushed down.
    con.register("events", event_dataset(paths))
    # Where an interval without a close ends: the last time its source says anything of that kind.
    con.execute("CREATE TEMP TABLE coverage AS SELECT src, kind, max(t_ms) AS coverage FROM events GROUP BY ALL")
    return con


def _full(store: Store, shas: list[str], paths: list[Path], held: set[str],
          in_memory: Mapping[str, Sequence[pa.RecordBatch]], presplit: buildparts.Presplit | None) -> dict[str, int]:
    work = store.root / "tables.new"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    counts = {name: 0 for name in TABLES}
    days: dict[str, dict[str, int]] = {name: {} for name in TABLES}
    if paths:
        parts = buildparts.parts_needed(paths) if "nat" in held else 1
        # DuckDB (its coverage table, a scan of every event) only where a table needs it: the compiled NAT build
        # and the build in key ranges compute their own coverage, and a kind no source's format produces has no
        # rows to build.
        needs_duckdb = bool(held & {"block", "identity"}) or ("nat" in held and parts == 1
                                                               and not natbuild.available())
        con = _connect(paths) if needs_duckdb else duckdb.connect()
        try:
            for name in TABLES:
                if _SPECS[name].kind not in held:
                    continue
                if name == "nat" and parts > 1:
                    days["nat"] = _nat_in_ranges(store, shas, parts, work / "nat", presplit)
                elif name == "nat":
                    days["nat"] = _write_days(_nat_days(con, store, shas, in_memory), work / "nat", "nat")
                else:
                    days[name] = _write_days(stored_days(con.sql(build_sql(name, "events")).to_arrow_table(),
                                                         name), work / name, name)
                counts[name] = sum(days[name].values())
        finally:
            con.close()
    _write_state(work, shas, days)  # every folder in work/ was flushed in its parent when made (durable.mkdir)
    old = store.root / "tables.old"
    shutil.rmtree(old, ignore_errors=True)
    if store.tables_dir.exists():
        os.replace(store.tables_dir, old)
    os.replace(work, store.tables_dir)
    durable.sync_dir(store.root)
    shutil.rmtree(old, ignore_errors=True)
    return counts


def _by_day(table: pa.Table) -> list[tuple[int, pa.Table]]:
    """A build's rows, ordered by day first (build_sql, the compiled build), as one slice per day: no copy."""
    if table.num_rows == 0:
        return []
    day = table.column("day").to_numpy()
    step = np.diff(day)
    if (step < 0).any():  # the order every build statement ends with; a slice of an unordered one is wrong
        raise RuntimeError("the build's rows are not ordered by day")
    bounds = [0, *(np.flatnonzero(step) + 1).tolist(), len(day)]
    return [(int(day[a]), table.slice(a, b - a)) for a, b in pairwise(bounds)]


def _kinds(manifests: dict[str, dict[str, Any]], shas: list[str]) -> set[str]:
    """The kinds of events the sources can hold, by their formats (every kind for a format not known here)."""
    kinds: set[str] = set()
    for sha in shas:
        name = manifests.get(sha, {}).get("format")
        if isinstance(name, str) and name in formats.FORMATS:
            kinds.update(formats.get(name).produces.split("+"))
        else:
            kinds.update(("nat", "block", "identity"))
    return kinds


def _nat_days(con: duckdb.DuckDBPyConnection, store: Store, shas: list[str],
              in_memory: Mapping[str, Sequence[pa.RecordBatch]]) -> Iterable[tuple[int, pa.Table]]:
    """A full build's NAT rows as stored, day by day in the table's order: from the compiled build a file's
    rows at a time, else from DuckDB's statement over the connection's events."""
    if not natbuild.available():
        return stored_days(con.sql(build_sql("nat", "events")).to_arrow_table().combine_chunks(), "nat")
    parts = [natbuild.only_nat(_events_of(store, sha, in_memory)) for sha in shas]
    return natbuild.day_tables(pa.concat_tables(parts) if parts else natbuild.read_events([]))


def stored_days(rows: pa.Table, name: str) -> Iterator[tuple[int, pa.Table]]:
    """A build statement's rows (with their day) as table `name` stores them, a day at a time."""
    for day, part in _by_day(rows):
        yield day, _cast(part, TABLES[name])


def _write_days(chunks: Iterable[tuple[int, pa.Table]], folder: Path, name: str,
                writers: dict[int, DayWriter] | None = None) -> dict[str, int]:
    """Rows as stored, in the table's order within each day, written day by day; the rows of each day."""
    writers = {} if writers is None else writers
    for day, part in chunks:
        if day not in writers:
            writers[day] = _day_writer(folder, name, day)
        writers[day].add(part)
    return {day_name(day): writers[day].close() for day in sorted(writers)}


def _nat_in_ranges(store: Store, shas: list[str], parts: int, folder: Path,
                   presplit: buildparts.Presplit | None) -> dict[str, int]:
    """The NAT table built range by range of public (address, port) within the memory budget
    (nohaven.carrier.buildparts): the same files as the whole table written at once. The sources an ingest split
    as it wrote them (`presplit`) are not split again."""
    events = {sha: p for sha in shas if (p := store.events_file(sha)) is not None}
    ranges = buildparts.partitioned_rows(events, natbuild.COLUMNS, parts, store.tmp_dir() / "build-spill",
                                         natbuild.range_rows, presplit)
    return _write_days((chunk for chunks in ranges for chunk in chunks), folder, "nat")


def _incremental(store: Store, shas: list[str], paths: list[Path], new: list[str], days: dict[str, dict[str, int]],
                 in_memory: Mapping[str, Sequence[pa.RecordBatch]]) -> dict[str, int]:
    new_ids = ", ".join(str(source_id(s)) for s in new)
    produced = _kinds(store.sources(), new)  # a kind no new source's format produces has no new keys
    compiled = natbuild.available()
    # DuckDB's view of every event (and its coverage table) only for the statements that read it: the compiled
    # NAT build selects its events itself
    scans = bool(produced & {"block", "identity"}) or ("nat" in produced and not compiled)
    con = _connect(paths, store.tmp_dir() / "build-duckdb") if scans else _duckdb(store.tmp_dir() / "build-duckdb")
    try:
        for name, spec in _SPECS.items():
            days.setdefault(name, {})
            if spec.kind not in produced:
                continue
            if name == "nat" and compiled:
                got = natbuild.incremental_rows(lambda sha: _events_of(store, sha, in_memory), shas, new)
                if got is None:
                    continue
                fresh, before, keys = got
                con.register("k", keys)
            else:
                on = _same("e", "k", spec.key, spec.key)
                con.execute(f"CREATE OR REPLACE TEMP TABLE k AS SELECT DISTINCT {', '.join(spec.key)} FROM events "  # noqa: S608
                            f"WHERE kind = '{spec.kind}' AND src IN ({new_ids})")
                if con.execute("SELECT count(*) FROM k").fetchall()[0][0] == 0:
                    continue
                # Only the events of the table's kind (build_sql reads no other): the filter reaches the scan of the
                # event files' dataset, so DuckDB does not take in every event's columns (a RADIUS file into a store
                # of 10^7 nat events: 9.3 -> 1.0 s for this statement)
                con.execute(f"CREATE OR REPLACE TEMP TABLE ek AS SELECT e.* FROM events e SEMI JOIN k ON {on} "  # noqa: S608
                            f"WHERE e.kind = '{spec.kind}'")
                con.execute(f"CREATE OR REPLACE TEMP VIEW ek_old AS SELECT * FROM ek WHERE src NOT IN ({new_ids})")  # noqa: S608
                old_sql = build_sql(name, "ek_old")
                fresh = con.sql(build_sql(name, "ek")).to_arrow_table().combine_chunks()
                before = {int(row[0]) for row in con.sql(f"SELECT DISTINCT day FROM ({old_sql})").fetchall()}  # noqa: S608
            con.register("fresh", fresh)
            affected = sorted({int(d) for d in pc.unique(fresh.column("day")).to_pylist()} | before)
            for day in affected:
                rows = _merge_day(con, store, name, spec, day)
                if rows:
                    days[name][day_name(day)] = rows
                else:
                    days[name].pop(day_name(day), None)
            con.unregister("fresh")
            if name == "nat" and compiled:
                con.unregister("k")
    finally:
        con.close()
    _write_state(store.tables_dir, shas, days)
    return {name: sum(days.get(name, {}).values()) for name in TABLES}


def _events_of(store: Store, sha: str, in_memory: Mapping[str, Sequence[pa.RecordBatch]]) -> pa.Table:
    """A source's events, the columns a build reads: held in memory by the ingest, or else read from its file."""
    if sha in in_memory:
        return pa.Table.from_batches(in_memory[sha], schema=natbuild.NAT_EVENTS)
    path = store.events_file(sha)
    return natbuild.read_events([path] if path is not None else [])


def _merge_day(con: duckdb.DuckDBPyConnection, store: Store, name: str, spec: _Spec, day: int) -> int:
    """One day of a table again: its rows of other keys as stored, and the new intervals of the keys in k,
    streamed from DuckDB's sort (which spills within the memory budget) into the day's writer, so a day of any
    size is rewritten in bounded memory."""
    columns = ", ".join(spec.columns)
    folder = store.tables_dir / name / f"day={day_name(day)}"
    parts = [f"SELECT {columns} FROM fresh WHERE day = {int(day)}"]  # noqa: S608
    index = store.day_index(name, day)
    if index is not None and index.names:
        stored = f"read_parquet({index.files()!r})"
        if name == "nat":
            stored = f"({NAT_VIEW.format(t=stored)})"
        parts.append(f"SELECT {columns} FROM {stored} AS x ANTI JOIN k ON "  # noqa: S608
                     f"{_same('x', 'k', spec.stored_key, spec.key)}")
    reader = con.sql(" UNION ALL ".join(parts) + f" ORDER BY {spec.order}").to_arrow_reader(1 << 16)
    # The writer replaces the day's index only when it closes, after the last stored row has been read, and
    # its files are named by content: the files being read stay as they are until then.
    writer = DayWriter(folder, name)
    for batch in reader:
        if batch.num_rows:
            writer.add(_cast(pa.Table.from_batches([batch]), TABLES[name]))
    return writer.close()  # no rows: the day is removed


def _same(left: str, right: str, left_cols: tuple[str, ...], right_cols: tuple[str, ...]) -> str:
    return " AND ".join(f"{left}.{a} IS NOT DISTINCT FROM {right}.{b}"
                        for a, b in zip(left_cols, right_cols, strict=True))


def _day_writer(folder: Path, name: str, day: int) -> DayWriter:
    return DayWriter(folder / f"day={day_name(day)}", name)


def _write_state(folder: Path, shas: list[str], days: dict[str, dict[str, int]]) -> None:
    state = {"layout": LAYOUT, "sources": shas, "rows": {name: sum(days.get(name, {}).values()) for name in TABLES},
             "days": {name: dict(sorted(days.get(name, {}).items())) for name in TABLES}}
    durable.write_file(folder / "BUILD.json", json.dumps(state, indent=1, sort_keys=True).encode())


def _cast(table: pa.Table, schema: pa.Schema) -> pa.Table:
    if "priv_v4" in schema.names:
        table = _split_private(table)
    if "lo_v4" in schema.names:
        table = _v4_range(table)
    return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in schema], schema=schema)


def _v4(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Which 16-byte addresses are IPv4-mapped, and their IPv4 value as an integer."""
    array = column.cast(IP).combine_chunks()
    n = len(array)
    raw = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=(array.offset + n) * 16)[array.offset * 16:]
    matrix = raw.reshape(n, 16)
    is_v4 = (matrix[:, :12] == np.frombuffer(V4_PREFIX, dtype=np.uint8)).all(axis=1)
    if array.null_count:
        is_v4 &= array.is_valid().to_numpy(zero_copy_only=False)
    return is_v4, matrix[:, 12:].astype(np.int64) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.int64)


def _v4_range(table: pa.Table) -> pa.Table:
    """lo_v4 / hi_v4 of identity rows (see the schema)."""
    lo_ok, lo = _v4(table.column("ip_lo"))
    hi_ok, hi = _v4(table.column("ip_hi"))
    both = lo_ok & hi_ok
    table = table.append_column("lo_v4", pa.array(np.where(both, lo, V4_ANY[0])))
    return table.append_column("hi_v4", pa.array(np.where(both, hi, V4_ANY[1])))


def _split_private(table: pa.Table) -> pa.Table:
    """priv_ip as an integer when it is IPv4-mapped (priv_v4), else kept whole (priv_ip6)."""
    column = table.column("priv_ip").cast(IP).combine_chunks()
    is_v4, value = _v4(table.column("priv_ip"))
    table = table.append_column("priv_v4", pa.array(value, mask=~is_v4))
    return table.append_column("priv_ip6", pc.if_else(pa.array(is_v4), pa.nulls(len(column), IP), column))


def _segments(kind: str, key: str, extra: str, events: str) -> str:
    """Intervals from events: each close ends a segment of its key; a segment is one interval."""
    # The build statements are assembled from constants of this module only.
    return f"""
    WITH ev AS (
      SELECT e.*, c.coverage FROM {events} AS e JOIN coverage AS c ON c.src = e.src AND c.kind = e.kind
      WHERE e.kind = '{kind}'),
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


def _days(select: str, order: str, source: str = "iv") -> str:
    return f"""
    SELECT {select}, unnest(range(CAST(floor((start_ms - slack_ms) / {DAY_MS}) AS BIGINT),
                                  CAST(floor((end_ms + slack_ms) / {DAY_MS}) AS BIGINT) + 1)) AS day
    FROM {source} ORDER BY day, {order}
    """  # noqa: S608


_PROV = "src, line, nlines, end_src, end_line, end_nlines"


def build_sql(name: str, events: str) -> str:
    """The statement that computes table `name`'s rows, with their `day`, from the relation `events`."""
    spec = _SPECS[name]
    key = ", ".join(spec.key)
    if name == "nat":
        return _segments("nat", key, "", events) + _days(
            "pub_ip, pub_port, start_ms, end_ms - start_ms AS dur_ms, slack_ms, flags, proto, priv_ip, priv_port, "
            "src, line, nlines, end_src, end_line - line AS end_dline, end_nlines", spec.order)
    if name == "blocks":
        return _segments("block", key, "", events) + _days(
            f"pub_ip, pub_port, port_hi, start_ms, end_ms, slack_ms, flags, proto, priv_ip, {_PROV}", spec.order)
    # A DHCP lease declared again (renewed) keeps its start: the declaration with the latest end wins.
    return (_segments("identity", key, "first(subscriber ORDER BY subscriber NULLS LAST) AS subscriber, "  # noqa: S608
                      "first(station ORDER BY station NULLS LAST) AS station, "
                      "first(mac ORDER BY mac NULLS LAST) AS mac, "
                      "first(hostname ORDER BY hostname NULLS LAST) AS hostname,", events)
            + """, best AS (SELECT * FROM iv QUALIFY row_number() OVER (
            PARTITION BY priv_ip, ip_hi, session, start_ms ORDER BY end_ms DESC, src DESC, line DESC) = 1)"""
            + _days(f"priv_ip AS ip_lo, ip_hi, start_ms, end_ms, slack_ms, flags, subscriber, station, mac, "
                    f"hostname, session, {_PROV}", spec.order, "best"))
