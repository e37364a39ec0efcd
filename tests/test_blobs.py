"""The content-addressed blob store: streamed in, named by SHA-256, filed only when the announced digest and size
check out, nothing left behind otherwise."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from nohaven.blobs import BlobStore
from nohaven.errors import InputError, NotFoundError


def test_content_is_filed_under_its_digest_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = [b"a" * 1000, b"b" * 3000]
    digest, size = store.put_chunks(data)
    assert digest == hashlib.sha256(b"".join(data)).hexdigest() and size == 4000
    assert store.path(digest) == tmp_path / "blobs" / digest[:2] / digest
    assert b"".join(store.chunks(digest)) == b"".join(data)
    assert store.put_chunks([b"".join(data)]) == (digest, size)  # the same content is stored once
    assert [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [digest]


@pytest.mark.parametrize("expected, message", [
    ({"expected_sha256": "0" * 64}, "was announced"),
    ({"expected_size": 5}, "5 were announced"),
])
def test_a_mismatch_keeps_nothing(tmp_path: Path, expected: dict[str, object], message: str) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(InputError, match=message):
        store.put_chunks([b"hello world"], **expected)
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []


def test_names_are_digests_only(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(InputError, match="not a SHA-256"):
        store.path("../../etc/passwd")
    with pytest.raises(NotFoundError):
        store.chunks("ab" * 32)


def test_a_large_file_is_streamed(tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as handle:
        for i in range(40):  # 40 MiB, read and hashed a chunk at a time
            handle.write(bytes([i]) * (1024 * 1024))
    store = BlobStore(tmp_path / "blobs")
    digest, size = store.put_file(source)
    assert size == 40 * 1024 * 1024
    assert digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert max(len(c) for c in store.chunks(digest)) <= 1024 * 1024
