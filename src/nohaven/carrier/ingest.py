"""Ingest: parse log sources into the store, once each, resumably.

Per source: its content digest decides whether it is already in (then nothing is written again); its events,
rejects and compressed text are written to temporary files and moved into place, and the source's manifest is
written last, as the commit. A run killed at any point leaves no manifest for the source it was in, so the next
run parses that source again from its first line and writes the same files; the tables are then rebuilt from
all committed sources. The same sources give the same store, whatever was interrupted on the way.
"""

from __future__ import annotations

import io
import json
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

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from nohaven import durable
from nohaven.carrier import formats
from nohaven.carrier.blocks import BlockResult, block_parser, count_lines, parse_block
from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats import LogFormat
from nohaven.carrier.nativeparse import NativeParser
from nohaven.carrier.schema import EVENT_SCHEMA, source_id
from nohaven.carrier.sources import Digests, digest_file, iter_lines, open_content, spool_stdin
from nohaven.carrier.store import Store
from nohaven.carrier.vectorised import FastParser

__all__ = ["FileResult", "IngestResult", "ParseOptions", "ingest"]

BATCH = 256 * 1024
BLOCK_BYTES = 8 << 20
FRAME = 4 << 20  # content bytes per zstd frame of the raw archive
ARCHIVE_LEVEL = 1
WORKERS = 2  # the machine's two cores: Arrow's regex kernels release the GIL
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
    the compiled parser where it is built and covers the format (else Arrow's kernels)."""

    vectorised: bool = True
    native: bool = True
    block_bytes: int = BLOCK_BYTES


def ingest(store: Store, inputs: list[str], fmt: str = "auto", zone: ZoneInfo | None = None,
           progress: Progress | None = None, on_format: Callable[[str, str], None] | None = None,
           options: ParseOptions | None = None) -> IngestResult:
    """Ingest each input (a path, or '-' for standard input) and rebuild the tables if anything changed."""
    started = time.monotonic()
    if fmt != "auto":
        formats.get(fmt)  # an unknown name is refused even when every input is already in the store
    store.create()
    with store.locked():
        return _ingest_locked(store, inputs, fmt, zone, progress, on_format, started, options or ParseOptions())


def _ingest_locked(store: Store, inputs: list[str], fmt: str, zone: ZoneInfo | None, progress: Progress | None,
                   on_format: Callable[[str, str], None] | None, started: float,
                   options: ParseOptions) -> IngestResult:
    store.clear_tmp()  # what a killed run left half-written; nothing in tmp/ was ever committed
    results = []
    for name in inputs:
        spooled = None
        if name == "-":
            spooled = spool_stdin(store.tmp_dir() / f"stdin-{uuid.uuid4().hex}")
            path = spooled
        else:
            path = Path(name)
        try:
            results.append(_ingest_one(store, path, "-" if spooled else name, fmt, zone, progress, on_format,
                                       options))
        finally:
            if spooled is not None:
                spooled.unlink(missing_ok=True)
    tables = None
    if not store.is_current():
        tables = store.build()
    return IngestResult(results, tables, time.monotonic() - started)


def _ingest_one(store: Store, path: Path, name: str, fmt: str, zone: ZoneInfo | None, progress: Progress | None,
                on_format: Callable[[str, str], None] | None, options: ParseOptions) -> FileResult:
    started = time.monotonic()
    digests = digest_file(path)
    sha = digests.content_sha256
    if store.marker(sha).exists():
        done = json.loads(store.marker(sha).read_text())
        if progress:
            progress(digests.size)
        return FileResult(name, sha, done["format"], False, skipped=True, seconds=time.monotonic() - started)
    detected = fmt == "auto"
    cls = _choose(path) if detected else formats.get(fmt)
    if on_format:
        on_format(name, cls.name + (" (detected)" if detected else ""))
    result = FileResult(name, sha, cls.name, detected)
    _parse_into(store, path, name, digests, cls(zone), result, progress, options)
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


def _parse_into(store: Store, path: Path, name: str, digests: Digests, parser: LogFormat, result: FileResult,
                progress: Progress | None, options: ParseOptions) -> None:
    sha = digests.content_sha256
    tmp = store.tmp_dir()
    tag = uuid.uuid4().hex
    raw_tmp, events_tmp, rejects_tmp = (tmp / f"{sha}.{tag}.{ext}" for ext in ("zst", "parquet", "tsv"))
    src = source_id(sha)
    ignored: Counter[str] = Counter()
    fast = block_parser(parser, options.vectorised, options.native)
    try:
        with open_content(path) as content, raw_tmp.open("wb") as raw_out, \
                rejects_tmp.open("w", encoding="utf-8") as rejects, _EventWriter(events_tmp) as writer:
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
        # On the disk, under their names, before the manifest that commits them.
        for tmp_path, final in ((raw_tmp, store.raw_path(sha)), (events_tmp, store.events_path(sha)),
                                (rejects_tmp, store.rejects_path(sha))):
            durable.sync_file(tmp_path)
            durable.replace(tmp_path, final)  # its folder made by Store.create
    finally:
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
    pending: deque[Future[BlockResult]] = deque()

    def take(block: BlockResult) -> None:
        writer.add(block.events)
        result.records += block.records
        for line, reason, text in block.rejects:
            rejects.write(f"{name}\t{line}\t{reason}\t{_escape(text)}\n")
        result.rejects += len(block.rejects)
        ignored.update(block.ignored)

    line = 1
    for data, last in _blocks(content, archive, progress, block_bytes):
        pending.append(pool.submit(parse_block, data, line, fast, parser, src, _events_table))
        line += count_lines(data, last)
        while len(pending) > WORKERS:
            take(pending.popleft().result())
    while pending:
        take(pending.popleft().result())
    result.lines = line - 1
    result.events = writer.rows


def _blocks(content: BinaryIO, archive: _Archive, progress: Progress | None, size: int) -> Iterator[tuple[bytes, bool]]:
    """Runs of whole lines of about `size` bytes (each ends with a newline but perhaps the last); archived as read."""
    carry = b""
    while True:
        chunk = content.read(size)
        if not chunk:
            break
        archive.write(chunk)
        if progress:
            progress(len(chunk))
        data = carry + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        carry = data[cut + 1:]
        yield data[:cut + 1], False
    if carry:
        yield carry, True


class _EventWriter:
    """Writes events in row groups of exactly BATCH rows, whichever path produced them (so both give equal bytes),
    on a thread of its own (Parquet encoding releases the GIL), in the order they were added."""

    def __init__(self, path: Path) -> None:
        self.writer = pq.ParquetWriter(path, EVENT_SCHEMA, compression="zstd", compression_level=1,
                                       use_dictionary=_EVENT_DICTIONARY)
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.pending: deque[Future[None]] = deque()
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.rows = 0

    def __enter__(self) -> _EventWriter:
        return self

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self.buffer.append(table)
        self.buffered += table.num_rows
        self.rows += table.num_rows
        while self.buffered >= BATCH:
            whole = pa.concat_tables(self.buffer)
            self._write(whole.slice(0, BATCH))
            rest = whole.slice(BATCH)
            self.buffer, self.buffered = [rest], rest.num_rows

    def _write(self, table: pa.Table) -> None:
        self.pending.append(self.thread.submit(self.writer.write_table, table.combine_chunks()))
        while len(self.pending) > 2:
            self.pending.popleft().result()

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None and self.buffered:
                self._write(pa.concat_tables(self.buffer))
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.thread.shutdown(wait=True)
            self.writer.close()


# Columns of few distinct values; addresses, ports and times are near unique per event: dictionaries would cost
# more time than they save bytes.
_EVENT_DICTIONARY = ["kind", "action", "slack_ms", "flags", "proto", "src", "nlines"]


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
