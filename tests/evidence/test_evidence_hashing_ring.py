"""The digest threads' ring of buffers: the same digests as hashing in one thread, and a failed read stops cleanly."""

from __future__ import annotations

import hashlib
import io
import os
import threading

import pytest

from nohaven.evidence.hashing import CHUNK, RING, MultiHasher


def _hashlib(data: bytes, algorithms: tuple[str, ...] = ("sha256", "sha1", "md5")) -> dict[str, str]:
    return {a: hashlib.new(a, data).hexdigest() for a in algorithms}


@pytest.mark.parametrize("size", [CHUNK - 1, CHUNK * RING, CHUNK * RING * 2 + 7])
def test_the_ring_gives_the_digests_of_one_thread(size: int) -> None:
    """Files that fill the ring once, wrap around it and end mid-buffer."""
    data = os.urandom(size)
    with MultiHasher() as threaded, MultiHasher(workers=1) as alone:
        got, reference = threaded.hash_stream(io.BytesIO(data)), alone.hash_stream(io.BytesIO(data))
    assert got == reference
    assert got.size == size and got.digests == _hashlib(data)


def test_one_algorithm_is_hashed_where_it_is_read() -> None:
    data = os.urandom(3 * CHUNK + 5)
    seen: list[str] = []

    class Watched(io.BytesIO):
        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            seen.append(threading.current_thread().name)
            return super().readinto(buffer)

    with MultiHasher(("sha256",)) as hasher:
        got = hasher.hash_stream(Watched(data))
    assert got.digests == _hashlib(data, ("sha256",))
    assert not any(t.name.startswith("digest") for t in threading.enumerate())  # no digest thread was started
    assert set(seen) == {threading.current_thread().name}


def test_a_read_that_fails_midway_raises_and_the_hasher_goes_on() -> None:
    data = os.urandom(CHUNK * RING * 3)

    class Failing(io.BytesIO):
        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            if self.tell() >= CHUNK * (RING + 3):
                raise OSError(5, "Input/output error")
            return super().readinto(buffer)

    with MultiHasher() as hasher:
        with pytest.raises(OSError, match="Input/output"):
            hasher.hash_stream(Failing(data))
        # Every digest thread let go of its buffers: the next stream gets the whole ring and the right digests.
        assert hasher.hash_stream(io.BytesIO(data)).digests == _hashlib(data)
