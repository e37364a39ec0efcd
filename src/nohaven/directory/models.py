"""Tables of the 24/7 network directory: States, legal profiles, agencies, contacts, on-call rota, this node."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nohaven.db.base import Base


class NodeIdentity(Base):
    """Which State and agency this node serves (one row, written by `nohaven init`)."""

    __tablename__ = "node_identity"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_code: Mapped[str] = mapped_column(String(2))
    agency_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class State(Base):
    __tablename__ = "states"

    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    fictional: Mapped[bool] = mapped_column(default=False)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # where the State's 24/7 desk keeps its clock
    note: Mapped[str] = mapped_column(Text, default="")
    legal_profile: Mapped[dict[str, Any]] = mapped_column(default=dict)

    agencies: Mapped[list[Agency]] = relationship(
        back_populates="state", cascade="all, delete-orphan", order_by="Agency.id"
    )


class Agency(Base):
    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_code: Mapped[str] = mapped_column(ForeignKey("states.code", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(Text, default="")
    point_of_contact: Mapped[bool] = mapped_column(default=False)

    state: Mapped[State] = relationship(back_populates="agencies")
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="agency", cascade="all, delete-orphan", order_by="Contact.id"
    )


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    function: Mapped[str] = mapped_column(String(64), default="officer")
    phones: Mapped[list[Any]] = mapped_column(default=list)
    email: Mapped[str | None] = mapped_column(String(254))
    fax: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[list[Any]] = mapped_column(default=list)
    office_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)

    agency: Mapped[Agency] = relationship(back_populates="contacts")
    shifts: Mapped[list[OnCallShift]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="OnCallShift.starts_at"
    )


class OnCallShift(Base):
    __tablename__ = "on_call_shifts"
    __table_args__ = (Index("ix_on_call_shifts_window", "starts_at", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]

    contact: Mapped[Contact] = relationship(back_populates="shifts")
