"""Several digests of a file in one read pass, using both cores.

Each chunk is read once into one of two buffers. While the hashers work on one buffer in a small thread pool,
the next chunk is read into the other. hashlib releases the GIL while it hashes a large buffer, so the digests
really run side by side: the algorithms are split into as many groups as there are workers, balanced by their
cost (MD5 costs about as much as SHA-1 and SHA-256 together on a CPU with SHA extensions).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol, cast

from nohaven.evidence.errors import HashingError, UnknownAlgorithmError

__all__ = [
    "ALGORITHMS",
    "CHUNK",
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
CHUNK = 4 * 1024 * 1024
# Relative cost per byte, measured with OpenSSL 3 on x86-64 with SHA extensions; only used to balance workers.
_COST = {"md5": 2.5, "sha1": 1.0, "sha256": 1.05}
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


def _groups(algorithms: Sequence[str], workers: int) -> list[list[str]]:
    groups: list[list[str]] = [[] for _ in range(max(1, min(workers, len(algorithms))))]
    load = [0.0] * len(groups)
    for name in sorted(algorithms, key=lambda a: -_COST[a]):
        i = load.index(min(load))
        groups[i].append(name)
        load[i] += _COST[name]
    return groups


class MultiHasher:
    """Hashes streams with several algorithms at once; reuse one for many files (it owns a thread pool)."""

    def __init__(self, algorithms: Sequence[str] = ALGORITHMS, workers: int | None = None, chunk: int = CHUNK) -> None:
        self.algorithms = parse_algorithms(algorithms)
        self.chunk = chunk
        self._groups = _groups(self.algorithms, workers or min(2, os.cpu_count() or 1))
        self._pool = ThreadPoolExecutor(max_workers=len(self._groups), thread_name_prefix="digest")
        self._buffers = (bytearray(chunk), bytearray(chunk))

    def close(self) -> None:
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
        groups = [[hashers[n] for n in group] for group in self._groups]

        def feed(group: list[hashlib._Hash], data: memoryview) -> None:
            for h in group:
                h.update(data)

        views = [memoryview(b) for b in self._buffers]
        size, turn = 0, 0
        n = reader.readinto(views[0]) or 0
        while n:
            data = views[turn][:n]
            if n < _SMALL and size == 0:  # a small file: threads would cost more than they save
                for g in groups:
                    feed(g, data)
                pending = []
            else:
                pending = [self._pool.submit(feed, g, data) for g in groups]
            size += n
            turn ^= 1
            n = reader.readinto(views[turn]) or 0  # read ahead while they hash
            for f in pending:
                f.result()
            if progress is not None:
                progress(len(data))
        return DigestSet(size, {name: hashers[name].hexdigest() for name in self.algorithms})

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
