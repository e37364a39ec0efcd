"""Replay protection: a transaction is processed once, and the same signed envelope is accepted once.

A sender that gets no answer retries the same transaction, re-signed with a fresh timestamp: the receiver
recognises the transaction id (`remember` answers False) and answers it again without processing it twice. The
very same signed bytes arriving a second time are a replay and refused.

The database store writes in the caller's transaction, so an envelope whose processing rolls back is not
remembered and may be delivered again, while one that committed can never be accepted twice (the primary key
holds even against two node processes racing on the same id). Ids are kept until `forget_before`; it is safe
to forget ids whose envelope timestamp is older than the allowed clock skew, because such envelopes are refused
for their timestamp anyway.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nohaven.federation.errors import ReplayedEnvelopeError
from nohaven.federation.models import SeenSignature, SeenTransaction
from nohaven.federation.network_directory import EndpointID

__all__ = ["DatabaseReplayStore", "MemoryReplayStore", "ReplayStore"]


class ReplayStore(Protocol):
    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime,
                 signature: bytes) -> bool:
        """Record the envelope: True for a new transaction, False for a sender's re-signed retry of a transaction
        accepted before; raise ReplayedEnvelopeError for the same signed envelope again, or for a transaction id
        another sender used."""


def _replayed(transaction_id: str, why: str = "the same signed envelope was received before") -> ReplayedEnvelopeError:
    return ReplayedEnvelopeError(f"transaction {transaction_id}: {why}; a replay does nothing",
                                 transaction_id=transaction_id)


def _digest(signature: bytes) -> str:
    return hashlib.sha256(signature).hexdigest()


class DatabaseReplayStore:
    """Seen transactions and signatures in `federation_seen_transactions` and `federation_seen_signatures`,
    written in `session`'s transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime,
                 signature: bytes) -> bool:
        digest = _digest(signature)
        if self.session.get(SeenSignature, digest) is not None:
            raise _replayed(transaction_id)
        prior = self._sender_of(transaction_id)
        if prior is not None and prior != (sender.CountryCode, sender.UniqueIdentifier):
            raise _replayed(transaction_id, "this transaction id was used by another node")
        try:
            # Savepoints, so that losing a race leaves the caller's transaction usable (PostgreSQL aborts it).
            with self.session.begin_nested():
                self.session.add(SeenSignature(signature_sha256=digest, transaction_id=transaction_id,
                                               envelope_timestamp=timestamp))
        except IntegrityError:
            raise _replayed(transaction_id) from None
        if prior is not None:
            return False
        try:
            with self.session.begin_nested():
                self.session.add(SeenTransaction(transaction_id=transaction_id, sender_country=sender.CountryCode,
                                                 sender_id=sender.UniqueIdentifier, envelope_timestamp=timestamp,
                                                 seen_at=now))
        except IntegrityError:  # a retry of the same transaction, accepted by another process a moment ago
            if self._sender_of(transaction_id) != (sender.CountryCode, sender.UniqueIdentifier):
                raise _replayed(transaction_id, "this transaction id was used by another node") from None
            return False
        return True

    def _sender_of(self, transaction_id: str) -> tuple[str, str] | None:
        row = self.session.execute(
            select(SeenTransaction.sender_country, SeenTransaction.sender_id)
            .where(SeenTransaction.transaction_id == transaction_id)).first()
        return (row[0], row[1]) if row else None

    def seen(self, transaction_id: str) -> bool:
        return self._sender_of(transaction_id) is not None

    def forget_before(self, before: datetime) -> int:
        """Drop transactions and signatures of envelopes timestamped before `before`; returns how many
        transactions. Safe once `before` is older than the allowed skew: such envelopes are refused anyway."""
        self.session.execute(delete(SeenSignature).where(SeenSignature.envelope_timestamp < before))
        result = self.session.execute(delete(SeenTransaction).where(SeenTransaction.envelope_timestamp < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class MemoryReplayStore:
    """Seen ids in memory: for tools and tests, never for a node (it forgets on restart)."""

    def __init__(self) -> None:
        self.ids: dict[str, tuple[str, str]] = {}
        self.signatures: set[str] = set()

    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime,
                 signature: bytes) -> bool:
        digest = _digest(signature)
        if digest in self.signatures:
            raise _replayed(transaction_id)
        name = (sender.CountryCode, sender.UniqueIdentifier)
        prior = self.ids.get(transaction_id)
        if prior is not None and prior != name:
            raise _replayed(transaction_id, "this transaction id was used by another node")
        self.signatures.add(digest)
        self.ids[transaction_id] = name
        return prior is None
