"""A full build that does not fit the memory budget cuts the NAT events into (public address, port) ranges and
writes the same table files, byte for byte, whether the rows come from the compiled build or DuckDB's SQL."""

from __future__ import annotations

import hashlib
import os
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest

from nohaven.carrier import buildparts, natbuild
from nohaven.carrier import store as store_module
from nohaven.carrier.errors import StoreError
from nohaven.carrier.ingest import ingest
from nohaven.carrier.ipaddr import to_bytes
from nohaven.carrier.store import Store

DATA = Path(__file__).resolve().parent / "_data"
START = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def mappings(path: Path, n: int, seed: int) -> Path:
    """a10 creates and frees over two days: 40 public addresses, sessions crossing midnight, some never freed."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        start = START + timedelta(seconds=rng.randrange(0, 8 * 3600))
        pub, port = f"203.0.113.{rng.randrange(40)}", rng.randrange(1024, 1100)
        body = f"100.64.{i % 200}.{1 + i % 250}:{30000 + i % 30000}<->192.0.2.80:443,{pub}:{port}<-->192.0.2.80:443"
        lines.append((start, f"{start:%Y-%m-%dT%H:%M:%S}.{i % 1000:03d}Z cgn-1 NAT-TCP-C: {body}"))
        if i % 9:
            end = start + timedelta(seconds=rng.randrange(1, 3 * 3600))
            lines.append((end, f"{end:%Y-%m-%dT%H:%M:%S}Z cgn-1 NAT-TCP-F: {body}"))
    path.write_text("".join(text + "\n" for _, text in sorted(lines)))
    return path


def tables(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root / "tables")): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "tables").rglob("*")) if p.suffix in (".parquet", ".json")}


@pytest.mark.parametrize("native", ["1", "0"])
def test_a_build_cut_into_ranges_writes_the_files_of_a_build_in_one_piece(tmp_path: Path, native: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOHAVEN_CARRIER_NATIVE", native)
    monkeypatch.setattr(store_module, "FILE_ROWS", 500)  # days of several files, cut across the ranges
    sources = [str(mappings(tmp_path / f"a10-{k}.log", 3000, k)) for k in range(2)]
    sources += [str(DATA / "juniper-rtflow.log"), str(DATA / "cisco-asa.log"), str(DATA / "freeradius-detail.log")]
    whole = Store(tmp_path / "store")
    ingest(whole, sources, zone=BERLIN)  # a first build: in one piece
    expected = tables(whole.root)
    nat = [name for name in expected if name.startswith("nat/")]
    assert len({name.split("/")[1] for name in nat}) == 2 and len(nat) > 6  # both days, each in several files
    events = [whole.events_path(sha) for sha in sorted(whole.sources())]
    budget = buildparts.nat_event_count(events) * buildparts.BYTES_PER_EVENT // 7
    monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY", str(budget))
    assert buildparts.parts_needed(events) in (14, 15, 16)  # two ranges are held at once
    ranges: list[int] = []
    through = buildparts.partitioned_rows

    def counted(*args: object, **kwargs: object) -> object:
        for chunks in through(*args, **kwargs):  # type: ignore[arg-type]
            ranges.append(sum(rows.num_rows for _, rows in chunks))  # a range's rows, day by day
            yield chunks

    monkeypatch.setattr(buildparts, "partitioned_rows", counted)
    (whole.root / "tables" / "BUILD.json").unlink()  # the next build is a full one
    whole.build()
    assert len(ranges) >= 10 and sum(ranges) > 5000  # the rows did come range by range
    assert tables(whole.root) == expected
    assert not list((whole.root / "tmp").glob("**/*.arrow"))  # the spill files are gone


def test_a_budget_that_is_not_a_size_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY", "a lot")
    with pytest.raises(StoreError, match="NOHAVEN_CARRIER_BUILD_MEMORY='a lot' is not a size"):
        buildparts.memory_budget()
    monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY", "8G")
    assert buildparts.memory_budget() == 8 << 30


@pytest.mark.skipif(natbuild._native is None and os.environ.get("CI", "").lower() != "true",
                    reason="the compiled build is not built here (no C compiler)")
def test_the_compiled_split_takes_each_event_into_the_range_numpy_puts_it_in() -> None:
    rng = np.random.default_rng(5)
    n = 5000
    addresses = [to_bytes(a) for a in ("203.0.113.9", "203.0.113.10", "2001:db8::1", "198.51.100.200")]
    ips = [None if k % 97 == 0 else addresses[int(rng.integers(len(addresses)))] for k in range(n)]
    ports = [None if k % 89 == 0 else int(rng.integers(0, 70000)) for k in range(n)]
    table = natbuild.NAT_EVENTS.empty_table().to_pydict()
    table.update({name: [None] * n for name in table})  # begin_ms stays NULL throughout: a column not taken
    table.update(pub_ip=ips, pub_port=ports, action=[k % 2 for k in range(n)],
                 t_ms=[None if k % 31 == 0 else 1_795_737_600_000 + 7 * k for k in range(n)],
                 slack_ms=[0] * n, flags=[None if k % 5 == 0 else k % 3 for k in range(n)], proto=[6] * n,
                 priv_ip=[to_bytes(f"100.64.{k // 250}.{k % 250}") for k in range(n)],
                 priv_port=[1024 + k for k in range(n)], src=[11] * n, line=list(range(1, n + 1)), nlines=[1] * n)
    batch = pa.Table.from_pydict(table, schema=natbuild.NAT_EVENTS).combine_chunks().to_batches()[0]
    keys = np.sort(buildparts._keys(batch))
    # cuts at keys that occur (so that some events equal a cut), and the NULL key's, last
    cuts = np.unique(np.concatenate([keys[::700], keys[-1:]]))
    which = np.searchsorted(cuts, buildparts._keys(batch), side="right")
    expected = batch.take(pa.array(np.argsort(which, kind="stable")))
    into = natbuild.SplitBuffers()
    for rows in (batch.slice(0, 1000), batch):  # the buffers kept from a smaller batch are replaced, not overrun
        got = natbuild.range_split(cuts, rows, into)
        assert got is not None
    taken, bounds = got
    # every column, its values and its NULLs, as Arrow's take in numpy's stable order of the ranges gives them
    assert taken.equals(expected)
    assert taken.column("flags").null_count == batch.column("flags").null_count > 0
    assert bounds.tolist() == np.searchsorted(np.sort(which), np.arange(len(cuts) + 2)).tolist()
    assert bounds[-1] == n and 0 < bounds[-2] < n  # the NULLs' range (the last) holds the events without a key
    # malformed input is an error that names it, from each of the extension's calls that take batches
    native = natbuild._native
    assert native is not None
    none = (None,) * 13
    columns = natbuild._batches(pa.Table.from_batches([batch]))
    with pytest.raises(ValueError, match="keys of 21 bytes"):
        native.range_split(b"short", columns, none)
    with pytest.raises(ValueError, match="one batch and an output a column"):
        native.range_split(b"", columns, ())
    with pytest.raises(ValueError, match="the data buffer of column t_ms holds 8 bytes, 40000 needed"):
        native.range_split(b"", columns, (None, (None, bytearray(8)), *none[2:]))
    with pytest.raises(ValueError, match="column flags has NULLs and no validity buffer"):
        native.range_split(b"", columns, (*none[:4], (None, bytearray(n)), *none[5:]))
    with pytest.raises(BufferError):  # read-only memory is not written into
        native.range_split(b"", columns, (None, (None, bytes(8 * n)), *none[2:]))
    for call in (lambda bad: native.range_split(b"", bad, none), native.key_set,
                 lambda bad: native.keys_in(native.key_set(()), bad)):
        with pytest.raises(ValueError, match="13 columns"):
            call(((3, ()),))


def test_the_plan_samples_one_batch_in_several_and_the_ranges_stay_even(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from nohaven.carrier import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BATCH", 400)  # event files of many batches
    store = Store(tmp_path / "store")
    ingest(store, [str(mappings(tmp_path / "a10.log", 6000, 3))])
    (events,) = [store.events_path(sha) for sha in store.sources()]
    every = list(store_module.event_batches([events], ["line"]))
    sampled = list(store_module.event_batches([events], ["line"], 4))
    assert len(every) > 20 and [b.num_rows for b in every[:-1]] == [400] * (len(every) - 1)
    assert [b.column(0).to_pylist() for b in sampled] == [b.column(0).to_pylist() for b in every[::4]]
    cuts = buildparts._plan([events], 8)
    keys = np.concatenate([buildparts._keys(b) for b in buildparts._nat_batches([events], ("pub_ip", "pub_port"))])
    sizes = np.bincount(np.searchsorted(cuts, keys, side="right"), minlength=8)
    assert len(cuts) == 7 and sizes.min() > 0.6 * len(keys) / 8 and sizes.max() < 1.4 * len(keys) / 8


@pytest.mark.skipif(natbuild._native is None and os.environ.get("CI", "").lower() != "true",
                    reason="the compiled build is not built here (no C compiler)")
@pytest.mark.parametrize("room", ["disk-to-spare", "disk-short"])
def test_a_first_ingest_split_as_written_builds_the_files_of_a_build_in_one_piece(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, room: str) -> None:
    """Past the memory budget, a first ingest splits the nat events into key ranges as it writes them (cuts from its
    first batches); the build takes ranges together up to a part's size and cuts a range that came out too large
    again. The spill is written as it is where the disk has room for it twice, else compressed."""
    from nohaven.carrier import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BATCH", 500)
    sources = [str(mappings(tmp_path / f"a10-{k}.log", 3000, k)) for k in range(3)]
    whole = Store(tmp_path / "whole")
    ingest(whole, sources)
    expected = tables(whole.root)
    events = [whole.events_path(sha) for sha in sorted(whole.sources())]
    monkeypatch.setenv("NOHAVEN_CARRIER_BUILD_MEMORY",
                       str(buildparts.nat_event_count(events) * buildparts.BYTES_PER_EVENT // 4))
    if room == "disk-short":
        monkeypatch.setattr(buildparts, "SPILL_BYTES_PER_EVENT", 1 << 50)
    # cuts from the first 40 events only: ranges far from even, some cut again by the build
    start = buildparts.Presplit.start

    def skewed(self: buildparts.Presplit, batches: list[pa.RecordBatch], count: int) -> None:
        start(self, [batches[0].slice(0, 40)], count)

    monkeypatch.setattr(buildparts.Presplit, "start", skewed)
    seen: dict[str, object] = {}
    build = Store.build

    def spied(self: Store, held: object = None, presplit: buildparts.Presplit | None = None) -> dict[str, int]:
        assert presplit is not None
        seen.update(codecs={s.codec for s in presplit.sources.values()}, sources=len(presplit.sources),
                    ranges=len(presplit.cuts) + 1,  # type: ignore[arg-type]
                    files=sorted(p.name for p in presplit.folder.rglob("*.arrow")))
        return build(self, held, presplit)  # type: ignore[arg-type]

    again: list[int] = []
    cut_again = buildparts._cut_again

    def counted(files: list[Path], parts: int, folder: Path) -> list[buildparts.RangeSpill]:
        again.append(parts)
        return cut_again(files, parts, folder)

    monkeypatch.setattr(Store, "build", spied)
    monkeypatch.setattr(buildparts, "_cut_again", counted)
    split = Store(tmp_path / "split")
    ingest(split, sources)
    assert seen["codecs"] == {"lz4" if room == "disk-short" else None} and seen["sources"] == 3
    assert seen["files"] and 2 <= seen["ranges"] <= 5  # type: ignore[operator]  # a sample of 4 keys, 4 cuts
    assert again and max(again) > 1  # a range far over a part's size was cut again
    assert tables(split.root) == expected
    assert not list((split.root / "tmp").rglob("*.arrow"))  # the spills are gone


def test_a_range_of_one_key_past_a_parts_size_is_cut_again_once_and_kept_whole(tmp_path: Path) -> None:
    n = 100
    table = natbuild.NAT_EVENTS.empty_table().to_pydict()
    table.update({name: [None] * n for name in table})
    table.update(pub_ip=[to_bytes("203.0.113.9")] * n, pub_port=[40001] * n, t_ms=list(range(n)), src=[1] * n,
                 line=list(range(1, n + 1)))
    batch = pa.Table.from_pydict(table, schema=natbuild.NAT_EVENTS).to_batches()[0]
    spill = buildparts.RangeSpill(tmp_path / "spill" / "one", 2)
    spill.write(*buildparts.split_batch(batch, np.array([], dtype="S21")))  # no cut: the first range holds all
    spill.close()
    assert spill.counts == [n, 0]
    # a column of one value in the batch (the source) or of NULLs only is not in the file, but its value is
    (stored,) = spill.files(0)
    assert pa.ipc.open_file(pa.memory_map(str(stored))).schema.names == [
        "action", "t_ms", "proto", "priv_ip", "priv_port", "pub_ip", "pub_port", "line"]
    whole = buildparts._read([stored])
    assert whole.schema == natbuild.NAT_EVENTS and whole.to_pydict() == batch.to_pydict()
    units = list(buildparts._units([spill], 10, tmp_path / "spill"))
    assert len(units) == 1  # one key's events cannot be cut: they stay one unit, after one attempt
    assert buildparts._read(units[0]).column("line").to_pylist() == list(range(1, n + 1))
    # where a column's value changes from one batch to the next, the range goes on in a file of its own
    other = buildparts.RangeSpill(tmp_path / "spill" / "two", 1)
    for src in (1, 1, 2):
        part = batch.set_column(batch.schema.get_field_index("src"), "src", pa.array([src] * n, pa.int64()))
        other.write(*buildparts.split_batch(part, np.array([], dtype="S21")))
    other.close()
    assert len(other.files(0)) == 2 and other.counts == [3 * n]
    assert buildparts._read(other.files(0)).column("src").to_pylist() == [1] * (2 * n) + [2] * n
