"""Offline proofs: inclusion in the C2SP tlog-proof text form, consistency as a small JSON document.

tlog-proof (c2sp.org/tlog-proof@v1):

    c2sp.org/tlog-proof@v1
    index <decimal>
    <base64 hash>            one line per inclusion-path hash, leaf's sibling first
    ...
    <blank line>
    <the checkpoint, a signed note, verbatim>

Consistency proofs have no C2SP text form; ours is JSON:
`{"format": "nohaven-consistency-proof/1", "origin": ..., "old": {"size", "root"}, "new": {"size", "root"},
"proof": [base64 hash, ...]}` (roots and hashes in standard base64).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from nohaven.evidence.merkle import HASH_SIZE
from nohaven.evidence.note import NoteError, SignedNote

__all__ = ["CONSISTENCY_FORMAT", "TLOG_PROOF_HEADER", "InclusionProof", "consistency_document", "parse_consistency"]

TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
CONSISTENCY_FORMAT = "nohaven-consistency-proof/1"
_DECIMAL = re.compile(r"^(0|[1-9][0-9]{0,18})$")


def _hash(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"{what} is not base64") from None
    if len(raw) != HASH_SIZE:
        raise ValueError(f"{what} does not have 32 bytes")
    if b64(raw) != text:  # one spelling per hash: unused low bits of the last character must be zero
        raise ValueError(f"{what} is not in canonical base64")
    return raw


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class InclusionProof:
    index: int
    path: tuple[bytes, ...]
    checkpoint: SignedNote
    extra: bytes | None = None

    def serialize(self) -> bytes:
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(f"extra {b64(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(b64(h) for h in self.path)
        return ("\n".join(lines) + "\n\n").encode("ascii") + self.checkpoint.serialize()

    @classmethod
    def parse(cls, data: bytes) -> InclusionProof:
        """Read a tlog-proof; raises ValueError naming the line that is wrong."""
        head, sep, note = data.partition(b"\n\n")
        if not sep:
            raise ValueError("no blank line between the proof and its checkpoint")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise ValueError("the proof lines are not ASCII") from None
        if lines[0] != TLOG_PROOF_HEADER:
            raise ValueError(f"line 1 is not {TLOG_PROOF_HEADER}")
        at = 1
        extra = None
        if len(lines) > at and lines[at].startswith("extra "):
            try:
                extra = base64.b64decode(lines[at][6:].encode("ascii"), validate=True)
            except binascii.Error:
                raise ValueError(f"line {at + 1}: the extra data is not base64") from None
            if b64(extra) != lines[at][6:]:
                raise ValueError(f"line {at + 1}: the extra data is not in canonical base64")
            at += 1
        if len(lines) <= at or not lines[at].startswith("index ") or not _DECIMAL.match(lines[at][6:]):
            raise ValueError(f"line {at + 1} is not 'index <decimal>'")
        index = int(lines[at][6:])
        path = tuple(_hash(line, f"line {n}") for n, line in enumerate(lines[at + 1:], at + 2))
        try:
            checkpoint = SignedNote.parse(note)
        except NoteError as exc:
            raise ValueError(f"its checkpoint: {exc}") from None
        return cls(index, path, checkpoint, extra)


def consistency_document(origin: str, old: int, old_root: bytes, new: int, new_root: bytes,
                         proof: list[bytes]) -> dict[str, Any]:
    return {"format": CONSISTENCY_FORMAT, "origin": origin, "old": {"size": old, "root": b64(old_root)},
            "new": {"size": new, "root": b64(new_root)}, "proof": [b64(h) for h in proof]}


def parse_consistency(doc: Any) -> tuple[int, bytes, int, bytes, list[bytes]]:
    """(old size, old root, new size, new root, proof) from a consistency document; ValueError if malformed."""
    if not isinstance(doc, dict) or doc.get("format") != CONSISTENCY_FORMAT:
        raise ValueError(f"not a {CONSISTENCY_FORMAT} document")
    try:
        old, new = doc["old"], doc["new"]
        sizes = (old["size"], new["size"])
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in sizes):
            raise ValueError("sizes must be non-negative integers")
        return (sizes[0], _hash(old["root"], "old root"), sizes[1], _hash(new["root"], "new root"),
                [_hash(h, f"proof[{i}]") for i, h in enumerate(doc["proof"])])
    except (KeyError, TypeError, AttributeError):
        raise ValueError("a consistency document has old.size, old.root, new.size, new.root and proof") from None
