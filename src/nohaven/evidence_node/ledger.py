"""The node's custody log in its database: a `CustodyLedger` (see nohaven.evidence.custody) over a session.

Each event is a row holding its exact canonical bytes and leaf hash; the RFC 9162 tree is rebuilt from the leaf
hashes when the log is opened (32 bytes per event in memory). Appends lock the one-row head (`FOR UPDATE` on
PostgreSQL; SQLite transactions are `BEGIN IMMEDIATE`), so two transactions never claim the same position, and
the events, the rows that refer to them and their audit entries commit or roll back together.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.errors import InputError
from nohaven.evidence.custody import TreeBackedLog, encode_events
from nohaven.evidence.errors import StoreError
from nohaven.evidence.merkle import MerkleTree, leaf_hashes
from nohaven.evidence.note import Checkpoint, NoteSigner, SignedNote
from nohaven.evidence_node.models import CustodyCheckpoint, CustodyEvent, CustodyHead
from nohaven.timeutil import utcnow

__all__ = ["DatabaseCustodyLog", "open_log"]


def _new_origin(state: str, node_id: str | None) -> str:
    """A log origin unique to this node: its State and federation node id, or a random suffix without one."""
    return f"nohaven/{state}/{node_id or secrets.token_hex(4)}/evidence"


class DatabaseCustodyLog(TreeBackedLog):
    """The custody log of a node, bound to one session (one transaction)."""

    def __init__(self, session: Session, head: CustodyHead) -> None:
        if head.origin is None:
            raise StoreError("the custody log has no origin yet")
        self.session = session
        self.origin: str = head.origin
        self._head = head
        rows = session.execute(select(CustodyEvent.seq, CustodyEvent.leaf_hash).order_by(CustodyEvent.seq)).all()
        if [seq for seq, _h in rows] != list(range(len(rows))) or len(rows) != head.size:
            raise StoreError(f"the custody log is damaged: {len(rows)} events in positions that do not run "
                             f"0..{head.size - 1} (head size {head.size})")
        self._tree = MerkleTree(bytes.fromhex(h) for _seq, h in rows)

    def append(self, event: dict[str, Any]) -> int:
        """Log one event (made by `make_event`); returns its position."""
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[dict[str, Any]]) -> list[int]:
        now = utcnow()
        events = list(events)
        lines = encode_events(events)
        hashes = leaf_hashes(lines)
        first = self._tree.extend_hashes(hashes)
        self.session.add_all([CustodyEvent(seq=first + n, case_reference=event["case"][:64], kind=event["event"],
                                           leaf_hash=h.hex(), data=data, recorded_at=now)
                              for n, (event, data, h) in enumerate(zip(events, lines, hashes, strict=True))])
        self._head.size = self.size
        self.session.flush()
        return list(range(first, first + len(lines)))

    def event_bytes(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise InputError.field("index", f"no event {index}; the log has {self.size} events")
        row = self.session.get(CustodyEvent, index)
        assert row is not None
        return bytes(row.data)

    def events(self) -> Iterator[tuple[int, bytes]]:
        for seq, data in self.session.execute(select(CustodyEvent.seq, CustodyEvent.data)
                                              .order_by(CustodyEvent.seq)).yield_per(1000):
            yield seq, bytes(data)

    def case_events(self, case: str) -> Iterator[tuple[int, bytes]]:
        for seq, data in self.session.execute(select(CustodyEvent.seq, CustodyEvent.data).where(
                CustodyEvent.case_reference == case).order_by(CustodyEvent.seq)):
            yield seq, bytes(data)

    def case_of(self, index: int) -> str:
        row = self.session.get(CustodyEvent, index)
        if row is None:
            raise InputError.field("--index", f"no event {index}; the log has {self.size} events")
        return row.case_reference

    def checkpoint(self, signer: NoteSigner) -> SignedNote:
        """Sign the tree as it is now and keep the checkpoint."""
        note = Checkpoint(self.origin, self.size, self.root()).sign(signer)
        self.session.merge(CustodyCheckpoint(size=self.size, note=note.serialize(), signed_at=utcnow()))
        self.session.flush()
        return note

    def latest_checkpoint(self) -> SignedNote | None:
        row = self.session.execute(select(CustodyCheckpoint).order_by(CustodyCheckpoint.size.desc())
                                   .limit(1)).scalar_one_or_none()
        return SignedNote.parse(bytes(row.note)) if row is not None else None


def open_log(session: Session, state: str, node_id: str | None) -> DatabaseCustodyLog:
    """The node's custody log, its head locked for this transaction; the origin is fixed at first use."""
    with session.no_autoflush:
        head = session.execute(select(CustodyHead).where(CustodyHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:  # a database migrated before the head row existed cannot happen, but say so if it does
        raise StoreError("the custody log's head row is missing; run the database migrations")
    if head.origin is None:
        head.origin = _new_origin(state, node_id)
        session.flush()
    return DatabaseCustodyLog(session, head)
