"""Tables of the node's evidence: the custody log (events, head, checkpoints), acquired items and kept bundles."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nohaven.db.base import Base


class CustodyHead(Base):
    """The log's one-row head: its origin (fixed at first use) and size; locked by every append."""

    __tablename__ = "custody_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)


class CustodyEvent(Base):
    """One leaf of the custody log: the event's exact canonical bytes, at its position in the tree."""

    __tablename__ = "custody_events"
    __table_args__ = (Index("ix_custody_events_case", "case_reference"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    case_reference: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    leaf_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    recorded_at: Mapped[datetime]


class CustodyCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) of the log at a size."""

    __tablename__ = "custody_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[bytes] = mapped_column(LargeBinary)
    signed_at: Mapped[datetime]


class EvidenceItem(Base):
    """An acquired item: its digests, where and under which authority it was taken, and its `acquired` event."""

    __tablename__ = "evidence_items"
    __table_args__ = (Index("ix_evidence_items_case", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    exhibit: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(1000))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    sha1: Mapped[str] = mapped_column(String(40))
    md5: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(Text)
    authority: Mapped[str] = mapped_column(Text)
    location: Mapped[str] = mapped_column(Text, default="")
    tool: Mapped[str] = mapped_column(String(64))
    tool_version: Mapped[str] = mapped_column(String(64))
    acquired_by: Mapped[str] = mapped_column(String(300))
    acquired_at: Mapped[datetime]
    event_seq: Mapped[int] = mapped_column(BigInteger)


class EvidenceBundle(Base):
    """A bundle kept in the blob store: one this node sealed, or one it received and cosigned."""

    __tablename__ = "evidence_bundles"
    __table_args__ = (Index("ix_evidence_bundles_case", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(16))  # sealed | received
    name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    log_origin: Mapped[str] = mapped_column(String(255))  # the log whose checkpoint the bundle carries
    tree_size: Mapped[int] = mapped_column(BigInteger)
    event_seq: Mapped[int] = mapped_column(BigInteger)  # our `sealed` or `received` event
    signatures: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(300))
