"""A content-addressed store of files under the data directory: each blob is named by its SHA-256.

Content is streamed in and out in chunks; a blob appears under its name only once its digest (and, when one is
expected, its size) checked out, by an atomic rename. Storing the same content twice stores it once.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from nohaven.errors import InputError, NotFoundError

__all__ = ["CHUNK", "BlobStore", "BlobWriter"]

CHUNK = 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobWriter:
    """Receives one blob's bytes; `commit()` checks them and files the blob under its digest."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        store.root.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".incoming-", dir=store.root)
        self._file: BinaryIO = os.fdopen(fd, "wb")
        self._path = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self, *, expected_sha256: str | None = None, expected_size: int | None = None,
               field: str = "content") -> str:
        """File the blob; raise InputError (nothing kept) when its size or digest is not the expected one."""
        self._file.close()
        digest = self.sha256
        try:
            if expected_size is not None and self.size != expected_size:
                raise InputError.field(field, f"{self.size} bytes arrived; {expected_size} were announced")
            if expected_sha256 is not None and digest != expected_sha256:
                raise InputError.field(field, f"SHA-256 of the content is {digest}; {expected_sha256} was announced")
            target = self.store.path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(self._path, 0o440)
            os.replace(self._path, target)
        finally:
            self._path.unlink(missing_ok=True)
        return digest

    def abort(self) -> None:
        self._file.close()
        self._path.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        if not SHA256.match(sha256):
            raise InputError.field("sha256", f"{sha256!r} is not a SHA-256 in lowercase hex")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def put_chunks(self, chunks: Iterable[bytes], **expected: object) -> tuple[str, int]:
        """Store a stream of chunks; returns (sha256, size)."""
        writer = self.writer()
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        digest = writer.commit(**expected)  # type: ignore[arg-type]
        return digest, writer.size

    def put_file(self, source: Path) -> tuple[str, int]:
        try:
            with source.open("rb") as handle:
                return self.put_chunks(iter(lambda: handle.read(CHUNK), b""))
        except OSError as exc:
            raise InputError.field("file", f"cannot read {source}: {exc.strerror}") from None

    def chunks(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in chunks (NotFoundError when it is not here)."""
        path = self.path(sha256)
        if not path.is_file():
            raise NotFoundError(f"content {sha256} is not in this node's store")
        return _read(path)


def _read(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(CHUNK), b"")
