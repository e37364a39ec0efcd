"""Reading log sources: plain, gzip or zstd files, or standard input; hashing and archiving their content.

A source is identified by the SHA-256 of its content (after decompression), so the same log ingested as .gz
and as plain text is one source. The digest of the file as handed over is kept beside it.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import zstandard

__all__ = ["DigestStopped", "Digests", "HashingReader", "digest_file", "is_plain", "iter_lines", "open_content",
           "spool_stdin"]

_CHUNK = 1 << 20
_GZIP, _ZSTD = b"\x1f\x8b", b"\x28\xb5\x2f\xfd"


class DigestStopped(Exception):
    """digest_file was asked to stop before it had read the whole file."""


@dataclass(frozen=True)
class Digests:
    content_sha256: str  # of the decompressed log text: the source's identity
    file_sha256: str  # of the bytes as handed over (compressed or not)
    size: int  # content bytes


def open_content(path: Path) -> BinaryIO:
    """The decompressed content of a .gz, .zst or plain file, as a binary stream."""
    with path.open("rb") as probe:
        magic = probe.read(4)
    raw = path.open("rb")
    if magic[:2] == _GZIP:
        return cast(BinaryIO, gzip.GzipFile(fileobj=raw))
    if magic == _ZSTD:
        return cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True))
    return raw


def is_plain(path: Path) -> bool:
    """Whether the file is read as it is (neither gzip nor zstd): its content is its bytes."""
    with path.open("rb") as probe:
        magic = probe.read(4)
    return magic[:2] != _GZIP and magic != _ZSTD


def digest_file(path: Path, stop: threading.Event | None = None) -> Digests:
    """Both digests in one read of the file (one digest when the file is plain text: they are the same). When
    `stop` is set during the read, DigestStopped is raised (a digest computed beside a parse that failed)."""
    with path.open("rb") as raw:
        magic = raw.read(4)
    if magic[:2] != _GZIP and magic != _ZSTD:
        with path.open("rb") as raw:
            if stop is None:
                digest = hashlib.file_digest(raw, "sha256").hexdigest()
            else:
                plain, buffer = hashlib.sha256(), bytearray(_CHUNK)
                view = memoryview(buffer)
                while n := raw.readinto(buffer):  # both release the GIL: the parse runs on meanwhile
                    plain.update(view[:n])
                    if stop.is_set():
                        raise DigestStopped(str(path))
                digest = plain.hexdigest()
        return Digests(digest, digest, path.stat().st_size)
    content_hash, size = hashlib.sha256(), 0
    with path.open("rb") as raw:
        hashing = HashingReader(raw)
        tee = io.BufferedReader(cast(Any, hashing), _CHUNK)
        stream: BinaryIO
        if magic[:2] == _GZIP:
            stream = cast(BinaryIO, gzip.GzipFile(fileobj=tee))
        else:
            stream = cast(BinaryIO, zstandard.ZstdDecompressor().stream_reader(tee, read_across_frames=True))
        while chunk := stream.read(_CHUNK):
            content_hash.update(chunk)
            size += len(chunk)
            if stop is not None and stop.is_set():
                raise DigestStopped(str(path))
        while tee.read(_CHUNK):  # trailing bytes after the last frame still belong to the file
            pass
    return Digests(content_hash.hexdigest(), hashing.digest.hexdigest(), size)


class HashingReader(io.RawIOBase):
    """A raw stream over `inner` (anything with read(n)) that SHA-256-hashes what is read through it; `drain()`
    hashes the rest without handing it out."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.digest.update(data)
        return len(data)

    def drain(self) -> None:
        while chunk := self.inner.read(_CHUNK):
            self.digest.update(chunk)


def spool_stdin(target: Path) -> Path:
    """Copy standard input to a file (the source must be read twice: to hash it, then to parse it)."""
    with target.open("wb") as out:
        shutil.copyfileobj(sys.stdin.buffer, out, _CHUNK)
    return target


def iter_lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """Numbered lines (1-based) without their line ending; bytes that are not UTF-8 are kept as escapes."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="backslashreplace", newline="")
    for number, line in enumerate(text, 1):
        yield number, line.rstrip("\r\n")
