"""A full build of the NAT table in bounded memory: the events split by public (address, port) ranges.

The NAT table's rows are computed from each mapping key's events alone, and a key's events all share one public
address and port; a day's rows are ordered by (public address, public port, ...). So the events can be cut into
consecutive ranges of (public address, port), each range's rows computed on its own (with the coverage of every
source, taken over all events before the first range), and the ranges' rows of each day written one after the
other: the day files are those of a build in one piece, byte for byte. `parts_needed` says how many ranges the
memory budget asks for; one means the in-memory build (nohaven.carrier.build) as before.

1. A sample of the partition keys (one nat event in `_SAMPLE_EVERY` of one batch in `_SAMPLE_BATCHES` of each
   event file) is read; its quantiles cut the key space into the ranges.
2. A pass over every event writes each range's events to a spill file of its own (a `RangeSpill`: Arrow IPC,
   uncompressed where the disk has twice the room, else lz4), under the store's tmp/, and takes each source's
   coverage (its last nat time): a thread reads a batch and takes its events into their ranges (compiled: a
   search of the cuts, then each column scattered to its range's run), while the caller writes the one before.
   A first ingest whose events will not fit does this as it writes them (`Presplit`: cuts from its first batches
   that hold nat events, RANGES_PER_PART ranges a part), and the build then splits only the files of the sources
   it did not.
3. The ranges are taken in order, consecutive ones together up to a part's events, a range of more than a part
   and a quarter cut again once by a sample of its own events; each unit is read back, its rows computed (the
   compiled build, or DuckDB's SQL where it is not built), and handed to a `DayWriter` per day, which writes
   files of exactly FILE_ROWS rows so that the files' bytes do not depend on where the ranges were cut.

Memory: two units' events and rows (about `BYTES_PER_EVENT` per event; the next unit is computed while this one
is written), a writer's buffered file per day, and the sample. The budget is `NOHAVEN_CARRIER_BUILD_MEMORY`
(bytes, or with a K/M/G suffix), else 40 % of the memory the system reports available.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nohaven.carrier import natbuild
from nohaven.carrier.errors import StoreError
from nohaven.carrier.natbuild import only_nat
from nohaven.carrier.schema import EVENT_SCHEMA, ONE_VALUE_COLUMNS, constant_array, null_array, one_value
from nohaven.carrier.store import event_batches, event_count

__all__ = ["BYTES_PER_EVENT", "Presplit", "RangeSpill", "cuts_of", "memory_budget", "nat_event_count",
           "partitioned_rows", "parts_needed", "split_batch"]

BYTES_PER_EVENT = 250  # measured peak of a first ingest and its build per nat event (3.25 GB for 2·10^7), with a margin
SPILL_BYTES_PER_EVENT = 88  # an event of the build's columns in an uncompressed spill file (83 bytes and bitmaps)
_SAMPLE_EVERY = 13
_SAMPLE_BATCHES = 8
_SIZE = re.compile(r"^\s*(\d+)\s*([KMGT]?)i?B?\s*$", re.IGNORECASE)
_Rows = TypeVar("_Rows")  # what a range's computation gives
_Item = TypeVar("_Item")
_KEY_WIDTH = 21  # a null flag, the 16-byte address, the port as 4 big-endian bytes


def memory_budget() -> int:
    """Bytes the build may hold: NOHAVEN_CARRIER_BUILD_MEMORY, else 40 % of what the system has available."""
    given = os.environ.get("NOHAVEN_CARRIER_BUILD_MEMORY")
    if given:
        m = _SIZE.match(given)
        if m is None:
            raise StoreError(f"NOHAVEN_CARRIER_BUILD_MEMORY={given!r} is not a size (e.g. 8G or 500000000)")
        unit: int = 1024 ** " KMGT".index((m.group(2) or " ").upper())
        return int(m.group(1)) * unit
    try:
        with open("/proc/meminfo", encoding="ascii") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024 * 2 // 5
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES")) * 2 // 5


def nat_event_count(paths: Sequence[Path]) -> int:
    """An upper bound of the nat events in the files: their rows, from the files' footers."""
    return event_count(paths)


def parts_needed(paths: Sequence[Path], budget: int | None = None) -> int:
    """How many ranges the build's events must be cut into to fit the budget (1: the whole at once). Cut into
    ranges, two are held at once (one written while the next is computed), so each gets half the budget."""
    budget = max(memory_budget() if budget is None else budget, 1)
    need = nat_event_count(paths) * BYTES_PER_EVENT
    return 1 if need <= budget else -(-need * 2 // budget)


def _keys(batch: pa.RecordBatch) -> np.ndarray:
    """Order-preserving partition keys of a batch's rows: bytes (null flag, public address, port)."""
    n = batch.num_rows
    ip = batch.column("pub_ip").cast(pa.binary(16))
    port = batch.column("pub_port").cast(pa.int32())
    out = np.zeros((n, _KEY_WIDTH), dtype=np.uint8)
    if n:
        raw = np.frombuffer(ip.buffers()[1], dtype=np.uint8, count=(ip.offset + n) * 16)[ip.offset * 16:]
        out[:, 1:17] = raw.reshape(n, 16)
        ports = np.asarray(pc.fill_null(port, 0).to_numpy(zero_copy_only=False), dtype=">u4")
        out[:, 17:] = ports.view(np.uint8).reshape(n, 4)
        missing = ~np.asarray(pc.and_(ip.is_valid(), port.is_valid()).to_numpy(zero_copy_only=False), dtype=bool)
        out[missing] = 0xFF  # NULLS LAST, as the table's order has them
    return out.view(f"S{_KEY_WIDTH}").reshape(n)


def _nat_batches(paths: Sequence[Path], columns: Sequence[str], every: int = 1) -> Iterator[pa.RecordBatch]:
    for batch in event_batches(paths, ["kind", *columns], every):
        batch = only_nat(batch)
        if batch.num_rows:
            yield batch


def _plan(paths: Sequence[Path], parts: int) -> np.ndarray:
    """Range boundaries (keys; range i holds keys from boundary i-1 up to, not including, boundary i), from a sample
    of the nat events: one in `_SAMPLE_EVERY` of one batch in `_SAMPLE_BATCHES` of each file (a file's batches
    follow its lines through the day, and every file has its first read)."""
    return cuts_of(_nat_batches(paths, ("pub_ip", "pub_port"), _SAMPLE_BATCHES), parts)


def cuts_of(batches: Iterable[pa.RecordBatch], parts: int) -> np.ndarray:
    """Boundaries of `parts` ranges holding about as many of the batches' events each (one event in
    `_SAMPLE_EVERY` sampled); fewer where the sample has fewer distinct keys."""
    samples: list[np.ndarray] = []
    for batch in batches:
        samples.append(_keys(batch.take(pa.array(np.arange(0, batch.num_rows, _SAMPLE_EVERY)))))
    sample = np.sort(np.concatenate(samples)) if samples else np.array([], dtype=f"S{_KEY_WIDTH}")
    return np.unique(sample[(np.arange(1, parts) * len(sample)) // parts]) if len(sample) else sample


class _Coverage:
    """Each source's coverage (its last nat event's time), gathered from the batches as they pass: an event file
    holds one source's events, as natbuild.incremental_rows also takes them."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        self._note(pc.min(batch.column("src")).as_py(), pc.max(batch.column("t_ms")).as_py())

    def merge(self, other: _Coverage) -> None:
        for src, last in other.last.items():
            self._note(src, last)

    def _note(self, src: int | None, t: int | None) -> None:
        if src is not None and t is not None:
            self.last[src] = max(t, self.last.get(src, t))


def _split(paths: Sequence[Path], columns: Sequence[str], cuts: np.ndarray,
           coverage: _Coverage) -> Iterator[tuple[pa.RecordBatch, list[int], dict[str, int | None]]]:
    """The nat events batch by batch, each batch's rows taken in range order (one take, not a filter a range), and
    where each range starts in it (one more than the ranges); each batch counted into `coverage`."""
    # Three sets of buffers in turn (the batches are handed to another thread by _ahead: the one written, the
    # one split ahead, and the generator's last, which it holds until it resumes).
    rings = [natbuild.SplitBuffers() for _ in range(3)]
    for k, batch in enumerate(_nat_batches(paths, columns)):
        batch = batch.select(list(columns))
        coverage.add(batch)
        yield split_batch(batch, cuts, rings[k % 3])


_CONSTANTS_KEY = b"nohaven.constants"  # a spill file's columns of one value, in its schema's metadata


def _one_value(batch: pa.RecordBatch) -> dict[str, int | None]:
    """The columns among ONE_VALUE_COLUMNS with one value in all of the batch (None: NULL throughout)."""
    found: dict[str, int | None] = {}
    for name in ONE_VALUE_COLUMNS.intersection(batch.schema.names):
        single, value = one_value(batch.column(name))
        if single:
            found[name] = value  # type: ignore[assignment]  # the columns are integers
    return found


def split_batch(batch: pa.RecordBatch, cuts: np.ndarray, into: natbuild.SplitBuffers | None = None
                ) -> tuple[pa.RecordBatch, list[int], dict[str, int | None]]:
    """A batch's rows taken range by range (compiled for the build's columns, into `into` where given: see
    natbuild.range_split; else numpy's sort and Arrow's take), where each range starts (one more than the ranges),
    and the columns of one value, which are not taken (their value)."""
    constants = _one_value(batch)
    got = (natbuild.range_split(cuts, batch, into, constants) if tuple(batch.schema.names) == natbuild.COLUMNS
           else None)
    if got is None:
        which = np.searchsorted(cuts, _keys(batch), side="right")
        order = np.argsort(which, kind="stable")
        bounds = np.searchsorted(which[order], np.arange(len(cuts) + 2))
        got = batch.select([n for n in batch.schema.names if n not in constants]).take(pa.array(order)), bounds
    return got[0], got[1].tolist(), constants


def _spill_table(path: Path) -> pa.Table:
    """A spill file's events with every column, those of one value made again (slices of kept arrays)."""
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    meta = table.schema.metadata or {}
    constants, names = json.loads(meta[_CONSTANTS_KEY])
    n = table.num_rows
    fields = [EVENT_SCHEMA.field(name) for name in names]
    arrays = [table.column(f.name) if f.name not in constants else
              pa.chunked_array([null_array(f.type, n) if constants[f.name] is None
                                else constant_array(f.type, constants[f.name], n)], f.type) for f in fields]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def spill_codec(folder: Path, events: int) -> str | None:
    """How a spill of about `events` events under `folder` is written: as they are (None; read back without a
    copy, from the page cache where it still holds them) where twice their size is free on the disk, else lz4
    (about a third of the size, for 60-70 ns an event of compression and decompression)."""
    folder.mkdir(parents=True, exist_ok=True)
    return None if 2 * events * SPILL_BYTES_PER_EVENT <= shutil.disk_usage(folder).free else "lz4"


class RangeSpill:
    """Events written to files by key range (`part-NNNN-K.arrow` in `folder`: Arrow IPC, compressed by `codec` or
    not), each range's events in the order they came, the columns of one value in a batch kept as that value (a
    range's next file begins where they change); the events of each range counted, and each source's coverage
    taken."""

    def __init__(self, folder: Path, ranges: int, codec: str | None = "lz4") -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.codec = codec
        self.writers: list[tuple[str, pa.ipc.RecordBatchFileWriter] | None] = [None] * ranges
        self.paths: list[list[Path]] = [[] for _ in range(ranges)]
        self.counts = [0] * ranges
        self.coverage = _Coverage()

    def files(self, part: int) -> list[Path]:
        return self.paths[part]

    def write(self, taken: pa.RecordBatch, bounds: Sequence[int], constants: dict[str, int | None]) -> None:
        """A batch taken range by range (split_batch), written a slice to each range it holds events of."""
        names = [*taken.schema.names, *constants]
        order = [n for n in natbuild.COLUMNS if n in names] + [n for n in names if n not in natbuild.COLUMNS]
        signature = json.dumps([constants, order], sort_keys=True)
        for part, (a, b) in enumerate(itertools.pairwise(bounds)):
            if b <= a:
                continue
            current = self.writers[part]
            if current is None or current[0] != signature:
                if current is not None:
                    current[1].close()
                path = self.folder / f"part-{part:04d}-{len(self.paths[part])}.arrow"
                options = pa.ipc.IpcWriteOptions(compression=self.codec)
                schema = taken.schema.with_metadata({_CONSTANTS_KEY: signature.encode()})
                current = self.writers[part] = signature, pa.ipc.new_file(str(path), schema, options=options)
                self.paths[part].append(path)
            current[1].write_batch(taken.slice(a, b - a))
            self.counts[part] += b - a

    def add(self, batch: pa.RecordBatch, cuts: np.ndarray, into: natbuild.SplitBuffers | None = None) -> None:
        """A batch of one source's events: its coverage taken, and it split by `cuts` and written."""
        self.coverage.add(batch)
        self.write(*split_batch(batch, cuts, into))

    def close(self) -> None:
        for current in self.writers:
            if current is not None:
                current[1].close()
        self.writers = [None] * len(self.writers)

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


class Presplit:
    """The nat events of the sources an ingest writes, split into key ranges as they are written (so that a build
    in key ranges need not read them from their event files again to split them): the cuts, taken from the first
    events, and each committed source's RangeSpill, under `folder`. Ranges are many more than the build needs
    (RANGES_PER_PART a part); the build takes consecutive ones together up to its part's size, and cuts a range
    that came out too large again."""

    RANGES_PER_PART = 4

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cuts: np.ndarray | None = None
        self.sources: dict[str, RangeSpill] = {}
        self.buffers = natbuild.SplitBuffers()  # a batch is split and written before the next (one thread)

    def start(self, batches: Sequence[pa.RecordBatch], events: int) -> None:
        """The cuts, from a sample of `batches`, for an estimated `events` nat events in all."""
        parts = max(1, -(-events * BYTES_PER_EVENT * 2 // max(memory_budget(), 1)))
        self.cuts = cuts_of([b for b in batches if b.num_rows], min(256, max(2, self.RANGES_PER_PART * parts)))

    def spill(self, name: str, events: int) -> RangeSpill:
        """A new source's spill, of an estimated `events` events (committed by `commit`, else removed by
        `discard`), compressed or not as the disk's room has it when it begins."""
        assert self.cuts is not None
        return RangeSpill(self.folder / name, len(self.cuts) + 1, spill_codec(self.folder, events))

    def commit(self, sha: str, spill: RangeSpill) -> None:
        spill.close()
        self.sources[sha] = spill

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def split(self, paths: Mapping[str, Path]) -> tuple[list[Path], list[RangeSpill]]:
        """Of the sources' event files (by content digest), those not split here, and the spills of those that
        were, in the sources' order."""
        if self.cuts is None:
            return list(paths.values()), []
        return ([p for sha, p in paths.items() if sha not in self.sources],
                [self.sources[sha] for sha in paths if sha in self.sources])


def _ahead(items: Iterator[_Item], name: str) -> Iterator[_Item]:
    """The items, the next computed on a thread (named `name`) while the caller handles this one: both sides' work
    releases the GIL (a batch read, split and taken while the one before is compressed and written; a range's rows
    computed while the one before is written)."""
    end = object()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) as pool:
        ahead = pool.submit(next, items, end)
        while (item := ahead.result()) is not end:
            ahead = pool.submit(next, items, end)
            yield item  # type: ignore[misc]


def partitioned_rows(events: Mapping[str, Path], columns: Sequence[str], parts: int, spill: Path,
                     compute: Callable[[pa.Table, pa.Table], _Rows], presplit: Presplit | None = None
                     ) -> Iterator[_Rows]:
    """The NAT table's rows (in the table's order within each day), one key range at a time.

    `events`: the sources' event files, by content digest. `compute(events, coverage)` gives a range's rows from
    its nat events (the columns `columns`) and the coverage of every source. `presplit`: the sources an ingest
    split as it wrote them (their files are not read), by whose cuts the other files are split.
    """
    paths, spills = presplit.split(events) if presplit is not None else (list(events.values()), [])
    here_events = event_count(paths)
    total = here_events + sum(sum(s.counts) for s in spills)
    size = max(1, -(-total // parts))  # a part's events
    cuts = presplit.cuts if presplit is not None and presplit.cuts is not None else _plan(paths, parts)
    try:
        here = RangeSpill(spill / "split", len(cuts) + 1, spill_codec(spill, here_events))
        spills.append(here)
        try:
            for taken, bounds, constants in _ahead(_split(paths, columns, cuts, here.coverage), "nohaven-split"):
                here.write(taken, bounds, constants)
        finally:
            here.close()
        covered = _Coverage()
        for one in spills:
            covered.merge(one.coverage)
        coverage = natbuild.coverage_table(covered.last)

        def rows(files: list[Path]) -> _Rows | None:
            events = _read(files)
            for f in files:
                f.unlink()
            return compute(events, coverage) if events.num_rows else None

        # The next unit is computed (the compiled build releases the GIL) while the caller writes this one: two
        # units in memory at once, which parts_needed allows for.
        for got in _ahead((rows(files) for files in _units(spills, size, spill)), "nohaven-range"):
            if got is not None:
                yield got
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _read(files: Sequence[Path]) -> pa.Table:
    tables = [_spill_table(f) for f in files]
    return pa.concat_tables(tables) if len(tables) > 1 else tables[0]


def _units(spills: Sequence[RangeSpill], size: int, spill: Path, again: bool = True) -> Iterator[list[Path]]:
    """The range files, in the ranges' order, in units of about `size` events: consecutive ranges taken together
    up to it, and a range of more than a quarter over it cut again by a sample of its own events (into ranges
    written under `spill`; once: a range of one key's events cannot be cut). A unit's files are removed once they
    are read."""
    ranges = len(spills[0].counts) if spills else 0
    unit: list[Path] = []
    held = 0
    for part in range(ranges):
        count = sum(s.counts[part] for s in spills)
        files = [f for s in spills if s.counts[part] for f in s.files(part)]
        if not count:
            continue
        if held and held + count > size:
            yield unit
            unit, held = [], 0
        if again and count > size + size // 4:
            yield from _units(_cut_again(files, -(-count // size), spill / f"again-{part:04d}"), size, spill, False)
            continue
        unit += files
        held += count
    if unit:
        yield unit


def _cut_again(files: Sequence[Path], parts: int, folder: Path) -> list[RangeSpill]:
    """The events of one range's files cut into `parts` ranges of their own (by a sample of them, as _plan takes
    one: the spill files are IPC files of nat events)."""
    cuts = cuts_of(event_batches(files, ("pub_ip", "pub_port"), _SAMPLE_BATCHES), parts)
    again = RangeSpill(folder, len(cuts) + 1, spill_codec(folder, event_count(files)))
    into = natbuild.SplitBuffers()
    try:
        for f in files:
            for batch in _spill_table(f).to_batches():
                again.add(batch, cuts, into)
    finally:
        again.close()
    for f in files:
        f.unlink()
    return [again]
