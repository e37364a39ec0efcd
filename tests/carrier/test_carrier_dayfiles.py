"""A day of a table is cut into files of FILE_ROWS rows listed in the day's index.json with their key ranges: a
lookup opens only the file its key can be in and answers what a lookup over the whole day answers; the files are
named by their content, so a day written again with the same rows keeps them; a write that fails leaves the
previous index and every file it lists."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from nohaven.carrier import store as store_module
from nohaven.carrier.engines import NAT_COLUMNS, DuckDBEngine, nat_rows, nat_sql
from nohaven.carrier.ingest import ingest
from nohaven.carrier.ipaddr import to_bytes
from nohaven.carrier.lookup import Attributor, Query
from nohaven.carrier.schema import NAT_VIEW
from nohaven.carrier.store import DAY_MS, DayWriter, Store, lookup_key

START = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)
SMALL = 300  # rows per file in these tests (FILE_ROWS is 2^16)


def a10_log(path: Path, n: int, seed: int) -> tuple[Path, list[tuple[str, int, datetime]]]:
    """a10 mappings over midnight on 12 public addresses and few ports (so a port's rows can straddle two
    files); returns the file and (public address, port, an instant inside the mapping) of each."""
    rng = random.Random(seed)
    lines, held = [], []
    for i in range(n):
        start = START + timedelta(seconds=rng.randrange(0, 6 * 3600), milliseconds=rng.randrange(1000))
        end = start + timedelta(seconds=rng.randrange(2, 1800))
        pub, port = f"203.0.113.{rng.randrange(12)}", rng.randrange(1024, 1064)
        body = f"100.64.{i % 250}.{1 + i % 200}:{30000 + i}<->192.0.2.80:443,{pub}:{port}<-->192.0.2.80:443"
        lines += [(start, f"{start:%Y-%m-%dT%H:%M:%S}.{start.microsecond // 1000:03d}Z cgn-1 NAT-TCP-C: {body}"),
                  (end, f"{end:%Y-%m-%dT%H:%M:%S}.{end.microsecond // 1000:03d}Z cgn-1 NAT-TCP-F: {body}")]
        held.append((pub, port, start + (end - start) / 2))
    path.write_text("".join(text + "\n" for _, text in sorted(lines)))
    return path, held


@pytest.fixture()
def stores(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, Store, list[Query]]:
    """The same log ingested with files of SMALL rows and with one file per day; queries, hits and misses."""
    log, held = a10_log(tmp_path / "a10.log", 2500, 7)
    whole = Store(tmp_path / "whole")
    ingest(whole, [str(log)])
    monkeypatch.setattr(store_module, "FILE_ROWS", SMALL)
    cut = Store(tmp_path / "cut")
    ingest(cut, [str(log)])
    rng = random.Random(3)
    queries = [Query.make(pub, port, at.isoformat(), "2s") for pub, port, at in rng.sample(held, 150)]
    queries += [Query.make(f"203.0.113.{rng.randrange(12)}", rng.randrange(1024, 1064),
                           (START + timedelta(seconds=rng.randrange(7 * 3600))).isoformat(), "30s")
                for _ in range(100)]
    queries += [Query.make(f"203.0.113.{n}", port, "2026-11-27T00:00:00.500Z", "2s") for n in range(12)
                for port in range(1024, 1064, 3)]  # windows over midnight: two days' files
    return whole, cut, queries


def test_a_day_is_cut_into_files_of_sorted_key_ranges(stores: tuple[Store, Store, list[Query]]) -> None:
    whole, cut, _ = stores
    for day in ("2026-11-26", "2026-11-27"):
        assert len(json.loads((whole.tables_dir / "nat" / f"day={day}" / "index.json").read_text())["files"]) == 1
        index = json.loads((cut.tables_dir / "nat" / f"day={day}" / "index.json").read_text())
        files = index["files"]
        assert len(files) >= 3 and sum(f["rows"] for f in files) == index["rows"]
        assert all(f["rows"] == SMALL for f in files[:-1]) and 0 < files[-1]["rows"] <= SMALL
        folder = cut.tables_dir / "nat" / f"day={day}"
        assert sorted(p.name for p in folder.iterdir()) == sorted(["index.json", *(f["name"] for f in files)])
        previous_hi = ""
        for f in files:
            meta = pq.ParquetFile(folder / f["name"]).metadata
            assert meta.num_rows == f["rows"] and meta.num_row_groups == 1
            table = pq.read_table(folder / f["name"], columns=["pub_ip", "pub_port"])
            keys = [lookup_key("nat", bytes(ip), port).hex()
                    for ip, port in zip(table["pub_ip"].to_pylist(), table["pub_port"].to_pylist(), strict=True)]
            assert keys == sorted(keys) and (f["lo"], f["hi"]) == (keys[0], keys[-1])
            assert f["lo"] >= previous_hi  # ranges follow each other (equal where a port straddles two files)
            previous_hi = f["hi"]


def test_a_lookup_opens_only_the_files_its_key_is_in_and_answers_as_over_the_whole_day(
        stores: tuple[Store, Store, list[Query]]) -> None:
    whole, cut, queries = stores
    engine = DuckDBEngine()
    opened = []
    try:
        for q in queries:
            ip = to_bytes(q.ip)
            key = lookup_key("nat", ip, q.port)
            chosen = cut.day_files("nat", q.lo, q.hi, key)
            every = cut.day_files("nat", q.lo, q.hi)
            opened.append(len(chosen))
            sql = nat_sql("{t}", ip, q.port, q.lo, q.hi)
            found = sorted(map(repr, nat_rows(engine.rows(chosen, sql))))
            assert found == sorted(map(repr, nat_rows(engine.rows(every, sql)))), q
    finally:
        engine.close()
    days = {(q.lo // DAY_MS, q.hi // DAY_MS) for q in queries}
    assert max(opened) <= 4 and sum(opened) < len(queries) * 1.5, opened  # about one file a day, not every file
    assert any(lo != hi for lo, hi in days)  # some windows do reach over midnight
    with Attributor(whole) as one_file, Attributor(cut) as many:
        answers = one_file.answer_all(queries)
        assert sum(a["found"] for a in answers) >= 150
        assert many.answer_all(queries) == answers


def test_a_failed_write_keeps_the_previous_index_and_files_and_a_rewrite_removes_the_old_ones(
        stores: tuple[Store, Store, list[Query]], monkeypatch: pytest.MonkeyPatch) -> None:
    _, cut, queries = stores
    folder = cut.tables_dir / "nat" / "day=2026-11-26"

    def listed() -> dict[str, int]:
        return {f["name"]: (folder / f["name"]).stat().st_ino
                for f in json.loads((folder / "index.json").read_text())["files"]}

    index_before, files_before = (folder / "index.json").read_bytes(), listed()
    rows = pa.concat_tables([pq.read_table(folder / f["name"]) for f in json.loads(index_before)["files"]])
    with Attributor(cut) as attributor:
        answers = attributor.answer_all(queries)

    calls = []
    real = store_module._write_file

    def failing(*args: object) -> None:
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_write_file", failing)
    writer = DayWriter(folder, "nat")
    with pytest.raises(OSError, match="disk full"):
        writer.add(rows.slice(1, 5))  # other rows (the first one dropped), arriving in pieces
        writer.add(rows.slice(6))
        writer.close()
    assert (folder / "index.json").read_bytes() == index_before
    assert listed() == files_before  # the same files, not rewritten
    with Attributor(cut) as attributor:
        assert attributor.answer_all(queries) == answers
    monkeypatch.setattr(store_module, "_write_file", real)

    # a write of other rows replaces the index and removes the files it no longer lists, and nothing else is left
    writer = DayWriter(folder, "nat")
    writer.add(rows.slice(1))
    assert writer.close() == rows.num_rows - 1
    second = listed()
    assert second != files_before
    assert {p.name for p in folder.iterdir()} == {"index.json", *second}
    # a lookup that read the index just before it was replaced finds its files gone and reads the index again
    stale = [str(folder / name) for name in second]
    writer = DayWriter(folder, "nat")
    writer.add(rows)
    assert writer.close() == rows.num_rows
    assert (folder / "index.json").read_bytes() == index_before and listed().keys() == files_before.keys()
    real_files = Store.day_files
    handed: list[int] = []

    def first_stale(self: Store, table: str, lo: int, hi: int, key: bytes | None = None) -> list[str]:
        current = real_files(self, table, lo, hi, key)
        if table == "nat" and not handed and any(f.startswith(str(folder)) for f in current):
            handed.append(1)
            return stale
        return current

    monkeypatch.setattr(Store, "day_files", first_stale)
    with Attributor(cut) as attributor:
        assert attributor.answer_all(queries) == answers
    assert handed  # the stale list was handed out once, and the answer is still whole

    # rows handed out of order (a build's bug) are refused before the index is replaced: lookups stay whole
    writer = DayWriter(folder, "nat")
    writer.add(rows.slice(SMALL))
    writer.add(rows.slice(0, SMALL))
    with pytest.raises(RuntimeError, match="out of order"):
        writer.close()
    assert (folder / "index.json").read_bytes() == index_before
    with Attributor(cut) as attributor:
        assert attributor.answer_all(queries) == answers

    # a day rewritten with no rows is removed
    assert DayWriter(folder, "nat").close() == 0
    assert not folder.exists()


def test_the_files_a_key_can_be_in_are_found_as_a_scan_of_every_range_finds_them(tmp_path: Path) -> None:
    """DayIndex.files against a scan of every file's range: sorted ranges that touch (mappings, blocks) and
    overlapping wide ones with unknown ends (identity prefixes and pools)."""
    from nohaven.carrier.store import DayIndex

    rng = random.Random(9)
    for case in range(200):
        entries, lo = [], 0
        for n in range(rng.randrange(1, 30)):
            lo += rng.randrange(0, 4)
            hi = lo + (rng.randrange(0, 3) if case % 2 else rng.randrange(0, 60))  # odd: touching; even: overlapping
            unknown = case % 2 == 0 and rng.random() < 0.05
            entries.append({"name": f"f{n}", "rows": 1, "lo": None if unknown else lo.to_bytes(20, "big").hex(),
                            "hi": None if unknown else hi.to_bytes(20, "big").hex()})
            if case % 2:
                lo = hi
        index = DayIndex(tmp_path, entries)
        for key in range(0, lo + 70):
            k = key.to_bytes(20, "big")
            expected = [str(tmp_path / e["name"]) for e in entries
                        if e["lo"] is None or bytes.fromhex(e["lo"]) <= k <= bytes.fromhex(e["hi"])]
            assert index.files(k) == expected, (case, key)


def test_the_nat_view_and_the_lookups_give_the_same_derived_columns(tmp_path: Path) -> None:
    """engines.nat_rows (lookups, both engines) and schema.NAT_VIEW (the build's rewrite of a day) derive end_ms,
    end_line and the 16-byte private address from the stored columns, one in Python and one in SQL: they must
    agree on every stored row, IPv4 and IPv6 private addresses and closes not logged included."""
    data = Path(__file__).resolve().parent / "_data"
    store = Store(tmp_path / "s")
    six = tmp_path / "f5-ipv6.log"  # a subscriber's IPv6 address behind NAT66: its private address stays whole
    six.write_text('lsn_event="LSN_ADD",start="1795745647120",cli="[2001:db8::7]:51515",nat="[2001:db8:ff::9]:40001"\n')
    ingest(store, [str(data / f"{name}.log") for name in ("a10", "juniper-rtflow", "conntrack", "f5-lsn",
                                                           "citrix-lsn")] + [str(six)])
    files = [str(p) for p in sorted(store.tables_dir.glob("nat/day=*/part-*.parquet"))]
    con = duckdb.connect()
    stored = f"read_parquet({files!r})"
    cursor = con.execute(f"SELECT pub_ip, {', '.join(NAT_COLUMNS)} FROM {stored}")
    names = [d[0] for d in cursor.description]
    raw = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    assert any(r["priv_ip6"] is not None for r in raw) and any(r["priv_v4"] is not None for r in raw)
    assert any(r["end_dline"] is None for r in raw) and any(r["end_dline"] is not None for r in raw)
    derived = nat_rows([dict(r) for r in raw])
    wanted = sorted(derived[0])
    cursor = con.execute(f"SELECT DISTINCT {', '.join(wanted)} FROM ({NAT_VIEW.format(t=stored)})")
    viewed = {tuple(row) for row in cursor.fetchall()}
    assert {tuple(r[c] for c in wanted) for r in derived} == viewed
    assert len(viewed) == len(derived) >= 7
