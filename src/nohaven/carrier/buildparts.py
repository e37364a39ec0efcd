"""A full build of the NAT table in bounded memory: the events split by public (address, port) ranges.

The NAT table's rows are computed from each mapping key's events alone, and a key's events all share one public
address and port; a day's rows are ordered by (public address, public port, ...). So the events can be cut into
consecutive ranges of (public address, port), each range's rows computed on its own (with the coverage of every
source, taken over all events before the first range), and the ranges' rows of each day written one after the
other: the day files are those of a build in one piece, byte for byte. `parts_needed` says how many ranges the
memory budget asks for; one means the in-memory build (nohaven.carrier.build) as before.

1. A sample of the partition keys (one nat event in `_SAMPLE_EVERY` of one batch in `_SAMPLE_BATCHES` of each
   event file) is read; its quantiles cut the key space into the ranges.
2. A pass over every event writes each range's events to a spill file of its own (Arrow IPC, lz4), under the
   store's tmp/, and takes each source's coverage (its last nat time): a thread reads a batch, finds each event's
   range (compiled: a binary search of the cuts and a counting sort) and takes the batch's events in range order,
   while the caller compresses and writes the one before.
3. Each range is read back, its rows computed (the compiled build, or DuckDB's SQL where it is not built), and
   handed to a `DayWriter` per day, which writes files of exactly FILE_ROWS rows so that the files' bytes do
   not depend on where the ranges were cut.

Memory: two ranges' events and rows (about `BYTES_PER_EVENT` per event; the next range is computed while this one
is written), a writer's buffered file per day, and the sample. The budget is `NOHAVEN_CARRIER_BUILD_MEMORY`
(bytes, or with a K/M/G suffix), else 40 % of the memory the system reports available.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nohaven.carrier import natbuild
from nohaven.carrier.errors import StoreError
from nohaven.carrier.natbuild import only_nat
from nohaven.carrier.store import event_batches, event_count

__all__ = ["BYTES_PER_EVENT", "memory_budget", "nat_event_count", "partitioned_rows", "parts_needed"]

BYTES_PER_EVENT = 250  # measured peak of a first ingest and its build per nat event (3.25 GB for 2·10^7), with a margin
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
    samples: list[np.ndarray] = []
    for batch in _nat_batches(paths, ("pub_ip", "pub_port"), _SAMPLE_BATCHES):
        samples.append(_keys(batch.take(pa.array(np.arange(0, batch.num_rows, _SAMPLE_EVERY)))))
    sample = np.sort(np.concatenate(samples)) if samples else np.array([], dtype=f"S{_KEY_WIDTH}")
    return np.unique(sample[(np.arange(1, parts) * len(sample)) // parts]) if len(sample) else sample


class _Coverage:
    """Each source's coverage (its last nat event's time), gathered from the batches as they pass: an event file
    holds one source's events, as natbuild.incremental_rows also takes them."""

    def __init__(self) -> None:
        self.last: dict[int, int] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        src, t = pc.min(batch.column("src")).as_py(), pc.max(batch.column("t_ms")).as_py()
        if src is not None and t is not None:
            self.last[src] = max(t, self.last.get(src, t))


def _split(paths: Sequence[Path], columns: Sequence[str], cuts: np.ndarray,
           coverage: _Coverage) -> Iterator[tuple[pa.RecordBatch, list[int]]]:
    """The nat events batch by batch, each batch's rows taken in range order (one take, not a filter a range), and
    where each range starts in it (one more than the ranges); each batch counted into `coverage`."""
    for batch in _nat_batches(paths, columns):
        batch = batch.select(list(columns))
        coverage.add(batch)
        got = natbuild.range_split(cuts, batch) if tuple(columns) == natbuild.COLUMNS else None
        if got is None:
            which = np.searchsorted(cuts, _keys(batch), side="right")
            order = np.argsort(which, kind="stable")
            bounds = np.searchsorted(which[order], np.arange(len(cuts) + 2))
            got = batch.take(pa.array(order)), bounds
        yield got[0], got[1].tolist()


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


def partitioned_rows(paths: Sequence[Path], columns: Sequence[str], parts: int, spill: Path,
                     compute: Callable[[pa.Table, pa.Table], _Rows]) -> Iterator[_Rows]:
    """The NAT table's rows (in the table's order within each day), one key range at a time.

    `compute(events, coverage)` gives a range's rows from its nat events (the columns `columns`) and the
    coverage of every source.
    """
    cuts = _plan(paths, parts)
    covered = _Coverage()
    spill.mkdir(parents=True, exist_ok=True)
    files = [spill / f"part-{i:04d}.arrow" for i in range(len(cuts) + 1)]
    writers: list[pa.ipc.RecordBatchFileWriter] = []
    try:
        schema: pa.Schema | None = None
        for taken, bounds in _ahead(_split(paths, columns, cuts, covered), "nohaven-split"):
            if schema is None:
                schema = taken.schema
                options = pa.ipc.IpcWriteOptions(compression="lz4")
                writers = [pa.ipc.new_file(f, schema, options=options) for f in files]
            for part, (a, b) in enumerate(itertools.pairwise(bounds)):
                if b > a:
                    writers[part].write_batch(taken.slice(a, b - a))
        for writer in writers:
            writer.close()
        writers = []
        if schema is None:
            return
        coverage = natbuild.coverage_table(covered.last)

        def one(f: Path) -> _Rows | None:
            with pa.memory_map(str(f)) as source:
                events = pa.ipc.open_file(source).read_all()
            f.unlink()
            return compute(events, coverage) if events.num_rows else None

        # The next range is computed (the compiled build releases the GIL) while the caller writes this one:
        # two ranges in memory at once, which parts_needed allows for.
        for rows in _ahead((one(f) for f in files), "nohaven-range"):
            if rows is not None:
                yield rows
    finally:
        for writer in writers:
            writer.close()
        shutil.rmtree(spill, ignore_errors=True)
