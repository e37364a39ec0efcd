"""Tables of cases, cooperation requests, their data items, events, clocks and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
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
    __table_args__ = (Index("ix_cooperation_requests_case", "case_id"),)

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
