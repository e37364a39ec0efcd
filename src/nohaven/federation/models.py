"""Tables of federation: the network directories installed on this node, and the transaction ids seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nohaven.db.base import Base

__all__ = ["InboxMessage", "InstalledDirectory", "SeenTransaction"]


class InstalledDirectory(Base):
    """A signed network directory that verified when it was installed; the highest serial is the current one.

    `document` is the signed JSON exactly as received, so it can be verified again at every load."""

    __tablename__ = "federation_directories"

    serial: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    issued_at: Mapped[datetime]
    authority_key_id: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(Text)
    installed_at: Mapped[datetime]
    installed_by: Mapped[str] = mapped_column(String(64))


class SeenTransaction(Base):
    """A transaction id this node accepted; the primary key makes a second acceptance impossible."""

    __tablename__ = "federation_seen_transactions"

    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender_country: Mapped[str] = mapped_column(String(2))
    sender_id: Mapped[str] = mapped_column(String(256))
    envelope_timestamp: Mapped[datetime]
    seen_at: Mapped[datetime]

    __table_args__ = (Index("ix_federation_seen_transactions_seen_at", "seen_at"),)


class SeenSignature(Base):
    """Every envelope signature this node accepted. A sender that retries re-signs the same transaction with a
    fresh timestamp; the very same signed bytes arriving twice are a replay."""

    __tablename__ = "federation_seen_signatures"

    signature_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36))
    envelope_timestamp: Mapped[datetime]

    __table_args__ = (Index("ix_federation_seen_signatures_timestamp", "envelope_timestamp"),)


class InboxMessage(Base):
    """An envelope this node accepted and processed, keyed by its transaction id: a retried delivery of the same
    transaction is answered from here (a new receipt with the same content) and changes nothing."""

    __tablename__ = "federation_inbox"

    transaction_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sender_country: Mapped[str] = mapped_column(String(2))
    sender_id: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str | None] = mapped_column(String(36))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="SET NULL"))
    received_at: Mapped[datetime]
    receipt: Mapped[dict[str, Any]] = mapped_column()
    envelope: Mapped[dict[str, Any]] = mapped_column()
