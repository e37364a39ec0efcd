"""How pages show things: instants in UTC and in the node's local zone, clocks with their urgency, navigation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.auth.policy import Action, Subject, Target, decide
from nohaven.directory import service as directory
from nohaven.directory.models import Agency, Contact, State
from nohaven.requests.clocks import LABELS, ClockKind, urgency
from nohaven.requests.lifecycle import RequestType
from nohaven.requests.models import Clock, CooperationRequest
from nohaven.timeutil import as_utc, humanize_delta, zone

__all__ = ["LocalZone", "clock_row", "dashboard_row", "instant", "navigation", "node_zone"]

URGENCY_TEXT = {"ok": "on time", "soon": "soon", "critical": "critical", "overdue": "OVERDUE", "settled": "settled"}
RUNNING = ("running", "warned", "escalated")


@dataclass(frozen=True)
class LocalZone:
    name: str
    tz: tzinfo


def node_zone(session: Session) -> LocalZone:
    """The node's local zone: its State's `time_zone` in the directory, else the zone its point-of-contact desk
    keeps office hours in, else UTC."""
    code = directory.node_identity(session).state_code
    state = session.get(State, code)
    if state is not None and state.time_zone:
        return LocalZone(state.time_zone, zone(state.time_zone))
    rows = session.execute(
        select(Contact.office_hours).join(Agency).where(Agency.state_code == code)
        .order_by(Agency.point_of_contact.desc(), Agency.id, Contact.id)
    ).scalars().all()
    for hours in rows:
        name = (hours or {}).get("time_zone")
        if name:
            return LocalZone(name, zone(name))
    return LocalZone("UTC", UTC)


def instant(value: datetime | None, local: LocalZone, now: datetime | None = None) -> dict[str, str] | None:
    """One instant for people: UTC, the node's local time, and how far away it is."""
    if value is None:
        return None
    value = as_utc(value)
    out = {"utc": f"{value:%Y-%m-%d %H:%M} UTC",
           "local": f"{value.astimezone(local.tz):%Y-%m-%d %H:%M %Z} ({local.name})",
           "iso": value.isoformat()}
    if now is not None:
        out["relative"] = humanize_delta(value - now)
    return out


def clock_row(clock: Clock, local: LocalZone, now: datetime) -> dict[str, Any]:
    level = urgency(clock, now)
    try:
        label = LABELS[ClockKind(clock.kind)]
    except ValueError:
        label = clock.kind.replace("_", " ")
    return {"kind": clock.kind, "label": label, "due": instant(clock.due_at, local, now), "state": clock.state,
            "urgency": level, "urgency_text": URGENCY_TEXT[level], "basis": clock.basis,
            "settled_at": instant(clock.settled_at, local)}


def next_clock(req: CooperationRequest) -> Clock | None:
    running = [c for c in req.clocks if c.state in RUNNING]
    return min(running, key=lambda c: as_utc(c.due_at)) if running else None


def dashboard_row(req: CooperationRequest, local: LocalZone, now: datetime) -> dict[str, Any]:
    nearest = next_clock(req)
    return {"id": req.id, "reference": req.reference, "type": req.type.replace("_", " "),
            "requesting_state": req.requesting_state, "status": req.status, "priority": req.priority,
            "clock": clock_row(nearest, local, now) if nearest else None}


def _may_on_some_request(subject: Subject, action: Action) -> bool:
    return any(decide(subject, action, Target(new_case=True, request_type=t.value)).allowed for t in RequestType)


def navigation(subject: Subject) -> list[tuple[str, str]]:
    """The pages this user's role can use, as the policy decides (the services still decide each action)."""
    items = [
        ("/", "Open requests", _may_on_some_request(subject, Action.REQUEST_READ)),
        ("/requests/new", "New request", _may_on_some_request(subject, Action.REQUEST_CREATE)),
        ("/notifications", "Notifications", decide(subject, Action.NOTIFICATION_READ).allowed),
        ("/audit", "Audit log", decide(subject, Action.AUDIT_READ).allowed),
        ("/directory", "Directory", decide(subject, Action.DIRECTORY_READ).allowed),
        ("/traces", "Traces", decide(subject, Action.TRACE_CREATE, Target(new_case=True)).allowed),
    ]
    return [(href, label) for href, label, allowed in items if allowed]
