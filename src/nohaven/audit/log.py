"""Append to and verify the hash-chained audit log.

Each entry's hash covers its fields and the previous entry's hash; the head row holds the last sequence
number and hash, so altering, deleting or truncating any entry breaks verification at that entry.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit.models import AuditEntry, AuditHead
from nohaven.timeutil import as_utc, utcnow

__all__ = ["AuditVerification", "entries", "record", "verify"]

GENESIS = "0" * 64


def _entry_hash(seq: int, at: datetime, actor: str, action: str, object_type: str, object_id: str,
                outcome: str, detail: dict[str, Any], prev_hash: str) -> str:
    body = {
        "seq": seq,
        "at": as_utc(at).isoformat(timespec="microseconds"),
        "actor": actor,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(session: Session, *, actor: str, action: str, object_type: str, object_id: object = "",
           outcome: str = "ok", detail: dict[str, Any] | None = None) -> AuditEntry:
    """Append one entry in the caller's transaction, so it commits or rolls back with the change it records.

    The entry is written with the transaction's next flush (at the latest, its commit), not here."""
    head = _locked_head(session)
    at = utcnow()
    clean_detail = json.loads(json.dumps(detail or {}, default=str))
    seq = head.seq + 1
    oid = "" if object_id is None else str(object_id)
    entry_hash = _entry_hash(seq, at, actor, action, object_type, oid, outcome, clean_detail, head.entry_hash)
    entry = AuditEntry(seq=seq, at=at, actor=actor, action=action, object_type=object_type, object_id=oid,
                       outcome=outcome, detail=clean_detail, prev_hash=head.entry_hash, entry_hash=entry_hash)
    session.add(entry)
    head.seq = seq
    head.entry_hash = entry_hash
    return entry


_HEAD = "nohaven.audit.head"


def _locked_head(session: Session) -> AuditHead:
    """The head row, locked (FOR UPDATE) by the first entry of a transaction and held until it ends, so later
    entries of the same transaction reuse it instead of asking again."""
    transaction = session.get_transaction()
    held = session.info.get(_HEAD)
    if held is not None and held[0] is transaction and held[1] in session:
        head: AuditHead = held[1]
        return head
    with session.no_autoflush:  # pending changes of other tables do not bear on the head; they flush later
        head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
    session.info[_HEAD] = (session.get_transaction(), head)  # begun by the query if it was not yet
    return head


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of walking the chain."""

    ok: bool
    entries: int
    first_broken_seq: int | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_broken_seq": self.first_broken_seq,
                "reason": self.reason}


def verify(session: Session, batch: int = 2000) -> AuditVerification:
    """Walk the whole chain; report the first entry that was altered, removed or inserted."""
    expected_seq = 1
    prev = GENESIS
    last = 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return AuditVerification(False, expected_seq - 1, expected_seq,
                                         f"entry {expected_seq} is missing (next present entry is {row.seq})")
            if row.prev_hash != prev:
                return AuditVerification(False, expected_seq - 1, row.seq,
                                         f"entry {row.seq} does not link to entry {row.seq - 1}")
            recomputed = _entry_hash(row.seq, row.at, row.actor, row.action, row.object_type, row.object_id,
                                     row.outcome, row.detail, row.prev_hash)
            if recomputed != row.entry_hash:
                return AuditVerification(False, expected_seq - 1, row.seq,
                                         f"entry {row.seq} was altered: its content no longer matches its hash")
            prev = row.entry_hash
            expected_seq += 1
            last = row.seq
        session.expunge_all()
    head = session.get(AuditHead, 1)
    count = expected_seq - 1
    if head is None:
        return AuditVerification(False, count, None, "the audit head row is missing")
    if head.seq != count or head.entry_hash != prev:
        return AuditVerification(False, count, count + 1 if head.seq > count else head.seq,
                                 f"the log ends at entry {count} but its head records entry {head.seq}: "
                                 "entries were removed from the end or the head was altered")
    return AuditVerification(True, count)


def entries(session: Session, *, limit: int = 100, before_seq: int | None = None, actor: str | None = None,
            object_type: str | None = None, object_id: str | None = None) -> list[AuditEntry]:
    """Newest first, filtered, for the auditor's viewer."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if before_seq is not None:
        query = query.where(AuditEntry.seq < before_seq)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id:
        query = query.where(AuditEntry.object_id == object_id)
    return list(session.execute(query).scalars())


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API and the viewer show it."""
    return {"seq": entry.seq, "at": entry.at.isoformat(), "actor": entry.actor, "action": entry.action,
            "object_type": entry.object_type, "object_id": entry.object_id, "outcome": entry.outcome,
            "detail": entry.detail, "entry_hash": entry.entry_hash}
