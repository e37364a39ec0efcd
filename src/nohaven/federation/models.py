"""Tables of federation: the network directories installed on this node, and the transaction ids seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nohaven.db.base import Base

__all__ = ["InstalledDirectory", "SeenTransaction"]


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
