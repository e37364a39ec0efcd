"""The node's blob store and signing key, in the shapes the offline evidence core asks for.

Signing key of the custody log: the federation node key when federation is configured (so the network directory,
which lists that key, tells other States which key signs this node's checkpoints); otherwise an Ed25519 key in
`DATA_DIR/evidence/`, created on first use (mode 0600) beside its `.vkey`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from nohaven.blobs import BlobStore
from nohaven.config import Settings
from nohaven.errors import NotFoundError
from nohaven.evidence.errors import HashingError, StoreError
from nohaven.evidence.hashing import DigestSet, MultiHasher, Progress, TeeReader
from nohaven.evidence.note import NoteError, NoteSigner
from nohaven.federation.keys import load_signing_key

__all__ = ["NodeBlobs", "log_signer"]


class NodeBlobs:
    """`BlobSink` and `BlobSource` over the node's content-addressed blob store."""

    def __init__(self, settings: Settings) -> None:
        self.store = BlobStore(settings.blob_dir)

    def add_file(self, path: Path, hasher: MultiHasher, progress: Progress | None = None) -> DigestSet:
        """Copy a file in while hashing it with every digest (one read); filed under its SHA-256."""
        writer = self.store.writer()
        try:
            with open(path, "rb", buffering=0) as source:
                result = hasher.hash_stream(TeeReader(source, writer), progress)  # type: ignore[arg-type]
        except OSError as exc:
            writer.abort()
            raise HashingError(f"{path}: cannot read: {exc.strerror or exc}", path=str(path)) from None
        except BaseException:
            writer.abort()
            raise
        writer.commit(expected_sha256=result.digests["sha256"], expected_size=result.size)
        return result

    def open_blob(self, sha256: str) -> BinaryIO:
        path = self.store.path(sha256)
        if not path.is_file():
            raise StoreError(f"item {sha256} is not in this node's blob store")
        return open(path, "rb")

    def path(self, sha256: str) -> Path:
        path = self.store.path(sha256)
        if not path.is_file():
            raise NotFoundError(f"content {sha256} is not in this node's store")
        return path


def log_signer(settings: Settings, origin: str) -> NoteSigner:
    """The key that signs (and cosigns) this node's checkpoints, named after the log's origin."""
    if settings.federation_enabled and settings.federation_key_path.exists():
        key = load_signing_key(settings.federation_key_path, "NOHAVEN_FEDERATION_KEY_FILE")
        return NoteSigner(origin, key.key)
    folder = settings.data_dir / "evidence"
    keys = sorted(folder.glob("*.key")) if folder.is_dir() else []
    try:
        if not keys:
            signer = NoteSigner.generate(origin)
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            signer.save(folder)
            return signer
        signer = NoteSigner.load(keys[0])
    except (NoteError, OSError) as exc:
        raise StoreError(f"the custody log's key in {folder}: {exc}") from None
    if signer.name != origin:
        raise StoreError(f"{keys[0]} is the key of log {signer.name}, not of this node's log {origin}")
    return signer


def vkey_path(settings: Settings) -> Path | None:
    folder = settings.data_dir / "evidence"
    found = sorted(folder.glob("*.vkey")) if folder.is_dir() else []
    return found[0] if found and os.access(found[0], os.R_OK) else None
