"""An evidence store on a plain directory: content-addressed items, the custody log and the log's signing key.

    DIR/store.json              {"format": "nohaven-evidence-store/1", "origin": "<log origin>"}
    DIR/blobs/ab/abcdef…        each item, named by its SHA-256 (read-only once filed)
    DIR/custody/events.jsonl    the custody log (see custody.py); DIR/custody/checkpoint and checkpoints/<size>
    DIR/keys/<origin>.key       the log's Ed25519 signing key (PKCS#8, 0600) and .vkey, its public verifier key

The node keeps the same things in its database and blob store; `acquire()` only needs a `BlobSink` and a
`CustodyLedger`, so the node can call it with its own.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from nohaven import __version__
from nohaven.errors import InputError
from nohaven.evidence.custody import CustodyLedger, FileCustodyLog, make_event
from nohaven.evidence.errors import HashingError, StoreError
from nohaven.evidence.hashing import DigestSet, MultiHasher, Progress, TeeReader, walk
from nohaven.evidence.note import NoteError, NoteSigner
from nohaven.timeutil import require_aware, utcnow

__all__ = ["STORE_FORMAT", "Acquisition", "BlobSink", "BlobSource", "DirectoryStore", "acquire", "store_items"]

STORE_FORMAT = "nohaven-evidence-store/1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobSource(Protocol):
    def open_blob(self, sha256: str) -> BinaryIO: ...


class BlobSink(Protocol):
    def add_file(self, path: Path, hasher: MultiHasher, progress: Progress | None = None) -> DigestSet: ...


@dataclass(frozen=True)
class Acquisition:
    """Who acquired what, under which authority, where, with which tool."""

    case: str
    exhibit: str
    examiner: str
    source: str
    authority: str
    location: str = ""
    tool: str = "nohaven"
    tool_version: str = __version__

    def check(self) -> None:
        for name in ("case", "exhibit", "examiner", "source", "authority"):
            if not str(getattr(self, name)).strip():
                raise InputError.field(f"--{name}", "must not be empty")


class DirectoryStore:
    """A store in a directory (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            meta = json.loads((root / "store.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StoreError(f"{root} is not an evidence store (no store.json); run `nohaven evidence store init "
                             f"{root}` first") from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{root}/store.json cannot be read: {exc}") from None
        if meta.get("format") != STORE_FORMAT or not isinstance(meta.get("origin"), str):
            raise StoreError(f"{root}/store.json is not a {STORE_FORMAT} description")
        self.origin: str = meta["origin"]
        self.blobs = root / "blobs"
        self.log = FileCustodyLog(root / "custody", self.origin)

    @classmethod
    def init(cls, root: Path, origin: str | None = None) -> DirectoryStore:
        """Create a store with a fresh log and signing key; refuses a directory that already holds one."""
        origin = origin or f"nohaven.invalid/evidence/{secrets.token_hex(4)}"
        try:
            NoteSigner.generate(origin)  # checks the name is usable as a key name
        except NoteError as exc:
            raise InputError.field("--origin", str(exc)) from None
        if (root / "store.json").exists():
            raise StoreError(f"{root} already holds an evidence store")
        root.mkdir(parents=True, exist_ok=True)
        (root / "blobs").mkdir(exist_ok=True)
        FileCustodyLog.create(root / "custody", origin)
        NoteSigner.generate(origin).save(root / "keys")
        tmp = root / ".store.json.tmp"
        tmp.write_text(json.dumps({"format": STORE_FORMAT, "origin": origin}, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, root / "store.json")
        return cls(root)

    def key_file(self) -> Path:
        """The log's signing key file (its verifier key beside it, as .vkey)."""
        keys = sorted((self.root / "keys").glob("*.key"))
        if len(keys) != 1:
            raise StoreError(f"{self.root}/keys must hold exactly one signing key (found {len(keys)})")
        return keys[0]

    def signer(self) -> NoteSigner:
        try:
            return NoteSigner.load(self.key_file())
        except NoteError as exc:
            raise StoreError(str(exc)) from None

    def blob_path(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise InputError.field("sha256", f"{sha256!r} is not a SHA-256 in lowercase hex")
        return self.blobs / sha256[:2] / sha256

    def open_blob(self, sha256: str) -> BinaryIO:
        try:
            return open(self.blob_path(sha256), "rb")
        except FileNotFoundError:
            raise StoreError(f"item {sha256} is not in the store {self.root}") from None

    def add_file(self, path: Path, hasher: MultiHasher, progress: Progress | None = None) -> DigestSet:
        """Copy a file into the store while hashing it (one read); filed under its SHA-256 by an atomic rename."""
        if "sha256" not in hasher.algorithms:
            raise InputError.field("algorithms", "the store names items by SHA-256")
        self.blobs.mkdir(exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.blobs)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as sink:
                try:
                    with open(path, "rb", buffering=0) as source:
                        result = hasher.hash_stream(TeeReader(source, sink), progress)
                except OSError as exc:
                    raise HashingError(f"{path}: cannot read: {exc.strerror or exc}", path=str(path)) from None
                sink.flush()
                os.fsync(sink.fileno())
            final = self.blob_path(result.digests["sha256"])
            final.parent.mkdir(exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
            return result
        finally:
            tmp.unlink(missing_ok=True)


def _files(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """(path, item name) for every file; names are relative to the directory given, or the file's own name."""
    for top in paths:
        for path, display, skipped in walk([top]):
            if skipped is not None:
                raise HashingError(f"{display}: {skipped}; acquire the target itself or leave it out",
                                   path=display)
            name = path.name if path == top else str(path.relative_to(top.parent))
            yield path, name


def acquire(sink: BlobSink, log: CustodyLedger, paths: Sequence[Path], acquisition: Acquisition,
            at: datetime | None = None, progress: Progress | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Store each file and append one `acquired` event per item; returns (index, event) pairs.

    Everything is checked (readable, not a link) before the first event is written, so a bad path leaves the
    log as it was; items copied before a later failure stay in the store unreferenced, which is harmless.
    """
    events = store_items(sink, paths, acquisition, at, progress)
    appended = [log.append(e) for e in events] if not hasattr(log, "append_many") else log.append_many(events)
    return list(zip(appended, events, strict=True))


def store_items(sink: BlobSink, paths: Sequence[Path], acquisition: Acquisition, at: datetime | None = None,
                progress: Progress | None = None) -> list[dict[str, Any]]:
    """Copy each file into the sink while hashing it; returns the `acquired` events, not yet logged.

    The first half of `acquire`, for a caller (the node) that logs the events in a transaction of its own after
    the long copy is done.
    """
    acquisition.check()
    files = list(_files(paths))
    if not files:
        raise InputError.field("PATH", "no file to acquire")
    events = []
    with MultiHasher() as hasher:
        for path, name in files:
            started = utcnow()
            result = sink.add_file(path, hasher, progress)
            ended = utcnow()
            details = {
                "exhibit": acquisition.exhibit, "name": name, "size": result.size, **result.digests,
                "source": acquisition.source, "authority": acquisition.authority, "location": acquisition.location,
                "tool": acquisition.tool, "tool_version": acquisition.tool_version,
                "started_at": started.isoformat().replace("+00:00", "Z"),
                "ended_at": ended.isoformat().replace("+00:00", "Z"),
            }
            when = require_aware(at, "at") if at is not None else ended
            events.append(make_event("acquired", at=when, actor=acquisition.examiner, case=acquisition.case,
                                     items=[result.digests["sha256"]], details=details))
    return events
