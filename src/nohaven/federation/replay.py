"""Replay protection: a transaction id is accepted once.

The database store writes in the caller's transaction, so an envelope whose processing rolls back is not
remembered and may be delivered again, while one that committed can never be accepted twice (the primary key
holds even against two node processes racing on the same id). Ids are kept until `forget_before`; it is safe
to forget ids whose envelope timestamp is older than the allowed clock skew, because such envelopes are refused
for their timestamp anyway.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nohaven.federation.errors import ReplayedEnvelopeError
from nohaven.federation.models import SeenTransaction
from nohaven.federation.network_directory import EndpointID

__all__ = ["DatabaseReplayStore", "MemoryReplayStore", "ReplayStore"]


class ReplayStore(Protocol):
    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime) -> None:
        """Record the id, or raise ReplayedEnvelopeError if it was recorded before."""


def _replayed(transaction_id: str) -> ReplayedEnvelopeError:
    return ReplayedEnvelopeError(f"transaction {transaction_id} was received before; a replay does nothing",
                                 transaction_id=transaction_id)


class DatabaseReplayStore:
    """Seen transaction ids in the table `federation_seen_transactions`, written in `session`'s transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime) -> None:
        if self.seen(transaction_id):
            raise _replayed(transaction_id)
        try:
            # A savepoint, so that losing a race leaves the caller's transaction usable (PostgreSQL aborts it).
            with self.session.begin_nested():
                self.session.add(SeenTransaction(transaction_id=transaction_id, sender_country=sender.CountryCode,
                                                 sender_id=sender.UniqueIdentifier, envelope_timestamp=timestamp,
                                                 seen_at=now))
        except IntegrityError:
            raise _replayed(transaction_id) from None

    def seen(self, transaction_id: str) -> bool:
        found = self.session.execute(
            select(SeenTransaction.transaction_id).where(SeenTransaction.transaction_id == transaction_id)
        ).first()
        return found is not None

    def forget_before(self, before: datetime) -> int:
        """Drop ids of envelopes timestamped before `before`; returns how many."""
        result = self.session.execute(delete(SeenTransaction).where(SeenTransaction.envelope_timestamp < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class MemoryReplayStore:
    """Seen ids in memory: for tools and tests, never for a node (it forgets on restart)."""

    def __init__(self) -> None:
        self.ids: set[str] = set()

    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime) -> None:
        if transaction_id in self.ids:
            raise _replayed(transaction_id)
        self.ids.add(transaction_id)
