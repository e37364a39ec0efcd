"""Custody events and the append-only custody log, kept as one canonical JSON event per line in a directory.

Each event is a leaf of an RFC 9162 Merkle tree: leaf hash = SHA-256(0x00 ‖ the event's canonical bytes, as
written on its line, without the newline). Checkpoints of the tree are C2SP signed notes (`note.Checkpoint`).

`CustodyLedger` is the small protocol a seal or a proof needs; `FileCustodyLog` implements it on a directory, and a
node can implement it on its database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any, Protocol

from nohaven import durable
from nohaven.errors import InputError
from nohaven.evidence.canonical import (
    beyond_fast_path,
    canonical_bytes,
    encode_plain,
    flat_object_text,
    is_canonical,
    parse_strict,
    plain,
    quote,
)
from nohaven.evidence.errors import StoreError
from nohaven.evidence.merkle import MerkleTree, leaf_hashes
from nohaven.evidence.note import Checkpoint, NoteSigner, SignedNote
from nohaven.timeutil import require_aware

__all__ = ["EVENT_FORMAT", "EVENT_TYPES", "CustodyLedger", "FileCustodyLog", "check_shape", "encode_event",
           "encode_events", "make_event", "parse_event"]

EVENT_FORMAT = "nohaven-custody-event/1"
EVENT_TYPES = ("acquired", "sealed", "accessed", "exported", "transferred", "received", "disclosed", "verified")
_FIELDS: tuple[tuple[str, type], ...] = (("event", str), ("at", str), ("actor", str), ("case", str), ("items", list),
                                         ("details", dict))
_KEYS = frozenset(["format", *(k for k, _ in _FIELDS)])
_EVENT_SET = frozenset(EVENT_TYPES)
# The canonical text of an event around its fields, keys in RFC 8785 order (all ASCII, so code-unit order is
# code-point order): actor, at, case, details, event, format, items.
_AFTER_EVENT = f',"format":"{EVENT_FORMAT}","items":['


def _instant(value: datetime, field: str) -> str:
    """An aware instant as ISO 8601 in UTC with a Z: one spelling per instant, so equal events hash equal."""
    if type(value) is datetime and value.tzinfo is UTC:  # already UTC: isoformat ends in +00:00
        return value.isoformat()[:-6] + "Z"
    return require_aware(value, field).astimezone(UTC).isoformat().replace("+00:00", "Z")


def make_event(kind: str, *, at: datetime, actor: str, case: str, items: Sequence[str] = (),
               details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A custody event: what happened (`kind`), when (aware), who, in which case, to which items (SHA-256)."""
    if kind not in _EVENT_SET:
        raise InputError.field("event", f"unknown custody event {kind!r}; one of {', '.join(EVENT_TYPES)}")
    if not actor.strip():
        raise InputError.field("actor", "say who acted")
    if not case.strip():
        raise InputError.field("case", "name the case")
    return {"format": EVENT_FORMAT, "event": kind, "at": _instant(at, "at"), "actor": actor, "case": case,
            "items": list(items), "details": dict(details or {})}


def check_shape(event: dict[str, Any]) -> None:
    """The fields every event has, checked on the value before it is written (cheaper than re-reading it)."""
    if type(event) is not dict or event.keys() != _KEYS:
        names = ", ".join(k for k, _ in _FIELDS)
        raise InputError.field("event", f"a custody event has exactly the fields format, {names}")
    if event["format"] != EVENT_FORMAT or event["event"] not in _EVENT_SET:
        raise InputError.field("event", "not a custody event made by make_event()")
    if (type(event["at"]) is not str or type(event["actor"]) is not str or type(event["case"]) is not str
            or type(event["items"]) is not list or type(event["details"]) is not dict):
        names = ", ".join(k for k, _ in _FIELDS)
        raise InputError.field("event", f"a custody event has exactly the fields format, {names}")


def encode_event(event: dict[str, Any]) -> bytes:
    """An event's canonical (RFC 8785) bytes, its shape checked first."""
    return encode_events((event,))[0]


def encode_events(events: Iterable[dict[str, Any]]) -> list[bytes]:
    """The canonical bytes of each event, each shape-checked first (`InputError` for the first that fails).

    The shape check settles the top-level fields, so an event whose items are strings and whose details are
    flat is written into a fixed template of its canonical text (its strings quoted as RFC 8785 quotes them);
    any other event, or one with a character beyond the fast path's range, goes through `canonical_bytes`."""
    out: list[bytes] = []
    append = out.append
    for event in events:
        check_shape(event)
        details = flat_object_text(event["details"])
        if details is not None:
            try:
                # One f-string: built in one step, where a chain of + makes an intermediate string per piece.
                text = (f'{{"actor":{quote(event["actor"])},"at":{quote(event["at"])},"case":{quote(event["case"])},'
                        f'"details":{details},"event":{quote(event["event"])}{_AFTER_EVENT}'
                        f'{",".join(map(quote, event["items"]))}]}}')
            except TypeError:  # an item that is not a string
                text = None
            if text is not None and not beyond_fast_path(text):
                append(text.encode("utf-8"))
                continue
        append(_encode_general(event))
    return out


def _encode_general(event: dict[str, Any]) -> bytes:
    if plain((event["items"], event["details"])):  # plain() also refuses keys that are not strings
        data = encode_plain(event)
        if data is not None:
            return data
    return canonical_bytes(event, "event")


def parse_event(data: bytes, where: str = "event") -> dict[str, Any]:
    """Read an event's bytes: strict canonical JSON with the fields every event has; ValueError if not."""
    value = parse_strict(data, where)
    if not is_canonical(data, value):
        raise ValueError(f"{where} is not in canonical (RFC 8785) form")
    if not isinstance(value, dict) or value.get("format") != EVENT_FORMAT:
        raise ValueError(f"{where} is not a {EVENT_FORMAT} event")
    for key, kind in _FIELDS:
        if not isinstance(value.get(key), kind):
            raise ValueError(f"{where}: field {key!r} is missing or not a {kind.__name__}")
    if value["event"] not in EVENT_TYPES:
        raise ValueError(f"{where}: unknown event type {value['event']!r}")
    return value


class CustodyLedger(Protocol):
    """What sealing and proving need from a custody log, whatever keeps it."""

    origin: str

    @property
    def size(self) -> int: ...

    def append(self, event: dict[str, Any]) -> int: ...

    def event_bytes(self, index: int) -> bytes: ...

    def events(self) -> Iterator[tuple[int, bytes]]: ...

    def root(self, size: int | None = None) -> bytes: ...

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]: ...

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]: ...

    def checkpoint(self, signer: NoteSigner) -> SignedNote: ...


class TreeBackedLog:
    """What every custody log backed by an in-memory Merkle tree answers the same way: size, root and proofs with
    their bounds checked (the file log here; the node's database log)."""

    _tree: MerkleTree

    @property
    def size(self) -> int:
        return self._tree.size

    def root(self, size: int | None = None) -> bytes:
        return self._tree.root(size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise InputError.field("index", f"event {index} is not in a tree of {size} events "
                                   f"(the log has {self.size})")
        return self._tree.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        if not 0 <= old <= new <= self.size:
            raise InputError.field("old", f"need 0 ≤ old ({old}) ≤ new ({new}) ≤ log size ({self.size})")
        return self._tree.consistency_proof(old, new)


class FileCustodyLog(TreeBackedLog):
    """The custody log of a directory: `events.jsonl` plus `checkpoints/` (each signed checkpoint, by size).

    Appends take an exclusive lock on the file and pick up lines other processes appended first, so several
    processes may share one log. A line without its newline (a crash mid-append) stops the log from opening.
    """

    EVENTS = "events.jsonl"

    def __init__(self, directory: Path, origin: str) -> None:
        self.directory = directory
        self.origin = origin
        self._path = directory / self.EVENTS
        self._tree = MerkleTree()
        self._offsets: list[int] = []
        self._end = 0
        if not self._path.exists():
            raise StoreError(f"{directory} holds no custody log ({self.EVENTS} missing); create it first")
        self._catch_up()

    @classmethod
    def create(cls, directory: Path, origin: str) -> FileCustodyLog:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "checkpoints").mkdir(exist_ok=True)
        with open(directory / cls.EVENTS, "xb"):
            pass
        return cls(directory, origin)

    def _catch_up(self) -> None:
        """Read lines appended since we last looked (by us or another process)."""
        with open(self._path, "rb") as f:
            f.seek(self._end)
            data = f.read()
        if not data:
            return
        if not data.endswith(b"\n"):
            torn_at = self._end + data.rfind(b"\n") + 1
            raise StoreError(f"{self._path}: the last line is incomplete (an append was interrupted at byte "
                             f"{torn_at}); the log is left as it is for examination")
        start = 0
        lines = data.split(b"\n")[:-1]
        for line in lines:
            self._offsets.append(self._end + start)
            start += len(line) + 1
        self._tree.extend_hashes(leaf_hashes(lines))
        self._end += len(data)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[Any]:
        with open(self._path, "ab") as f:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                self._catch_up()
                yield f
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)

    def append(self, event: dict[str, Any]) -> int:
        """Append one event (made by `make_event`), durably; returns its index."""
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[dict[str, Any]]) -> list[int]:
        """Append events in one write and one fsync; returns their indexes."""
        lines = encode_events(events)
        hashes = leaf_hashes(lines)
        with self._locked() as f:
            first = self.size
            f.write(b"\n".join(lines) + b"\n" if lines else b"")
            f.flush()
            os.fsync(f.fileno())
            # Where each line starts: running sums of line length + 1 (the newline), in C.
            starts = list(accumulate(map((1).__add__, map(len, lines)), initial=self._end))
            self._end = starts.pop()
            self._offsets.extend(starts)
            self._tree.extend_hashes(hashes)
        return list(range(first, first + len(lines)))

    def event_bytes(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise InputError.field("index", f"no event {index}; the log has {self.size} events")
        end = self._offsets[index + 1] - 1 if index + 1 < self.size else self._end - 1
        with open(self._path, "rb") as f:
            f.seek(self._offsets[index])
            return f.read(end - self._offsets[index])

    def events(self) -> Iterator[tuple[int, bytes]]:
        with open(self._path, "rb") as f:
            f.seek(0)
            for index in range(self.size):
                line = f.readline()
                yield index, line[:-1]

    def checkpoint(self, signer: NoteSigner) -> SignedNote:
        """Sign the tree as it is now and keep the checkpoint as `checkpoints/<size>` and `checkpoint`."""
        with self._locked():
            note = Checkpoint(self.origin, self.size, self.root()).sign(signer)
        data = note.serialize()
        folder = self.directory / "checkpoints"
        durable.write_file(folder / str(note_size(note)), data)
        durable.write_file(self.directory / "checkpoint", data)
        return note

    def latest_checkpoint(self) -> SignedNote | None:
        path = self.directory / "checkpoint"
        return SignedNote.parse(path.read_bytes()) if path.exists() else None


def note_size(note: SignedNote) -> int:
    return Checkpoint.from_text(note.text).size
