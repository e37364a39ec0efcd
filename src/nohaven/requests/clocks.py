"""Legal clocks: which deadlines a request runs under, computed from the requested State's legal profile.

`plan` says what each clock should be now (due time, basis, whether it is settled); `sync` writes that
plan to the clocks table so that the scheduler, which reads only the table, survives restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from nohaven.directory.schema import LegalProfile
from nohaven.requests.lifecycle import ANSWERED, CLOSED, RequestType
from nohaven.requests.models import Clock, CooperationRequest
from nohaven.timeutil import parse_duration

__all__ = ["ClockKind", "ClockPlan", "plan", "sync", "urgency"]

MAX_WARN_LEAD = timedelta(hours=24)
WRITTEN_CHANNELS = frozenset({"email", "fax", "voice", "in_person"})


class ClockKind(StrEnum):
    ACKNOWLEDGE_BY = "acknowledge_by"
    RESPONSE_DUE = "response_due"
    WRITTEN_CONFIRMATION_DUE = "written_confirmation_due"
    DATA_AT_RISK = "data_at_risk"
    PRESERVATION_EXPIRES_AT = "preservation_expires_at"
    EXTENSION_DUE = "extension_due"
    MLA_FOLLOW_UP_DUE = "mla_follow_up_due"


LABELS = {
    ClockKind.ACKNOWLEDGE_BY: "acknowledge by",
    ClockKind.RESPONSE_DUE: "response due",
    ClockKind.WRITTEN_CONFIRMATION_DUE: "written confirmation due",
    ClockKind.DATA_AT_RISK: "data likely deleted after",
    ClockKind.PRESERVATION_EXPIRES_AT: "preservation expires at",
    ClockKind.EXTENSION_DUE: "extension due",
    ClockKind.MLA_FOLLOW_UP_DUE: "MLA follow-up due",
}


@dataclass(frozen=True)
class ClockPlan:
    kind: ClockKind
    start: datetime
    due_at: datetime
    basis: str
    settled: bool

    @property
    def warn_at(self) -> datetime:
        """A quarter of the clock's span before it runs out, at most a day."""
        lead = min((self.due_at - self.start) / 4, MAX_WARN_LEAD)
        return self.due_at - max(lead, timedelta(0))


@dataclass(frozen=True)
class Links:
    """Facts about linked requests that settle clocks."""

    has_extension: bool = False
    extension_preserved: bool = False
    original_expires_at: datetime | None = None


def plan(req: CooperationRequest, profile: LegalProfile, links: Links) -> list[ClockPlan]:
    """Every clock that applies to the request, with its due time and whether it is settled."""
    out: list[ClockPlan] = []
    priority = "urgent" if req.type == RequestType.EMERGENCY else req.priority
    received = req.received_at
    closed = req.status in CLOSED

    ack = getattr(profile.acknowledgement, priority)
    out.append(ClockPlan(ClockKind.ACKNOWLEDGE_BY, received, received + parse_duration(ack),
                         f"{priority} requests are acknowledged within {ack}", req.acknowledged_at is not None))

    per_type = profile.response_by_type.get(req.type)
    response = getattr(per_type or profile.response, priority)
    out.append(ClockPlan(ClockKind.RESPONSE_DUE, received, received + parse_duration(response),
                         f"{priority} {req.type} requests are answered within {response}", req.status in ANSWERED))

    if req.channel in WRITTEN_CHANNELS:
        out.append(ClockPlan(
            ClockKind.WRITTEN_CONFIRMATION_DUE, received, received + parse_duration(profile.written_confirmation),
            f"a request made by {req.channel.replace('_', ' ')} is confirmed in writing within "
            f"{profile.written_confirmation}", req.written_confirmation_at is not None or closed))

    if req.type == RequestType.PRESERVATION:
        out.extend(_preservation_clocks(req, profile, links))
    return out


def _preservation_clocks(req: CooperationRequest, profile: LegalProfile, links: Links) -> list[ClockPlan]:
    out: list[ClockPlan] = []
    preserved = req.preserved_at is not None
    closed = req.status in CLOSED and req.status != "Expired"
    # Until the data is preserved, the carrier's retention period decides when it is lost.
    risk = _data_at_risk(req, profile)
    if risk is not None:
        due, category, retention = risk
        out.append(ClockPlan(ClockKind.DATA_AT_RISK, req.received_at, max(due, req.received_at),
                             f"{category} data is kept about {retention} by carriers of {req.requested_state}",
                             preserved or req.status in CLOSED))
    if req.preserved_at is None:
        return out
    start = req.preserved_at
    if req.is_extension and links.original_expires_at is not None:
        start = max(start, links.original_expires_at)
        period, basis = profile.preservation_extension, f"an extension adds {profile.preservation_extension}"
    else:
        period, basis = profile.preservation_period, f"preservation lasts {profile.preservation_period}"
    expires = start + parse_duration(period)
    out.append(ClockPlan(ClockKind.PRESERVATION_EXPIRES_AT, req.preserved_at, expires, basis,
                         closed or links.extension_preserved or req.follow_up_mla_id is not None))
    notice = parse_duration(profile.extension_notice)
    out.append(ClockPlan(ClockKind.EXTENSION_DUE, req.preserved_at, max(expires - notice, req.preserved_at),
                         f"an extension is asked {profile.extension_notice} before expiry",
                         closed or links.has_extension or req.follow_up_mla_id is not None))
    mla_due = req.preserved_at + parse_duration(profile.mla_follow_up)
    out.append(ClockPlan(ClockKind.MLA_FOLLOW_UP_DUE, req.preserved_at, min(mla_due, expires) if not req.is_extension
                         else expires, f"the MLA request follows within {profile.mla_follow_up} of preservation",
                         closed or req.follow_up_mla_id is not None))
    return out


def _data_at_risk(req: CooperationRequest, profile: LegalProfile) -> tuple[datetime, str, str] | None:
    earliest: tuple[datetime, str, str] | None = None
    for item in req.data_items:
        if item.time_from is None:
            continue
        retention = profile.retention.get(item.data_category)  # type: ignore[call-overload]
        if retention is None:
            continue
        due = item.time_from + parse_duration(retention)
        if earliest is None or due < earliest[0]:
            earliest = (due, item.data_category, retention)
    return earliest


def sync(session: Session, req: CooperationRequest, plans: list[ClockPlan], now: datetime, *,
         flush: bool = True) -> None:
    """Write the plan: new clocks start running, moved ones move, settled ones stop; clocks no longer planned
    are cancelled; nothing is deleted, so the timeline keeps what was. `flush=False` leaves the writing to the
    caller's next flush (a request being created is written in one)."""
    existing = {clock.kind: clock for clock in req.clocks}
    planned = {p.kind.value for p in plans}
    for p in plans:
        clock = existing.get(p.kind.value)
        if clock is None:
            clock = Clock(kind=p.kind.value, due_at=p.due_at, warn_at=p.warn_at, state="running", basis=p.basis)
            req.clocks.append(clock)
        elif clock.state in ("running", "warned", "escalated") and clock.due_at != p.due_at:
            clock.due_at, clock.warn_at, clock.basis = p.due_at, p.warn_at, p.basis
            if clock.state != "escalated" or p.due_at > now:
                clock.state = "running"
        if p.settled and clock.state in ("running", "warned", "escalated"):
            clock.state = "satisfied"
            clock.settled_at = now
    closed = req.status in CLOSED
    for kind, clock in existing.items():
        # What is still running once the request is closed, or no longer applies, stops without being met;
        # an escalated clock keeps saying that its deadline passed unmet.
        if clock.state in ("running", "warned") and (kind not in planned or closed):
            clock.state = "cancelled"
            clock.settled_at = now
    if flush:
        session.flush()


def urgency(clock: Clock, now: datetime) -> str:
    """'overdue', 'critical', 'soon', 'ok' or 'settled' — the dashboard's colours."""
    if clock.state in ("satisfied", "cancelled"):
        return "settled"
    if clock.due_at <= now:
        return "overdue"
    if clock.warn_at <= now:
        return "critical"
    if clock.due_at - now <= 2 * (clock.due_at - clock.warn_at):
        return "soon"
    return "ok"
