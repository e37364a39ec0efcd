"""Tables of cases, cooperation requests, their data items, events, clocks and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nohaven.db.base import Base


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    members: Mapped[list[CaseMember]] = relationship(back_populates="case", cascade="all, delete-orphan")


class CaseMember(Base):
    __tablename__ = "case_members"
    __table_args__ = (UniqueConstraint("case_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    added_at: Mapped[datetime]

    case: Mapped[Case] = relationship(back_populates="members")


class CooperationRequest(Base):
    __tablename__ = "cooperation_requests"
    __table_args__ = (Index("ix_cooperation_requests_case", "case_id"),
                      UniqueConstraint("peer_country", "exchange_id", name="uq_cooperation_requests_exchange"))

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    type: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(40))
    requesting_state: Mapped[str] = mapped_column(String(2))
    requested_state: Mapped[str] = mapped_column(String(2))
    their_reference: Mapped[str] = mapped_column(String(128), default="")
    request_date: Mapped[datetime]
    received_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    written_confirmation_at: Mapped[datetime | None]
    preserved_at: Mapped[datetime | None]
    is_extension: Mapped[bool] = mapped_column(default=False)
    extends_id: Mapped[int | None] = mapped_column(ForeignKey("cooperation_requests.id"))
    follow_up_mla_id: Mapped[int | None] = mapped_column(ForeignKey("cooperation_requests.id"))
    template: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime]
    # Exchanged over the federation: the object id both nodes use, and the other node (its State, and its
    # node id once known: the requester's node at once, the requested State's node from its receipt).
    exchange_id: Mapped[str | None] = mapped_column(String(36))
    peer_country: Mapped[str | None] = mapped_column(String(2))
    peer_node_id: Mapped[str | None] = mapped_column(String(256))

    case: Mapped[Case] = relationship()
    data_items: Mapped[list[RequestDataItem]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestDataItem.id"
    )
    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="RequestEvent.id"
    )
    clocks: Mapped[list[Clock]] = relationship(
        back_populates="request", cascade="all, delete-orphan", order_by="Clock.due_at"
    )


class RequestAttachment(Base):
    """A file or record set disclosed with a request: added here, or received from the other State's node.

    The content lives in the node's content-addressed blob store under its SHA-256."""

    __tablename__ = "request_attachments"
    __table_args__ = (Index("ix_request_attachments_request", "request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(16))  # "added" here or "received" from the peer
    added_at: Mapped[datetime]
    added_by: Mapped[str] = mapped_column(String(300))


class PeerMessage(Base):
    """The transactional outbox: a change of an exchanged request to be told to the other State's node.

    Written in the transaction of the change itself; the federation dispatcher signs, sends and retries it, and
    records its delivery state: queued, sent (awaiting the receipt), received, acknowledged, failed."""

    __tablename__ = "peer_messages"
    __table_args__ = (Index("ix_peer_messages_due", "state", "next_attempt_at"),
                      Index("ix_peer_messages_request", "request_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[str] = mapped_column(String(36), unique=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="CASCADE"))
    receiver_country: Mapped[str] = mapped_column(String(2))
    receiver_node_id: Mapped[str | None] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(16))
    object_id: Mapped[str] = mapped_column(String(36))
    payload: Mapped[dict[str, Any]] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    receipt: Mapped[dict[str, Any] | None] = mapped_column()


class RequestDataItem(Base):
    """One identifier whose data is concerned, with the time range as the requester wrote it."""

    __tablename__ = "request_data_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="CASCADE"))
    identifier_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(512))
    data_category: Mapped[str] = mapped_column(String(32))
    time_from: Mapped[datetime | None]
    time_to: Mapped[datetime | None]
    time_from_text: Mapped[str] = mapped_column(String(64), default="")
    time_to_text: Mapped[str] = mapped_column(String(64), default="")

    request: Mapped[CooperationRequest] = relationship(back_populates="data_items")


class RequestEvent(Base):
    """The request's timeline: creation, status changes, acknowledgement, clocks, links."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(40))
    to_status: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")

    request: Mapped[CooperationRequest] = relationship(back_populates="events")


class Clock(Base):
    """A legal deadline of one request; the scheduler warns at warn_at and escalates at due_at."""

    __tablename__ = "clocks"
    __table_args__ = (
        UniqueConstraint("request_id", "kind"),
        Index("ix_clocks_state_warn", "state", "warn_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime]
    warn_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))  # running, warned, escalated, satisfied, cancelled
    basis: Mapped[str] = mapped_column(Text, default="")
    settled_at: Mapped[datetime | None]

    request: Mapped[CooperationRequest] = relationship(back_populates="clocks")


class Notification(Base):
    """A warning or escalation sent to the on-call supervisor (recorded always, e-mailed when SMTP is set)."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    request_id: Mapped[int | None] = mapped_column(ForeignKey("cooperation_requests.id", ondelete="CASCADE"))
    clock_kind: Mapped[str] = mapped_column(String(40), default="")
    level: Mapped[str] = mapped_column(String(16))  # warning, escalation
    recipient: Mapped[str] = mapped_column(String(200))
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    message: Mapped[str] = mapped_column(Text)
    email_status: Mapped[str] = mapped_column(String(16), default="not_configured")
    email_error: Mapped[str] = mapped_column(Text, default="")
