"""Ingest: parse log sources into the store, once each, resumably.

Per source: its content digest decides whether it is already in (then nothing is written again); its events,
rejects and compressed text are written to temporary files and moved into place, and the source's manifest is
written last, as the commit. A run killed at any point leaves no manifest for the source it was in, so the next
run parses that source again from its first line and writes the same files; the tables are then rebuilt from
all committed sources. The same sources give the same store, whatever was interrupted on the way.

The digest is a whole read of the source (SHA-256 at about 1 GB/s, a fifth of the parse stage). A plain file
whose size no stored source has cannot be in the store, so it is parsed at once while its digest is computed
on a thread of its own (hashlib releases the GIL); the events wait for the source id the digest gives before
they are written (the parse waits for the digest when they exceed WAITING_BYTES). Compressed files, and a plain
file of a stored source's size, are digested first and skipped when they are in; a file found to be in the
store only by its digest computed alongside (it changed size under the ingest) is skipped as well, its
temporary files removed.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO, TextIO
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

from nohaven import durable
from nohaven.carrier import buildparts, formats, natbuild
from nohaven.carrier.blocks import BlockResult, block_parser, count_lines, parse_block, scan
from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats import LogFormat
from nohaven.carrier.nativeparse import NativeParser
from nohaven.carrier.schema import EVENT_SCHEMA, ONE_VALUE_COLUMNS, constant_array, null_array, one_value, source_id
from nohaven.carrier.sources import Digests, digest_file, is_plain, iter_lines, open_content, spool_stdin
from nohaven.carrier.store import Store
from nohaven.carrier.vectorised import FastParser

__all__ = ["FileResult", "IngestResult", "ParseOptions", "ingest"]

BATCH = 256 * 1024
BLOCK_BYTES = 8 << 20
FRAME = 4 << 20  # content bytes per zstd frame of the raw archive
ARCHIVE_LEVEL = 1
WORKERS = 2  # the machine's two cores: Arrow's regex kernels release the GIL
# Events parsed before the source's digest is known are held until it is (their rows need the source id); past
# this many bytes of them the parse waits for the digest.
WAITING_BYTES = 512 << 20
_NO_SOURCE = -1  # the source id events are parsed with while the digest is being computed (never a real one)
Progress = Callable[[int], None]  # called with content bytes read since the last call


@dataclass
class FileResult:
    name: str
    sha256: str
    format: str
    detected: bool
    skipped: bool = False
    lines: int = 0
    records: int = 0
    events: int = 0
    rejects: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class IngestResult:
    files: list[FileResult]
    tables: dict[str, int] | None
    seconds: float

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def rejects(self) -> int:
        return sum(f.rejects for f in self.files)

    @property
    def lines(self) -> int:
        return sum(f.lines for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "rejects": self.rejects, "lines": self.lines,
                "seconds": round(self.seconds, 3), "tables": self.tables,
                "files": [f.__dict__ for f in self.files]}


@dataclass(frozen=True)
class ParseOptions:
    """How sources are parsed: the vectorised path where a format has one (else the reference parser only); in it,
    the compiled parser where it is built and covers the format (else Arrow's kernels). `digest_first`: every
    source digested before it is parsed, as compressed ones are (else a new plain file's digest is computed
    alongside its parse)."""

    vectorised: bool = True
    native: bool = True
    block_bytes: int = BLOCK_BYTES
    digest_first: bool = False


def ingest(store: Store, inputs: list[str], fmt: str = "auto", zone: ZoneInfo | None = None,
           progress: Progress | None = None, on_format: Callable[[str, str], None] | None = None,
           options: ParseOptions | None = None) -> IngestResult:
    """Ingest each input (a path, or '-' for standard input) and rebuild the tables if anything changed."""
    started = time.monotonic()
    if fmt != "auto":
        formats.get(fmt)  # an unknown name is refused even when every input is already in the store
    store.create()
    with store.locked(), _system_allocator():
        return _ingest_locked(store, inputs, fmt, zone, progress, on_format, started, options or ParseOptions())


@contextlib.contextmanager
def _system_allocator() -> Iterator[None]:
    """Arrow's allocations made by the C library's malloc for the ingest's duration, then as before. Arrow's
    default (mimalloc) gives the pages of the memory it frees back to the system within milliseconds, and the
    ingest frees and allocates blocks of events all the time: each came back as new pages for the kernel to
    zero (a third of the ingest's system time in profiles of 2·10⁷ lines), where malloc keeps and reuses them.
    A buffer remembers its pool, so one allocated before or after is freed where it was allocated."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _ingest_locked(store: Store, inputs: list[str], fmt: str, zone: ZoneInfo | None, progress: Progress | None,
                   on_format: Callable[[str, str], None] | None, started: float,
                   options: ParseOptions) -> IngestResult:
    store.clear_tmp()  # what a killed run left half-written; nothing in tmp/ was ever committed
    # The content sizes of the stored sources: a plain file of none of these sizes is not among them.
    sizes = {m.get("size") for m in store.sources().values()}
    # The build that follows takes the new sources' events from memory where they fit its budget; where they do
    # not and it is a first build, split into its key ranges as they are written.
    presplit = None
    stored = 0
    if store.build_state() is None and natbuild.available():
        presplit = buildparts.Presplit(store.tmp_dir() / "presplit")
        stored = buildparts.nat_event_count([p for p in map(store.events_file, store.sources()) if p is not None])
    held = _Held(buildparts.memory_budget() // buildparts.BYTES_PER_EVENT, _expected_bytes(inputs, sizes), presplit,
                 stored)
    results = []
    tables = None
    try:
        for name in inputs:
            results.append(_ingest_input(store, name, fmt, zone, progress, on_format, options, sizes, held))
        if not store.is_current():
            tables = store.build(held.sources, presplit)
    finally:  # the spill of sources split as they were written is the build's alone
        if presplit is not None:
            presplit.remove()
    return IngestResult(results, tables, time.monotonic() - started)


def _ingest_input(store: Store, name: str, fmt: str, zone: ZoneInfo | None, progress: Progress | None,
                  on_format: Callable[[str, str], None] | None, options: ParseOptions, sizes: set[Any],
                  held: _Held) -> FileResult:
    """One input (a path, or '-': standard input, spooled to a file first); its content size joins `sizes`."""
    spooled = None
    if name == "-":
        spooled = spool_stdin(store.tmp_dir() / f"stdin-{uuid.uuid4().hex}")
        path = spooled
    else:
        path = Path(name)
    try:
        result = _ingest_one(store, path, "-" if spooled else name, fmt, zone, progress, on_format, options, sizes,
                             held)
        if not result.skipped:
            sizes.add(json.loads(store.marker(result.sha256).read_text()).get("size"))
        return result
    finally:
        if spooled is not None:
            spooled.unlink(missing_ok=True)


def _expected_bytes(inputs: list[str], sizes: set[Any]) -> int:
    """A lower bound of the content bytes the inputs hold that are not in the store yet: the sizes of the files
    (a compressed file's content is at least as large), but for plain files of a stored source's size."""
    total = 0
    for name in inputs:
        try:
            path = Path(name)
            if name == "-" or not path.is_file():
                continue
            size = path.stat().st_size
            if not (size in sizes and is_plain(path)):
                total += size
        except OSError:
            continue  # the ingest names what it cannot read
    return total


class _AlreadyStored(Exception):
    """The source's digest names a committed source: nothing of it is written again."""

    def __init__(self, digests: Digests, manifest: dict[str, Any]) -> None:
        super().__init__(digests.content_sha256)
        self.digests, self.manifest = digests, manifest


class _Source:
    """A source's digests: known before its parse (`digests`), or computed alongside it on a thread of its own,
    which `close` stops if the parse ends first (it failed)."""

    def __init__(self, store: Store, path: Path, digests: Digests | None) -> None:
        self.store, self.digests = store, digests
        self.stop = threading.Event()
        self.thread: ThreadPoolExecutor | None = None
        self.pending: Future[Digests] | None = None
        if digests is None:
            self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nohaven-digest")
            self.pending = self.thread.submit(digest_file, path, stop=self.stop)

    @property
    def parse_src(self) -> int:
        """The source id the parse writes into the events (_NO_SOURCE until the digest is known)."""
        return _NO_SOURCE if self.digests is None else source_id(self.digests.content_sha256)

    def src(self, wait: bool) -> int | None:
        """The source id once the digest is computed (waiting for it when `wait`), else None; _AlreadyStored
        when the digest names a committed source."""
        if self.digests is None:
            assert self.pending is not None
            if not (wait or self.pending.done()):
                return None
            digests = self.pending.result()
            marker = self.store.marker(digests.content_sha256)
            if marker.exists():
                raise _AlreadyStored(digests, json.loads(marker.read_text()))
            self.digests = digests
        return source_id(self.digests.content_sha256)

    def result(self) -> Digests:
        self.src(wait=True)
        assert self.digests is not None
        return self.digests

    def close(self) -> None:
        if self.thread is not None:
            self.stop.set()
            self.thread.shutdown(wait=True)  # a parse that failed has the digest stop (DigestStopped) at once


def _ingest_one(store: Store, path: Path, name: str, fmt: str, zone: ZoneInfo | None, progress: Progress | None,
                on_format: Callable[[str, str], None] | None, options: ParseOptions,
                sizes: set[Any] | None = None, held: _Held | None = None) -> FileResult:
    started = time.monotonic()
    reported = 0

    def counted(n: int) -> None:
        nonlocal reported
        reported += n
        if held is not None:
            held.seen(n)
        if progress:
            progress(n)

    def skipped(digests: Digests, manifest: dict[str, Any]) -> FileResult:
        if progress and digests.size > reported:
            progress(digests.size - reported)
        return FileResult(name, digests.content_sha256, manifest["format"], False, skipped=True,
                          seconds=time.monotonic() - started)

    alongside = not options.digest_first and is_plain(path) and path.stat().st_size not in (
        {m.get("size") for m in store.sources().values()} if sizes is None else sizes)
    digests = None
    if not alongside:
        digests = digest_file(path)
        marker = store.marker(digests.content_sha256)
        if marker.exists():
            return skipped(digests, json.loads(marker.read_text()))
    detected = fmt == "auto"
    cls = _choose(path) if detected else formats.get(fmt)
    if on_format:
        on_format(name, cls.name + (" (detected)" if detected else ""))
    result = FileResult(name, digests.content_sha256 if digests else "", cls.name, detected)
    source = _Source(store, path, digests)
    try:
        digests = _parse_into(store, path, name, source, cls(zone), result, counted, options, held)
    except _AlreadyStored as stored:
        return skipped(stored.digests, stored.manifest)
    finally:
        source.close()
    sha = result.sha256 = digests.content_sha256
    manifest = {
        "name": name, "content_sha256": sha, "file_sha256": digests.file_sha256, "size": digests.size,
        "source_id": source_id(sha), "format": cls.name, "detected": detected, "zone": zone.key if zone else None,
        "lines": result.lines, "records": result.records, "events": result.events, "rejects": result.rejects,
        "ignored": result.ignored,
    }
    durable.write_file(store.marker(sha), json.dumps(manifest, indent=1, sort_keys=True).encode())  # the commit
    result.seconds = time.monotonic() - started
    return result


def _choose(path: Path) -> type[LogFormat]:
    with open_content(path) as stream:
        sample = [line for _, line in islice(iter_lines(stream), 200)]
    return formats.detect(sample)


class _Archive:
    """The zstd archive of a source's content: frames of FRAME content bytes each, compressed on `pool` where one
    is given (in order), so the archive's bytes depend only on the content, whatever path or block size read it;
    any zstd reader reads the frames as one stream."""

    def __init__(self, out: BinaryIO, pool: ThreadPoolExecutor | None = None) -> None:
        self.out, self.pool = out, pool
        self.buffer = bytearray()
        self.pending: deque[Future[bytes]] = deque()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self.buffer:  # complete the frame begun by earlier data
            taken = FRAME - len(self.buffer)
            self.buffer += view[:taken]
            view = view[taken:]
            if len(self.buffer) < FRAME:
                return
            self._frame(bytes(self.buffer))
            self.buffer = bytearray()
        while len(view) >= FRAME:  # whole frames straight from the data, uncopied
            self._frame(view[:FRAME])
            view = view[FRAME:]
        self.buffer += view

    def _frame(self, content: bytes | memoryview) -> None:
        if self.pool is None:
            self.out.write(_compress_frame(content))
            return
        self.pending.append(self.pool.submit(_compress_frame, content))
        while len(self.pending) > 2:
            self.out.write(self.pending.popleft().result())

    def close(self) -> None:
        if self.buffer:
            self._frame(bytes(self.buffer))
            self.buffer.clear()
        while self.pending:
            self.out.write(self.pending.popleft().result())


def _compress_frame(content: bytes | memoryview) -> bytes:
    return zstandard.ZstdCompressor(level=ARCHIVE_LEVEL).compress(content)


class _Tee(io.RawIOBase):
    """Reads the content through, copying it into the zstd archive and reporting progress."""

    def __init__(self, inner: BinaryIO, sink: _Archive, progress: Progress | None) -> None:
        self.inner, self.sink, self.progress = inner, sink, progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if n:
            self.sink.write(data)
            if self.progress:
                self.progress(n)
        return n


def _parse_into(store: Store, path: Path, name: str, source: _Source, parser: LogFormat, result: FileResult,
                progress: Progress | None, options: ParseOptions, held: _Held | None = None) -> Digests:
    """Parse the source into its files under tmp/, then move them into place (durably): its digests."""
    tmp = store.tmp_dir()
    tag = uuid.uuid4().hex  # the names do not depend on the digest, which may not be known yet
    raw_tmp, events_tmp, rejects_tmp = (tmp / f"source-{tag}.{ext}" for ext in ("zst", "arrow", "tsv"))
    src = source.parse_src
    ignored: Counter[str] = Counter()
    fast = block_parser(parser, options.vectorised, options.native)
    # what `held` keeps of the source's events
    kept = _Kept(f"source-{tag}", source.digests.size if source.digests else path.stat().st_size)
    try:
        with open_content(path) as content, raw_tmp.open("wb") as raw_out, \
                rejects_tmp.open("w", encoding="utf-8") as rejects, \
                _EventWriter(events_tmp, source, held, kept) as writer:
            rejects.write("file\tline\treason\ttext\n")
            if fast is not None:
                with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                    archive = _Archive(raw_out, pool)
                    _parse_blocks(content, archive, progress, fast, parser, src, name, rejects, writer,
                                  result, ignored, options.block_bytes, pool)
                    archive.close()
            else:
                archive = _Archive(raw_out)
                _parse_lines(content, archive, progress, parser, src, name, rejects, writer, result, ignored)
                archive.close()
        result.ignored = dict(sorted(ignored.items()))
        digests = source.result()  # _AlreadyStored if the digest finds the source in the store after all
        sha = digests.content_sha256
        # On the disk, under their names, before the manifest that commits them.
        for tmp_path, final in ((raw_tmp, store.raw_path(sha)), (events_tmp, store.events_path(sha)),
                                (rejects_tmp, store.rejects_path(sha))):
            durable.sync_file(tmp_path)
            durable.replace(tmp_path, final)  # its folder made by Store.create
        if held is not None:
            held.commit(sha, kept)
        return digests
    finally:
        if held is not None:
            held.discard(kept)  # a committed source's spill is the build's by now: nothing to remove
        for leftover in (raw_tmp, events_tmp, rejects_tmp):
            leftover.unlink(missing_ok=True)


def _parse_lines(content: BinaryIO, archive: _Archive, progress: Progress | None, parser: LogFormat, src: int,
                 name: str, rejects: TextIO, writer: _EventWriter, result: FileResult,
                 ignored: Counter[str]) -> None:
    """The reference path: one line at a time through the format's parser."""
    stream = io.BufferedReader(_Tee(content, archive, progress), 1 << 20)
    lines = _counting(iter_lines(stream), result)
    batch: list[tuple[Any, ...]] = []
    for record in parser.records(lines):
        try:
            out = parser.read(record)
        except LineRejected as exc:
            result.rejects += 1
            rejects.write(f"{name}\t{record.line}\t{exc.reason}\t{_escape(record.text)}\n")
            continue
        if isinstance(out, str):
            ignored[out] += 1
            continue
        result.records += 1
        for ev in out:
            batch.append((*ev, src, record.line, record.nlines))
        if len(batch) >= BATCH:
            writer.add(_events_table(batch))
            batch = []
    writer.add(_events_table(batch))
    result.events = writer.rows


def _parse_blocks(content: BinaryIO, archive: _Archive, progress: Progress | None,
                  fast: FastParser | NativeParser, parser: LogFormat, src: int, name: str, rejects: TextIO,
                  writer: _EventWriter, result: FileResult, ignored: Counter[str], block_bytes: int,
                  pool: ThreadPoolExecutor) -> None:
    """The vectorised path: blocks of whole lines parsed on both cores, results taken in order."""
    pending: deque[tuple[int, Future[BlockResult]]] = deque()

    def take(size: int, block: BlockResult) -> None:
        writer.kept.parsed(size, block.events.num_rows)
        writer.add(block.events)
        result.records += block.records
        for line, reason, text in block.rejects:
            rejects.write(f"{name}\t{line}\t{reason}\t{_escape(text)}\n")
        result.rejects += len(block.rejects)
        ignored.update(block.ignored)

    line = 1
    for data, last in _blocks(content, archive, progress, block_bytes):
        scanned = scan(data)  # one pass for the line count here and the parser's checks
        pending.append((len(data), pool.submit(parse_block, data, line, fast, parser, src, _events_table, scanned)))
        line += count_lines(data, last, scanned)
        while len(pending) > WORKERS:
            size, future = pending.popleft()
            take(size, future.result())
    while pending:
        size, future = pending.popleft()
        take(size, future.result())
    result.lines = line - 1
    result.events = writer.rows


def _blocks(content: BinaryIO, archive: _Archive, progress: Progress | None, size: int) -> Iterator[tuple[bytes, bool]]:
    """Runs of whole lines of about `size` bytes (each ends with a newline but perhaps the last), archived as they
    are cut (the blocks are the content, in order). The content is read into one buffer kept for the source: a
    read into new memory each time was as many pages for the kernel to fault in and zero (at 10^8 mappings, the
    larger part of the ingest's page faults)."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    carry = b""
    while True:
        n = content.readinto(view)  # type: ignore[attr-defined]  # each stream open_content gives has it
        if not n:
            break
        if progress:
            progress(n)
        cut = buffer.rfind(b"\n", 0, n)
        if cut < 0:
            carry += view[:n]
            continue
        # The block in one copy (the carry is less than a line).
        block = b"".join((carry, view[:cut + 1]))
        carry = bytes(view[cut + 1:n])
        archive.write(block)
        yield block, False
    if carry:
        archive.write(carry)
        yield carry, True


class _Kept:
    """What an ingest keeps of one source's events for the build while writing them: the batches themselves (in
    memory), or their nat events split into key ranges (`spill`, under the name `name`). `size`: the source's
    content bytes (0: unknown); with the bytes parsed so far and their events, an estimate of its events."""

    def __init__(self, name: str, size: int = 0) -> None:
        self.name, self.size = name, size
        self.batches: list[pa.RecordBatch] = []
        self.spill: buildparts.RangeSpill | None = None
        self.bytes = self.events = 0

    def parsed(self, size: int, events: int) -> None:
        """`size` more content bytes parsed, into `events` events."""
        self.bytes += size
        self.events += events

    def estimate(self) -> int | None:
        """The source's events, scaled from those of the bytes parsed so far (None: nothing to scale from)."""
        if not (self.bytes and self.size):
            return None
        return max(self.events, self.events * self.size // self.bytes)


class _Held:
    """The events an ingest keeps for the build that follows it (which then does not read them back from their
    files), by source: in memory as long as all of them fit the build's memory in one piece; past that, none are
    kept there, and where the ingest was given a `presplit` (a first build, which will be cut into key ranges),
    the nat events are split into their ranges as they are written, from then on (nohaven.carrier.buildparts).
    `expected`: a lower bound of the content bytes the ingest will parse (0: unknown); where the events of the
    bytes read so far, scaled to it, come to more than twice the limit, they are let go at once rather than when
    the limit is reached (the build of so many events reads them back in key ranges, and holding them until then
    only cost fresh memory and copies). `stored`: the events already in the store, which the build adds."""

    def __init__(self, limit: int, expected: int = 0, presplit: buildparts.Presplit | None = None,
                 stored: int = 0) -> None:
        self.limit, self.rows, self.on = limit, 0, limit > 0
        self.expected, self.read = expected, 0
        self.presplit, self.stored = presplit, stored
        self.sources: dict[str, list[pa.RecordBatch]] = {}

    def seen(self, n: int) -> None:
        """`n` more content bytes read."""
        self.read += n

    def keep(self, batch: pa.RecordBatch, source: _Kept) -> None:
        """A batch of a source being written, kept for the build (only the nat events' columns a build reads)."""
        self.rows += batch.num_rows
        if not (self.on or self.presplit):
            return  # nothing is kept
        nat = natbuild.only_nat(batch).select(list(natbuild.COLUMNS))
        if self.on:
            if not (self.rows > self.limit or (self.read and self.rows * self.expected > 2 * self.limit * self.read)):
                source.batches.append(nat)
                return
            self.on = False
            self.sources.clear()
            pending = [*source.batches, nat]
            source.batches.clear()
        else:
            pending = [nat]
        if self.presplit is None or (self.presplit.cuts is None and not any(b.num_rows for b in pending)):
            return  # no split, or no nat event yet to take the cuts from
        # the events of the bytes read so far, scaled to all the ingest will read
        projected = self.stored + int(self.rows * (max(1.0, self.expected / self.read) if self.read else 1.0))
        if self.presplit.cuts is None:
            self.presplit.start(pending, projected)
            assert self.presplit.cuts is not None
        if source.spill is None:  # written as it is, or compressed where the disk is short (buildparts.spill_codec)
            estimate = source.estimate()
            source.spill = self.presplit.spill(source.name, projected if estimate is None else estimate)
        for part in pending:
            if part.num_rows:
                source.spill.add(part, self.presplit.cuts, self.presplit.buffers)

    def commit(self, sha: str, source: _Kept) -> None:
        """The source is in the store: what was kept of it is the build's."""
        if self.on:
            self.sources[sha] = source.batches
        if source.spill is not None and self.presplit is not None:
            self.presplit.commit(sha, source.spill)
            source.spill = None

    def discard(self, source: _Kept) -> None:
        """The source was not written (it failed, or was found in the store): its spill is removed."""
        if source.spill is not None:
            source.spill.remove()
            source.spill = None


class _EventWriter:
    """Writes events to an Arrow IPC file (zstd buffers) in record batches of exactly BATCH rows, whichever path
    produced them (so all give equal bytes), on a thread of its own (the IPC writer releases the GIL), in the
    order they were added. Events parsed before the source's digest is known are held, and its source id written
    into them once it is (the parse waits for the digest past WAITING_BYTES of them)."""

    def __init__(self, path: Path, source: _Source, held: _Held | None, kept: _Kept) -> None:
        self.source = source
        self.held = held
        self.kept = kept  # what `held` keeps of this source's events
        self.stamp = source.digests is None  # the events come with _NO_SOURCE
        self.src: int | None = None if self.stamp else source.parse_src
        self.writer = pa.ipc.new_file(str(path), EVENT_SCHEMA, options=pa.ipc.IpcWriteOptions(compression="zstd"))
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nohaven-events")
        self.pending: deque[Future[None]] = deque()
        self.waiting: list[pa.Table] = []  # parsed before the digest was known
        self.waiting_bytes = 0
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0

    def __enter__(self) -> _EventWriter:
        return self

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        if self.src is None:
            self.waiting.append(table)
            self.waiting_bytes += table.nbytes
            if self._identified(wait=self.waiting_bytes > WAITING_BYTES):
                self._release()
            return
        self._batch(self._stamped(table))

    def _identified(self, wait: bool) -> bool:
        self.src = self.source.src(wait)  # _AlreadyStored stops the parse
        return self.src is not None

    def _release(self) -> None:
        waiting, self.waiting, self.waiting_bytes = self.waiting, [], 0
        for table in waiting:
            self._batch(self._stamped(table))

    def _stamped(self, table: pa.Table) -> pa.Table:
        if not self.stamp:
            return table
        assert self.src is not None
        at = table.schema.get_field_index("src")
        return table.set_column(at, EVENT_SCHEMA.field(at), constant_array(pa.int64(), self.src, table.num_rows))

    def _batch(self, table: pa.Table) -> None:
        self.buffer.append(table)
        self.buffered += table.num_rows
        while self.buffered >= BATCH:
            whole = pa.concat_tables(self.buffer)
            self._write(whole.slice(0, BATCH))
            rest = whole.slice(BATCH)
            self.buffer, self.buffered = [rest], rest.num_rows

    def _write(self, table: pa.Table) -> None:
        self.pending.append(self.thread.submit(self._write_batch, table))
        while len(self.pending) > 2:
            self.pending.popleft().result()

    def _write_batch(self, table: pa.Table) -> None:
        columns = [_contiguous(name, column) for name, column in zip(table.column_names, table.columns, strict=True)]
        batch = pa.RecordBatch.from_arrays(columns, schema=EVENT_SCHEMA)
        self.writer.write_batch(batch)
        if self.held is not None:
            self.held.keep(batch, self.kept)

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                if self.waiting and self._identified(wait=True):
                    self._release()
                if self.buffered:
                    self._write(pa.concat_tables(self.buffer))
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.thread.shutdown(wait=True)
            self.writer.close()


def _contiguous(name: str, column: pa.ChunkedArray) -> pa.Array:
    """A batch's column in one piece. A column of NULLs only (seven of a NAT line's), or of one value only (among
    ONE_VALUE_COLUMNS), is a slice of an array kept for that value, as the IPC file writes it: no copy of it is
    made (on the two cores, copying the columns made a seventh of the ingest's page faults and the events the build
    is handed by the ingest hold one array less per column)."""
    n = len(column)
    if column.null_count == n:
        return null_array(column.type, n)
    if name in ONE_VALUE_COLUMNS:
        single, value = one_value(column)
        if single:
            return constant_array(column.type, value, n)
    return _canonical(column.combine_chunks())


def _canonical(array: pa.Array) -> pa.Array:
    """A column with the bytes Arrow leaves undefined made zero: the values under a fixed-width column's nulls
    and the bits of its validity past its end. The parse paths leave different bytes there (a value computed
    for a line that has none), and the IPC format writes the buffers as they are, so equal events would not
    otherwise give equal files. A variable-width column's null slots are empty on every path."""
    if array.null_count == 0 or not (pa.types.is_fixed_size_binary(array.type) or pa.types.is_integer(array.type)):
        return array
    if array.null_count == len(array):
        return null_array(array.type, len(array))
    zero = b"\0" * array.type.byte_width if pa.types.is_fixed_size_binary(array.type) else 0
    values = pc.fill_null(array, pa.scalar(zero, array.type)).buffers()[1]  # a new array: offset 0
    valid = pa.py_buffer(np.packbits(array.is_valid().to_numpy(zero_copy_only=False), bitorder="little"))
    return pa.Array.from_buffers(array.type, len(array), [valid, values], null_count=array.null_count)


def _counting(lines: Iterator[tuple[int, str]], result: FileResult) -> Iterator[tuple[int, str]]:
    for item in lines:
        result.lines = item[0]
        yield item


def _events_table(batch: list[tuple[Any, ...]]) -> pa.Table:
    if not batch:
        return EVENT_SCHEMA.empty_table()
    columns = list(zip(*batch, strict=True))
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, EVENT_SCHEMA, strict=True)]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
