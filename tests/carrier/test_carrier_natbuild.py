"""The compiled NAT table build gives DuckDB's rows, in DuckDB's order, and the same store bytes.

Random event sets (several sources, every action, repeated creates, closes without a create, equal timestamps,
IPv4 and IPv6, intervals over midnight, slack of weeks, NULLs where the schema allows them) are built both ways:
the Arrow tables must be equal, and so must the files `store.build()` writes, full and incremental. Last, the
same real log lines ingested with NOHAVEN_CARRIER_NATIVE=0 and without give identical stores.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nohaven.carrier import natbuild
from nohaven.carrier.build import build_sql
from nohaven.carrier.ingest import ingest
from nohaven.carrier.ipaddr import to_bytes
from nohaven.carrier.schema import EVENT_SCHEMA, source_id
from nohaven.carrier.store import DAY_MS, Store

IN_CI = os.environ.get("CI", "").lower() == "true"
DATA = Path(__file__).parent / "_data"
MIDNIGHT = 1_795_737_600_000  # 2026-11-27T00:00:00Z
SOURCES = [(1 << 62) + 12345, 987_654_321_987, (1 << 63) - 7]
IPS = [to_bytes("203.0.113.7"), to_bytes("2001:db8::1"), to_bytes("100.64.0.9"), None]

needs_native = pytest.mark.skipif(natbuild._native is None and not IN_CI,
                                  reason="the compiled build is not built here (no C compiler)")


def test_the_extension_is_built_in_ci() -> None:
    """`pip install -e` builds it; in CI a missing extension is a failure, not a silent fall back to DuckDB."""
    if IN_CI:
        assert natbuild._native is not None, "nohaven.carrier._natbuild did not import"
    assert natbuild.available() is (natbuild._native is not None
                                    and os.environ.get("NOHAVEN_CARRIER_NATIVE", "1") != "0")


# One event: mostly nat, some of another kind (their times are another coverage); keys from small pools so
# that keys repeat, times from a small pool around midnight so that timestamps are equal.
TIMES = [MIDNIGHT + d for d in (-DAY_MS - 5, -3_600_000, -1, 0, 1, 1_000, 60_000, DAY_MS - 1, DAY_MS + 7)]
event = st.fixed_dictionaries({
    "kind": st.sampled_from(["nat"] * 9 + ["block"]),
    "action": st.one_of(st.none(), st.sampled_from([0, 0, 1, 2, 2, 3])),
    "t_ms": st.one_of(st.none(), st.sampled_from(TIMES), st.integers(MIDNIGHT - 2 * DAY_MS, MIDNIGHT + 2 * DAY_MS)),
    "begin": st.one_of(st.none(), st.integers(-2 * DAY_MS, 1_000)),
    "slack_ms": st.one_of(st.none(), st.sampled_from([0, 1, 999, 86_400_000, 2_147_483_647])),
    "flags": st.one_of(st.none(), st.sampled_from([0, 1, 8, -128])),
    "proto": st.one_of(st.none(), st.sampled_from([6, 17])),
    "priv_ip": st.sampled_from(IPS),
    "priv_port": st.one_of(st.none(), st.sampled_from([1000, 1001, -5])),
    "pub_ip": st.sampled_from(IPS),
    "pub_port": st.one_of(st.none(), st.sampled_from([40000, 65535])),
    "src": st.one_of(st.none(), st.sampled_from(SOURCES), st.sampled_from(SOURCES)),
    "null_line": st.integers(0, 19),
    "nlines": st.one_of(st.none(), st.sampled_from([1, 2])),
})


def events_table(rows: list[dict[str, Any]]) -> pa.Table:
    """The events as their files hold them. A source's lines are distinct (one event a line), and at most one of
    its events has no line: otherwise the SQL's own window order would not be deterministic."""
    columns: dict[str, list[Any]] = {f.name: [] for f in EVENT_SCHEMA}
    nulled: set[Any] = set()
    for n, row in enumerate(rows):
        line: int | None = n + 1
        if row["null_line"] == 0 and row["src"] not in nulled:
            nulled.add(row["src"])
            line = None
        t = row["t_ms"]
        values = dict(row, line=line, begin_ms=None if row["begin"] is None or t is None else t + row["begin"])
        for f in EVENT_SCHEMA:
            columns[f.name].append(values.get(f.name))
    return pa.Table.from_pydict(columns, schema=EVENT_SCHEMA)


def duckdb_rows(events: pa.Table, subset: pa.Table | None = None) -> pa.Table:
    """build_sql("nat", ...) over `events` (or over `subset`, with the coverage of all of `events`)."""
    con = duckdb.connect()
    try:
        con.register("events", events)
        con.execute("CREATE TEMP TABLE coverage AS SELECT src, kind, max(t_ms) AS coverage FROM events GROUP BY ALL")
        relation = "events"
        if subset is not None:
            con.register("ek", subset)
            relation = "ek"
        return con.sql(build_sql("nat", relation)).to_arrow_table().combine_chunks()
    finally:
        con.close()


def coverage_of(events: pa.Table) -> pa.Table:
    con = duckdb.connect()
    try:
        con.register("events", events)
        return con.sql("SELECT src, max(t_ms) AS coverage FROM events WHERE kind = 'nat' GROUP BY src").to_arrow_table()
    finally:
        con.close()


def assert_same(native: pa.Table, expected: pa.Table) -> None:
    assert native.schema == expected.schema
    assert native.to_pylist() == expected.to_pylist()
    assert native.equals(expected)


def in_batches(events: pa.Table, rows: int) -> pa.Table:
    """The same events in record batches of at most `rows` rows (the extension reads batches where they are)."""
    return pa.Table.from_batches(events.to_batches(max_chunksize=rows), schema=events.schema)


# How the extension puts the events in the window's order: chosen by it, by merging their ordered runs, by a
# radix sort; and whether it computes the keys on one thread or splits them in two halves by their public side,
# each on a thread of its own. Each must give DuckDB's rows.
ORDERS = st.sampled_from([0, 1, 2])
PARTS = st.sampled_from([0, 1, 2])


@needs_native
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, max_size=60), ORDERS, PARTS, st.integers(1, 64))
def test_random_events_give_duckdbs_rows(rows: list[dict[str, Any]], order: int, parts: int, batch: int) -> None:
    events = in_batches(events_table(rows), batch)
    assert_same(natbuild.nat_rows(events, order=order, parts=parts), duckdb_rows(events))


@needs_native
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, max_size=60), st.sampled_from(IPS), ORDERS, PARTS)
def test_a_subset_with_the_stores_coverage_gives_duckdbs_rows(rows: list[dict[str, Any]], pub: bytes | None,
                                                              order: int, parts: int) -> None:
    """The incremental build's case: some keys' events, each source's coverage taken from all events."""
    events = events_table(rows)
    subset = events.filter(pa.compute.is_null(events.column("pub_ip")) if pub is None
                           else pa.compute.equal(events.column("pub_ip"), pa.scalar(pub, pa.binary(16))))
    assert_same(natbuild.nat_rows(subset, coverage_of(events), order=order, parts=parts),
                duckdb_rows(events, subset))


@needs_native
@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("parts", [1, 2])
def test_a_busy_public_port_and_a_long_day(order: int, parts: int) -> None:
    """Many sessions on one public port (ties of start sorted by merge, not insertion), thousands of keys, and
    the events of two sources each in time order (two runs to merge), in batches of 100; on one thread, and
    split in two halves (two public ports) with the rows of both halves in each of two days."""
    rows = []
    for i in range(3000):
        start = MIDNIGHT - 600_000 + i * 997
        key = {"kind": "nat", "slack_ms": 1, "flags": 0, "proto": 6, "priv_ip": IPS[i % 3],
               "priv_port": 1000 + i % 50, "pub_ip": IPS[0], "pub_port": 40000 + (i % 7 == 0), "nlines": 1,
               "begin": None, "null_line": 1}
        rows.append({**key, "action": 0, "t_ms": start - start % 20_000, "src": SOURCES[i % 2]})
        if i % 5:
            rows.append({**key, "action": 2, "t_ms": start + 30_000 + i % 13, "src": SOURCES[i % 3]})
    rows.sort(key=lambda r: (r["src"] != SOURCES[0], r["t_ms"]))
    events = in_batches(events_table(rows), 100)
    native = natbuild.nat_rows(events, order=order, parts=parts)
    assert native.num_rows > 2000 and len(set(native.column("day").to_pylist())) == 2
    assert_same(native, duckdb_rows(events))
    days = [(day, rows.num_rows) for day, rows in natbuild.day_tables(events, order=order, parts=parts)]
    assert len(days) == 2 * parts  # a chunk per day and part
    assert sum(n for _, n in days) == native.num_rows


@needs_native
def test_bad_buffers_are_refused_with_the_column_named() -> None:
    events = events_table([{"kind": "nat", "action": 0, "t_ms": MIDNIGHT, "begin": None, "slack_ms": 0, "flags": 0,
                            "proto": 6, "priv_ip": IPS[0], "priv_port": 1, "pub_ip": IPS[1], "pub_port": 2,
                            "src": SOURCES[0], "null_line": 1, "nlines": 1}] * 3)
    (rows, columns), = natbuild._batches(events)
    broken = list(columns)
    broken[1] = (None, pa.py_buffer(b"\0" * 8), 0)  # t_ms: one element's bytes for three events
    with pytest.raises(ValueError, match="column t_ms"):
        natbuild._native.nat_start(((rows, tuple(broken)),), None)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="13 columns"):
        natbuild._native.nat_start(((0, tuple(columns[:3])),), None)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="order"):
        natbuild._native.nat_start(((rows, columns),), None, 3)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="parts"):
        natbuild._native.nat_start(((rows, columns),), None, 0, 3)  # type: ignore[union-attr]


# -- the store's bytes ------------------------------------------------------------------------------------------
def write_sources(store: Store, events: pa.Table, sources: list[int]) -> None:
    """Each source's events as an ingest leaves them: an events file and a committed marker."""
    store.create()
    for src in sources:
        sha = f"{src << 1:016x}" + hashlib.sha256(str(src).encode()).hexdigest()[16:]  # source_id(sha) == src
        assert source_id(sha) == src
        part = events.filter(pa.compute.equal(events.column("src"), src))
        with pa.ipc.new_file(str(store.events_path(sha)), part.schema) as out:
            out.write_table(part)
        store.marker(sha).write_text(json.dumps({"source_id": src}))


def table_bytes(store: Store) -> dict[str, str]:
    root = store.tables_dir
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def build_both(tmp: Path, name: str, events: pa.Table, batches: list[list[int]],
               monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], dict[str, str]]:
    """The tables built natively and by DuckDB, adding the sources batch by batch (a full build, then
    incremental ones)."""
    out = []
    for native in ("1", "0"):
        monkeypatch.setenv("NOHAVEN_CARRIER_NATIVE", native)
        store = Store(tmp / f"{name}-{native}")
        for batch in batches:
            write_sources(store, events, batch)
            store.build()
        out.append(table_bytes(store))
    monkeypatch.delenv("NOHAVEN_CARRIER_NATIVE")
    return out[0], out[1]


@needs_native
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(rows=st.lists(event, min_size=1, max_size=40))
def test_store_build_writes_the_same_bytes(rows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [dict(r, src=r["src"] if r["src"] is not None else SOURCES[0]) for r in rows]  # a file has its source
    events = events_table(rows)
    tmp = tmp_path_factory.mktemp("stores")
    native, duck = build_both(tmp, "full", events, [SOURCES], monkeypatch)
    assert native == duck
    native, duck = build_both(tmp, "incremental", events, [SOURCES[:1], SOURCES[1:2], SOURCES[2:]], monkeypatch)
    assert native == duck


def a10(kind: str, at: datetime, sub: str, port: int, pub_port: int) -> str:
    return (f"{at:%Y-%m-%dT%H:%M:%S}+00:00 cgn-1 NAT-TCP-{kind}: {sub}:{port}<->192.0.2.80:443,"
            f"203.0.113.7:{pub_port}<-->192.0.2.80:443")


def rtflow(kind: str, at: datetime, sub: str, port: int, pub_port: int) -> str:
    tail = (f'source-address="{sub}" source-port="{port}" destination-address="192.0.2.1" destination-port="443" '
            f'nat-source-address="2001:db8::7" nat-source-port="{pub_port}" protocol-id="17"')
    event = "RT_FLOW_SESSION_CREATE" if kind == "C" else 'RT_FLOW_SESSION_CLOSE reason="idle Timeout"'
    return f"<14>1 {at:%Y-%m-%dT%H:%M:%S}.250Z srx-1 RT_FLOW - {event} [junos@2636.1.1.1.2.26 {tail}]"


def test_ingest_writes_the_same_store_with_and_without_the_compiled_build(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real lines of two vendors (sessions over midnight, a port reused, a close without its create, a create
    never closed) and the sample files of the other formats; then a next file (the incremental build)."""
    day = datetime(2026, 11, 26, 23, 50, tzinfo=UTC)
    lines_a, lines_j = [], []
    for i in range(300):
        at = day + timedelta(seconds=7 * i)
        sub, port, pub = f"100.64.1.{i % 40 + 1}", 30000 + i, 2000 + i % 60
        lines_a += [a10("C", at, sub, port, pub)] + ([a10("F", at + timedelta(seconds=40), sub, port, pub)]
                                                      if i % 9 else [])
        lines_j += [rtflow("C", at, sub, port, pub)] if i % 11 else []
        lines_j += [rtflow("F", at + timedelta(seconds=90), sub, port, pub)]
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "cgn.log").write_text("\n".join(sorted(lines_a)) + "\n")
    (logs / "srx.log").write_text("\n".join(lines_j) + "\n")
    later = day + timedelta(hours=1)
    (logs / "cgn-next.log").write_text("\n".join(
        [a10("F", later, "100.64.1.1", 30000 + 40 * k, 2000 + 40 * k % 60) for k in range(5)]
        + [a10("C", later + timedelta(seconds=k), "100.64.2.1", 50000 + k, 2000 + k) for k in range(50)]) + "\n")
    first = [str(logs / "cgn.log"), str(logs / "srx.log")] + [
        str(DATA / n) for n in ("a10.log", "citrix-lsn.log", "conntrack.log", "f5-lsn.log", "freeradius-detail.log",
                                "juniper-pba.log", "juniper-rtflow.log", "kea-csv.log")]
    stores = {}
    for native in ("1", "0"):
        monkeypatch.setenv("NOHAVEN_CARRIER_NATIVE", native)
        store = Store(tmp_path / f"store-{native}")
        result = ingest(store, first)
        assert result.tables is not None and result.tables["nat"] > 600
        ingest(store, [str(logs / "cgn-next.log")])
        stores[native] = table_bytes(store)
    assert len([k for k in stores["1"] if k.startswith("nat/")]) >= 2
    assert stores["1"] == stores["0"]


@needs_native
def test_times_out_of_range_are_refused_like_duckdb_refuses_them() -> None:
    row = {"kind": "nat", "action": 0, "t_ms": -(1 << 63) + 5, "begin": None, "slack_ms": 999, "flags": 0,
           "proto": 6, "priv_ip": IPS[0], "priv_port": 1, "pub_ip": IPS[1], "pub_port": 2, "src": SOURCES[0],
           "null_line": 1, "nlines": 1}
    events = events_table([row])
    with pytest.raises(ValueError, match="out of the range of 64-bit milliseconds"):
        natbuild.nat_rows(events)
    with pytest.raises(duckdb.Error):
        duckdb_rows(events)


@needs_native
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(event, max_size=40), st.lists(event, max_size=40), st.integers(1, 16))
def test_keys_in_finds_the_events_of_a_set_of_keys_nulls_equal(wanted: list[dict[str, Any]],
                                                             rows: list[dict[str, Any]], batch: int) -> None:
    """The incremental build's selection: an event is chosen when its mapping key (proto, private and public
    address and port) is the key of some wanted event, NULL equal to NULL as GROUP BY has it."""
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(row[name] for name in natbuild.KEY)

    events = in_batches(events_table(rows), batch) if rows else events_table(rows)
    chosen = natbuild._native.keys_in(natbuild._native.key_set(natbuild._batches(events_table(wanted))),  # type: ignore[union-attr]
                                      natbuild._batches(events))
    assert b"".join(chosen) == bytes(key(r) in {key(w) for w in wanted} for r in rows)
