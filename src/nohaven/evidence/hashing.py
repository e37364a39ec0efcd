"""Several digests of a file in one read pass, using both cores.

Each chunk is read once, into one buffer of a small ring. The algorithms are split into one group per core,
balanced by their cost (MD5 alone costs about as much as SHA-1 and SHA-256 together on a CPU with SHA
extensions), and each group has a thread that hashes the chunks in order as they come; a buffer goes back to
the reader when every group is done with it. hashlib releases the GIL while it hashes a large buffer, so the
groups really run side by side, and neither waits for the other at every chunk: one may run up to the ring's
length ahead. A digest of one stream is sequential, so the triple digest can go no faster than MD5 alone on
one core; two threads for two cores keep MD5's core its own (a thread per algorithm let the scheduler share
it, measured slower).
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from queue import SimpleQueue
from typing import IO, Protocol, cast

from nohaven.evidence.errors import HashingError, UnknownAlgorithmError

__all__ = [
    "ALGORITHMS",
    "CHUNK",
    "RING",
    "DigestSet",
    "FileEntry",
    "MultiHasher",
    "ReadInto",
    "TeeReader",
    "hash_file",
    "hash_paths",
    "parse_algorithms",
    "walk",
]

ALGORITHMS = ("sha256", "sha1", "md5")
# A ring of 4 chunks of 4 MiB: measured alternately against 256 KiB × 64, 1 MiB × 16 and 4 MiB × 8, as fast
# or faster and the least CPU (fewest hand-overs between threads); see docs/BENCHMARKS.md.
CHUNK = 4 * 1024 * 1024
RING = 4
# CPU seconds per GiB with OpenSSL 3.0 on x86-64 with SHA extensions (MD5 1.48, SHA-1 0.70, SHA-256 0.70),
# relative; only used to balance the groups.
_COST = {"md5": 2.1, "sha1": 1.0, "sha256": 1.0}
_SMALL = 256 * 1024

Progress = Callable[[int], None]


class ReadInto(Protocol):
    """Anything that fills a buffer: a raw file, a ZIP member, a `TeeReader`."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


class TeeReader:
    """Reads from one file and writes what it read to another: copy and hash in one pass."""

    def __init__(self, source: ReadInto | IO[bytes], sink: IO[bytes]) -> None:
        self.source, self.sink = cast(ReadInto, source), sink

    def readinto(self, buffer: memoryview, /) -> int:
        n = self.source.readinto(buffer) or 0
        if n:
            self.sink.write(buffer[:n])
        return n


def parse_algorithms(text: str | Sequence[str]) -> tuple[str, ...]:
    """Algorithm names from `sha256,sha1,md5` (any order, any case); unknown names are refused."""
    names = text.split(",") if isinstance(text, str) else list(text)
    wanted = [n.strip().lower().replace("-", "") for n in names if n.strip()]
    unknown = [n for n in wanted if n not in ALGORITHMS]
    if unknown or not wanted:
        raise UnknownAlgorithmError.field(
            "--algo", f"unknown digest algorithm {', '.join(unknown) or '(none)'}; choose from {', '.join(ALGORITHMS)}")
    return tuple(a for a in ALGORITHMS if a in wanted)


@dataclass(frozen=True)
class DigestSet:
    size: int
    digests: dict[str, str]


def _fill(reader: ReadInto, view: memoryview) -> int:
    """Read until the buffer is full or the stream ends (streams may return fewer bytes than asked)."""
    filled, size = 0, len(view)
    while filled < size:
        n = reader.readinto(view[filled:]) or 0
        if not n:
            break
        filled += n
    return filled


def _groups(algorithms: Sequence[str], workers: int) -> list[list[str]]:
    """The algorithms in at most `workers` groups of about equal cost (the costliest placed first)."""
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(algorithms))))]
    load = [0.0] * len(groups)
    for name in sorted(algorithms, key=lambda a: -_COST[a]):
        i = load.index(min(load))
        groups[i].append(name)
        load[i] += _COST[name]
    return groups


class _Ring:
    """The buffers of one stream being hashed: which are free, and how many digest groups still need each."""

    def __init__(self, views: list[memoryview], groups: int) -> None:
        self.views, self.groups = views, groups
        self.free: SimpleQueue[int] = SimpleQueue()
        for i in range(len(views)):
            self.free.put(i)
        self._left = [0] * len(views)
        self._lock = threading.Lock()

    def handed_out(self, index: int) -> None:
        self._left[index] = self.groups

    def done_with(self, index: int) -> None:
        with self._lock:
            self._left[index] -= 1
            last = self._left[index] == 0
        if last:
            self.free.put(index)


def _consume(hashers: list[hashlib._Hash], chunks: SimpleQueue[tuple[int, int] | None], ring: _Ring) -> None:
    """One digest group's thread: hash each chunk in turn; hand every buffer back even after a failure, so the reader
    never waits for a buffer that will not come."""
    failure: BaseException | None = None
    while (chunk := chunks.get()) is not None:
        index, n = chunk
        if failure is None:
            try:
                data = ring.views[index][:n]
                for hasher in hashers:
                    hasher.update(data)
            except BaseException as exc:  # raised again once the stream is done
                failure = exc
        ring.done_with(index)
    if failure is not None:
        raise failure


class MultiHasher:
    """Hashes streams with several algorithms at once; reuse one for many files (it owns its digest threads).

    `workers` is the number of digest threads (default: up to 2, one per core); `workers=1` hashes in the
    calling thread, one algorithm after the other on each chunk."""

    def __init__(self, algorithms: Sequence[str] = ALGORITHMS, workers: int | None = None, chunk: int = CHUNK) -> None:
        self.algorithms = parse_algorithms(algorithms)
        self.chunk = chunk
        workers = workers or min(2, os.cpu_count() or 1)
        # A lone digest is hashed by the thread that read the chunk: handing every chunk to another core costs
        # more CPU than reading ahead saves (measured: 0.39 s against 0.55 s of CPU per 512 MiB of SHA-256).
        self._threaded = workers > 1 and len(self.algorithms) > 1
        self._groups = _groups(self.algorithms, workers)
        # digest threads only where chunks are handed to them
        self._pool = (ThreadPoolExecutor(max_workers=len(self._groups), thread_name_prefix="digest")
                      if self._threaded else None)
        self._views = [memoryview(bytearray(chunk)) for _ in range(RING if self._threaded else 1)]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

    def __enter__(self) -> MultiHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def hash_stream(self, stream: ReadInto | IO[bytes], progress: Progress | None = None) -> DigestSet:
        """Read `stream` to its end once and return its size and hex digests."""
        reader = cast(ReadInto, stream)  # typing's IO does not declare readinto; files and ZIP members have it
        # MD5 and SHA-1 serve integrity checks with legacy tools here, never signatures.
        hashers = {name: hashlib.new(name, usedforsecurity=False) for name in self.algorithms}
        first = self._views[0]
        n = _fill(reader, first)
        if not self._threaded or n < min(_SMALL, len(first)):  # one thread, or a small file: threads cost more
            size = 0
            while n:
                for h in hashers.values():
                    h.update(first[:n])
                size += n
                if progress is not None:
                    progress(n)
                n = _fill(reader, first)
        else:
            size = self._hash_in_threads(reader, hashers, n, progress)
        return DigestSet(size, {name: h.hexdigest() for name, h in hashers.items()})

    def _hash_in_threads(self, reader: ReadInto, hashers: dict[str, hashlib._Hash], n: int,
                         progress: Progress | None) -> int:
        """The stream through the ring, its first `n` bytes already in the first buffer; returns its size."""
        assert self._pool is not None  # threaded
        groups = [[hashers[name] for name in group] for group in self._groups]
        ring = _Ring(self._views, len(groups))
        queues: list[SimpleQueue[tuple[int, int] | None]] = [SimpleQueue() for _ in groups]
        threads = [self._pool.submit(_consume, g, q, ring) for g, q in zip(groups, queues, strict=True)]
        size = 0
        try:
            index = ring.free.get()  # the first buffer, already filled
            while n:
                ring.handed_out(index)
                for q in queues:
                    q.put((index, n))
                size += n
                if progress is not None:
                    progress(n)
                index = ring.free.get()
                n = _fill(reader, self._views[index])
        finally:  # a read that failed still lets every thread finish before the error goes up
            for q in queues:
                q.put(None)
            for t in threads:
                t.exception()
        for t in threads:
            t.result()
        return size

    def hash_file(self, path: Path, progress: Progress | None = None) -> DigestSet:
        """Hash one regular file; raises HashingError naming the file when it cannot be read."""
        try:
            with open(path, "rb", buffering=0) as f:
                if hasattr(os, "posix_fadvise"):
                    os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
                return self.hash_stream(f, progress)
        except OSError as exc:
            raise HashingError(f"{path}: cannot read: {exc.strerror or exc}", path=str(path)) from None


def hash_file(path: Path, algorithms: Sequence[str] = ALGORITHMS) -> DigestSet:
    """Digests of one file (a convenience; use a MultiHasher for many files)."""
    with MultiHasher(algorithms) as hasher:
        return hasher.hash_file(path)


@dataclass
class FileEntry:
    """One path met while walking: a file with its digests, or a file we could not hash and why."""

    path: Path
    display: str
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None


def walk(paths: Iterable[Path]) -> Iterator[tuple[Path, str, str | None]]:
    """Every file under the paths, in a stable order: (path, display name, reason it is skipped or None).

    Directories are walked recursively in sorted order; symbolic links are listed but never followed; paths
    that do not exist or cannot be listed are reported, not raised.
    """
    for top in paths:
        display = str(top)
        try:
            st = os.lstat(top)
        except OSError as exc:
            yield top, display, f"cannot read: {exc.strerror}"
            continue
        if stat.S_ISLNK(st.st_mode):
            yield top, display, "symbolic link, not followed"
        elif stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(top, display)
        elif stat.S_ISREG(st.st_mode):
            yield top, display, None
        else:
            yield top, display, "not a regular file"


def _walk_dir(directory: Path, display: str) -> Iterator[tuple[Path, str, str | None]]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield directory, display, f"cannot list: {exc.strerror}"
        return
    for entry in entries:
        path, shown = Path(entry.path), os.path.join(display, entry.name)
        if entry.is_symlink():
            yield path, shown, "symbolic link, not followed"
        elif entry.is_dir(follow_symlinks=False):
            yield from _walk_dir(path, shown)
        elif entry.is_file(follow_symlinks=False):
            yield path, shown, None
        else:
            yield path, shown, "not a regular file"


def hash_paths(paths: Iterable[Path], algorithms: Sequence[str] = ALGORITHMS,
               progress: Progress | None = None) -> list[FileEntry]:
    """Hash every file under the paths; unreadable files come back with `error` set instead of stopping the run."""
    out: list[FileEntry] = []
    with MultiHasher(algorithms) as hasher:
        for path, display, skipped in walk(paths):
            if skipped is not None:
                is_error = skipped.startswith("cannot")
                out.append(FileEntry(path, display, error=skipped if is_error else None,
                                     skipped=None if is_error else skipped))
                continue
            try:
                result = hasher.hash_file(path, progress)
            except HashingError as exc:
                out.append(FileEntry(path, display, error=exc.message.split(": ", 1)[1]))
                continue
            out.append(FileEntry(path, display, result.size, result.digests))
    return out
