"""Only the days a new source can change are written again, and the result is the store a full build writes:
a session opened in one day's file and closed in the next, a RADIUS session likewise, and a build killed half-way
that the next ingest completes."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nohaven.carrier.build as build_module
import nohaven.carrier.store as store_module
from nohaven.carrier import buildparts
from nohaven.carrier.errors import StoreError
from nohaven.carrier.ingest import ingest
from nohaven.carrier.lookup import Attributor, Query
from nohaven.carrier.schema import EVENT_SCHEMA
from nohaven.carrier.store import Store

DAYS = [datetime(2026, 11, 24, tzinfo=UTC) + timedelta(days=n) for n in range(4)]


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S+00:00")


def a10(kind: str, at: datetime, sub: str, port: int, pub_port: int) -> str:
    return (f"{stamp(at)} cgn-1 NAT-TCP-{kind}: {sub}:{port}<->192.0.2.80:443,203.0.113.7:{pub_port}<-->"
            "192.0.2.80:443")


def radius(status: str, at: datetime, session: str, ip: str, user: str) -> str:
    return (f"{at.strftime('%a %b %d %H:%M:%S %Y')}\n\tAcct-Session-Id = \"{session}\"\n\tAcct-Status-Type = {status}\n"
            f"\tFramed-IP-Address = {ip}\n\tUser-Name = \"{user}\"\n\tTimestamp = {int(at.timestamp())}\n")


def day_files(folder: Path) -> list[list[Path]]:
    """Per day: an a10 file (sessions of the day; one opened just before midnight and closed in the next day's
    file) and a RADIUS file (likewise one session over midnight)."""
    out = []
    for n, day in enumerate(DAYS):
        lines = []
        for i in range(200):
            at = day + timedelta(hours=1, seconds=i * 97)
            lines += [a10("C", at, f"100.64.{n}.{i % 200 + 1}", 40000 + i, 2000 + i),
                      a10("F", at + timedelta(seconds=30 + i % 40), f"100.64.{n}.{i % 200 + 1}", 40000 + i, 2000 + i)]
        if n:  # the close of the previous day's last session
            lines.append(a10("F", day + timedelta(seconds=20), f"100.64.{n - 1}.250", 50000, 9000))
        lines.append(a10("C", day + timedelta(hours=23, minutes=59, seconds=50), f"100.64.{n}.250", 50000, 9000))
        nat = folder / f"cgn-{day:%Y%m%d}.log"
        nat.write_text("\n".join(lines) + "\n")
        records = [radius("Start", day + timedelta(hours=2), f"s{n}a", f"100.64.{n}.1", f"user-{n}a")]
        if n:
            records.append(radius("Stop", day + timedelta(hours=1), f"s{n - 1}z", f"100.64.{n - 1}.250",
                                  f"user-{n - 1}z"))
        records.append(radius("Start", day + timedelta(hours=23), f"s{n}z", f"100.64.{n}.250", f"user-{n}z"))
        acct = folder / f"detail-{day:%Y%m%d}"
        acct.write_text("\n".join(records))
        out.append([nat, acct])
    return out


def tables(store: Path) -> dict[str, str]:
    root = store / "tables"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def stats(store: Path) -> dict[str, tuple[int, int]]:
    """Inode and mtime of each day's index (a day written again gets a new one) and of each table file."""
    root = store / "tables"
    return {str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.suffix in (".json", ".parquet") and p.name != "BUILD.json"}


@pytest.fixture()
def files(tmp_path: Path) -> list[list[Path]]:
    folder = tmp_path / "logs"
    folder.mkdir()
    return day_files(folder)


@pytest.mark.parametrize("file_rows", [None, 40])
def test_a_new_day_rewrites_only_the_days_it_can_change(files: list[list[Path]], tmp_path: Path,
                                                        file_rows: int | None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    if file_rows:  # days of several files
        monkeypatch.setattr(store_module, "FILE_ROWS", file_rows)
    store = Store(tmp_path / "store")
    ingest(store, [str(p) for day in files[:3] for p in day])
    before, hashes = stats(store.root), tables(store.root)
    assert {k.split("/")[1] for k in before} == {"day=2026-11-24", "day=2026-11-25", "day=2026-11-26"}
    time.sleep(0.01)  # a rewrite within the same clock tick would not show in the mtime
    result = ingest(store, [str(p) for p in files[3]])
    assert result.tables is not None and result.tables["nat"] > 0
    after, rehashed = stats(store.root), tables(store.root)
    for name in ("nat", "identity"):
        for day in ("2026-11-24", "2026-11-25"):
            key = f"{name}/day={day}/index.json"
            assert after[key] == before[key] and rehashed[key] == hashes[key], f"{key} was written again"
        # the 26th held a session and a RADIUS session that the 27th's files close: rewritten, and changed
        key = f"{name}/day=2026-11-26/index.json"
        assert after[key] != before[key] and rehashed[key] != hashes[key]
        assert f"{name}/day=2026-11-27/index.json" in after
        # the files of the untouched days are the same files, not copies
        for path, stat in before.items():
            if path.startswith(f"{name}/day=2026-11-24/") or path.startswith(f"{name}/day=2026-11-25/"):
                assert after[path] == stat, path
    build = json.loads((store.root / "tables" / "BUILD.json").read_text())
    assert sorted(build["days"]["nat"]) == ["2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27"]

    # the same store as one full build of every file
    full = Store(tmp_path / "full")
    ingest(full, [str(p) for day in files for p in day])
    assert tables(store.root) == tables(full.root)

    # and the session over midnight is one closed interval, with its subscriber, in both days
    with Attributor(store) as attributor:
        for at in ("2026-11-26T23:59:55Z", "2026-11-27T00:00:10Z"):
            answer = attributor.answer(Query.make("203.0.113.7", 9000, at))
            (candidate,) = answer["candidates"]
            assert candidate["end"] == "2026-11-27T00:00:20.000Z" and candidate["end_logged"] is True
            assert [s["subscriber"] for s in candidate["subscribers"]] == ["user-2z"]
            assert candidate["subscribers"][0]["end"] == "2026-11-27T01:00:00.000Z"


def test_a_build_killed_half_way_is_completed_by_the_next_ingest(files: list[list[Path]], tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "store")
    ingest(store, [str(p) for day in files[:3] for p in day])
    written: list[int] = []

    class DiesOnTheSecondDay(store_module.DayWriter):
        def close(self) -> int:
            if written:
                raise KeyboardInterrupt("killed")
            written.append(1)
            return super().close()

    monkeypatch.setattr(build_module, "DayWriter", DiesOnTheSecondDay)
    with pytest.raises(KeyboardInterrupt):
        ingest(store, [str(p) for p in files[3]])
    assert written  # one day was written before the kill
    monkeypatch.setattr(build_module, "DayWriter", store_module.DayWriter)
    assert not store.is_current()  # BUILD.json still names the old sources: lookups are refused until rebuilt
    ingest(store, [])
    full = Store(tmp_path / "full")
    ingest(full, [str(p) for day in files for p in day])
    assert tables(store.root) == tables(full.root)


def test_tables_of_an_older_layout_are_refused_then_rebuilt(files: list[list[Path]], tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    ingest(store, [str(p) for p in files[0]])
    state = store.tables_dir / "BUILD.json"
    old = json.loads(state.read_text())
    state.write_text(json.dumps({"sources": old["sources"], "rows": old["rows"]}))  # as an older version wrote it
    with pytest.raises(StoreError, match="older version"):
        Attributor(store)
    ingest(store, [])  # no file: the tables are rebuilt whole, in this layout
    assert json.loads(state.read_text()) == old
    with Attributor(store) as attributor:
        answer = attributor.answer(Query.make("203.0.113.7", 2000, "2026-11-24T01:00:10Z"))
    assert [(c["private_ip"], c["private_port"]) for c in answer["candidates"]] == [("100.64.0.1", 40000)]


def test_an_incremental_builds_duckdb_is_held_to_the_memory_budget(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY", "300M")
    events = tmp_path / "events.parquet"
    pq.write_table(EVENT_SCHEMA.empty_table(), events)
    con = build_module._connect([events], tmp_path / "spill")
    try:
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        folder = con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0]
    finally:
        con.close()
    assert limit.replace(" ", "") in ("300.0MiB", "314.5MB")  # DuckDB shows 300 * 2^20 bytes either way
    assert folder == str(tmp_path / "spill")


def test_a_builds_rows_are_cut_into_one_slice_per_day_and_unordered_days_are_refused() -> None:
    rows = pa.table({"day": pa.chunked_array([[20418, 20418], [20419, 20421, 20421]], pa.int64()),
                     "x": pa.chunked_array([[1, 2], [3, 4, 5]])})
    cut = build_module._by_day(rows)
    assert [(day, part.column("x").to_pylist()) for day, part in cut] == [(20418, [1, 2]), (20419, [3]),
                                                                          (20421, [4, 5])]
    assert build_module._by_day(rows.slice(0, 0)) == []
    with pytest.raises(RuntimeError, match="not ordered by day"):
        build_module._by_day(pa.table({"day": pa.array([20419, 20418], pa.int64()), "x": [1, 2]}))


def as_parquet_events(store: Store) -> None:
    """The store's event files as an ingest wrote them before they were Arrow IPC: Parquet, EVENT_SCHEMA."""
    for path in sorted((store.root / "events").glob("*.arrow")):
        events = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        assert events.schema == EVENT_SCHEMA
        pq.write_table(events, path.with_suffix(".parquet"), compression="zstd", row_group_size=256 * 1024)
        path.unlink()


@pytest.mark.parametrize("budget", [None, "100K"], ids=["in-one-piece", "in-key-ranges"])
def test_a_store_of_parquet_event_files_is_built_and_added_to_without_ingesting_again(
        files: list[list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: str | None) -> None:
    logs = [str(p) for day in files[:3] for p in day]
    fresh, old = Store(tmp_path / "fresh"), Store(tmp_path / "old")
    ingest(fresh, logs)
    ingest(old, logs)
    as_parquet_events(old)
    shutil.rmtree(old.tables_dir)
    if budget:  # the full build cut into ranges of public address and port (nohaven.carrier.buildparts)
        monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY", budget)
        assert buildparts.parts_needed(sorted((old.root / "events").glob("*.parquet"))) > 1
    rebuilt = ingest(old, [])  # no file: the tables built from the Parquet events
    assert rebuilt.files == [] and rebuilt.tables is not None and rebuilt.tables["nat"] > 0
    assert not list((old.root / "events").glob("*.arrow"))  # nothing was parsed again
    assert tables(old.root) == tables(fresh.root)
    queries = [("203.0.113.7", 9000, "2026-11-24T23:59:55Z"), ("203.0.113.7", 2003, "2026-11-25T01:05:00Z"),
               ("203.0.113.7", 2100, "2026-11-26T03:42:00Z")]
    with Attributor(old) as before_files, Attributor(fresh) as of_arrow:
        for ip, port, at in queries:
            answer = before_files.answer(Query.make(ip, port, at))
            assert answer["candidates"] and answer == of_arrow.answer(Query.make(ip, port, at))
    # a new day into it: an incremental build over both formats of event files, the tables a fresh store has
    ingest(old, [str(p) for p in files[3]])
    ingest(fresh, [str(p) for p in files[3]])
    assert len(list((old.root / "events").glob("*.arrow"))) == 2
    assert len(list((old.root / "events").glob("*.parquet"))) == 6
    assert tables(old.root) == tables(fresh.root)


def test_a_first_ingest_builds_from_the_events_it_holds_and_writes_what_a_build_from_files_writes(
        files: list[list[Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The events an ingest just wrote are handed to its first build in memory (not read back from their files);
    the tables are those a build from the files writes. Past the memory budget none are held."""
    sources = [str(p) for day in files[:2] for p in day]
    read: list[int] = []
    from_files = build_module.natbuild.read_events

    def counted(paths: list[Path]) -> pa.Table:
        read.append(len(paths))
        return from_files(paths)

    monkeypatch.setattr(build_module.natbuild, "read_events", counted)
    store = Store(tmp_path / "store")
    result = ingest(store, sources)
    assert result.tables is not None and result.tables["nat"] > 400
    compiled = build_module.natbuild.available()  # without the extension DuckDB reads the files itself
    assert read == []  # every source's events came from memory
    held = tables(store.root)
    (store.tables_dir / "BUILD.json").unlink()
    store.build()  # a full build from the files
    assert sum(read) == (4 if compiled else 0) and tables(store.root) == held
    handed: list[tuple[int, int]] = []
    build = Store.build

    def spied(self: Store, events: object = None, presplit: buildparts.Presplit | None = None) -> dict[str, int]:
        handed.append((len(events or {}), len(presplit.sources) if presplit else 0))  # type: ignore[arg-type]
        return build(self, events, presplit)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "build", spied)
    split: list[int] = []
    splitting = buildparts._split

    def files_split(paths: list[Path], *args: object) -> object:
        split.append(len(paths))
        return splitting(paths, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(buildparts, "_split", files_split)
    budget = buildparts.nat_event_count([store.events_file(s) for s in store.sources()]) * buildparts.BYTES_PER_EVENT
    monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY", str(budget // 3))  # the events do not fit: none is held
    other = Store(tmp_path / "other")
    ingest(other, sources)
    assert tables(other.root) == held
    if compiled:  # the ingest split every source's nat events into key ranges as it wrote them: no file is split
        assert handed == [(0, 4)] and split == [0]
    else:
        assert handed == [(0, 0)]
    assert not (other.root / "tmp" / "presplit").exists()
