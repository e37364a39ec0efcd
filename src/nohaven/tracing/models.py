"""Tables of traces: a trace of a communication through its carriers, its hops (a tree: an answer may name several
next endpoints), the requests drafted from each hop, and the trace's timeline of what happened."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nohaven.db.base import Base
from nohaven.requests.models import Case

__all__ = ["HOP_SOURCES", "HOP_STATUSES", "LINK_KINDS", "TRACE_STATUSES", "Trace", "TraceEvent", "TraceHop",
           "TraceHopRequest"]

TRACE_STATUSES = ("open", "origin_found", "chain_broken", "closed")
HOP_STATUSES = ("new", "resolved", "requested", "answered", "origin", "dead_end")
HOP_SOURCES = ("observation", "email", "disclosure_answer", "manual")
LINK_KINDS = ("preservation", "traffic_disclosure", "domestic_order")


class Trace(Base):
    """A communication followed hop by hop, in a case (its members have need-to-know)."""

    __tablename__ = "traces"
    __table_args__ = (Index("ix_traces_case", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    title: Mapped[str] = mapped_column(String(300))
    offence: Mapped[str] = mapped_column(String(500), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    case: Mapped[Case] = relationship()
    hops: Mapped[list[TraceHop]] = relationship(back_populates="trace", cascade="all, delete-orphan",
                                                order_by="TraceHop.id")
    events: Mapped[list[TraceEvent]] = relationship(back_populates="trace", cascade="all, delete-orphan",
                                                    order_by="TraceEvent.id")


class TraceHop(Base):
    """One endpoint of the communication as a source saw it, with its time kept as written, its resolution as
    it was at the time, and what became of it (requested, answered, the origin, a dead end)."""

    __tablename__ = "trace_hops"
    __table_args__ = (UniqueConstraint("trace_id", "label"), Index("ix_trace_hops_parent", "parent_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    trace_id: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("trace_hops.id"))
    label: Mapped[str] = mapped_column(String(16))  # H1, H2, ... within the trace
    # The observation, as written in its source, and what follows from it.
    ip: Mapped[str] = mapped_column(String(64))
    port: Mapped[int | None]
    protocol: Mapped[str | None] = mapped_column(String(16))
    time_text: Mapped[str] = mapped_column(String(200))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    offset_text: Mapped[str] = mapped_column(String(64))  # "+01:00", "unknown", or both offsets of a repeated hour
    instant: Mapped[datetime | None]  # None when the time names no single instant (ambiguous or offset unknown)
    candidates: Mapped[list[Any]] = mapped_column(default=list)  # every instant the text may name (UTC, ISO 8601)
    time_ambiguous: Mapped[bool] = mapped_column(default=False)
    time_notes: Mapped[list[Any]] = mapped_column(default=list)
    uncertainty: Mapped[str] = mapped_column(String(32), default="PT1S")
    window_start: Mapped[datetime]
    window_end: Mapped[datetime]
    seen_where: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    # Where the hop came from: an observation, an e-mail header, the disclosure answer of a request, by hand.
    source: Mapped[str] = mapped_column(String(32))
    source_request_id: Mapped[int | None] = mapped_column(ForeignKey("cooperation_requests.id"))
    source_attachment_id: Mapped[int | None] = mapped_column(ForeignKey("request_attachments.id"))
    # Resolution as it was when resolved (piece A's Resolution.to_dict(), snapshot dates included).
    resolution: Mapped[dict[str, Any] | None] = mapped_column()
    resolved_at: Mapped[datetime | None]
    responsible_state: Mapped[str | None] = mapped_column(String(2))
    domestic: Mapped[bool] = mapped_column(default=False)
    likely_deleted_after: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="new")
    subscriber: Mapped[dict[str, Any] | None] = mapped_column()  # when the hop is the origin
    answer: Mapped[dict[str, Any] | None] = mapped_column()  # what the answer said, as recorded
    outcome: Mapped[str] = mapped_column(Text, default="")  # e.g. why it is a dead end
    created_by: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    trace: Mapped[Trace] = relationship(back_populates="hops")
    requests: Mapped[list[TraceHopRequest]] = relationship(back_populates="hop", cascade="all, delete-orphan",
                                                           order_by="TraceHopRequest.id")


class TraceHopRequest(Base):
    """A request drafted from a hop and filed: through it the hop's evidence (its attachments) is reached."""

    __tablename__ = "trace_hop_requests"
    __table_args__ = (UniqueConstraint("hop_id", "request_id"), Index("ix_trace_hop_requests_request", "request_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    hop_id: Mapped[int] = mapped_column(ForeignKey("trace_hops.id", ondelete="CASCADE"))
    request_id: Mapped[int] = mapped_column(ForeignKey("cooperation_requests.id"))
    kind: Mapped[str] = mapped_column(String(32))  # preservation, traffic_disclosure, domestic_order
    created_at: Mapped[datetime]

    hop: Mapped[TraceHop] = relationship(back_populates="requests")


class TraceEvent(Base):
    """The trace's own timeline: created, hop added, resolved, requests filed, answer recorded, notes."""

    __tablename__ = "trace_events"
    __table_args__ = (Index("ix_trace_events_trace", "trace_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trace_id: Mapped[int] = mapped_column(ForeignKey("traces.id", ondelete="CASCADE"))
    hop_id: Mapped[int | None] = mapped_column(ForeignKey("trace_hops.id", ondelete="SET NULL"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")

    trace: Mapped[Trace] = relationship(back_populates="events")
