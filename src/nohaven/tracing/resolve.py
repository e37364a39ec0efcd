"""An address at an instant → its network (from the snapshots in force then), the State responsible, that State's
point of contact in the directory, and how long its carriers keep traffic data ("likely deleted after").

Every gap is named in `problems` rather than papered over: no snapshot for that instant, an address in no
range, no country, a State missing from the directory, no point of contact, no retention period.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject
from nohaven.auth.service import require
from nohaven.directory.models import Agency, Contact, NodeIdentity, State
from nohaven.directory.service import on_call
from nohaven.errors import InputError
from nohaven.timeutil import as_utc, parse_duration, require_aware
from nohaven.tracing.ipdata import IpDataStore, IpRecord

__all__ = ["PointOfContact", "Resolution", "StateRef", "resolve_address", "resolve_for_arrival"]


@dataclass(frozen=True)
class StateRef:
    """The State an address belongs to, as the directory knows it."""

    code: str
    name: str
    time_zone: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"code": self.code, "name": self.name, "time_zone": self.time_zone}


@dataclass(frozen=True)
class PointOfContact:
    """Whom to call in that State: its point-of-contact agency and the 24/7 contact there."""

    agency: str
    contact_key: str | None
    name: str | None
    phones: tuple[str, ...]
    email: str | None
    time_zone: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"agency": self.agency, "contact_key": self.contact_key, "name": self.name,
                "phones": list(self.phones), "email": self.email, "time_zone": self.time_zone}


@dataclass(frozen=True)
class Resolution:
    """What the node knows about an address at an instant, and what it does not."""

    ip: str
    at: datetime | None
    record: IpRecord | None
    state: StateRef | None
    domestic: bool
    point_of_contact: PointOfContact | None
    traffic_retention: str | None
    likely_deleted_after: datetime | None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (instants as ISO 8601 with offset)."""
        return {"ip": self.ip, "at": self.at.isoformat() if self.at else None,
                "record": self.record.to_dict() if self.record else None,
                "state": self.state.to_dict() if self.state else None, "domestic": self.domestic,
                "point_of_contact": self.point_of_contact.to_dict() if self.point_of_contact else None,
                "traffic_retention": self.traffic_retention,
                "likely_deleted_after": self.likely_deleted_after.isoformat() if self.likely_deleted_after else None,
                "problems": list(self.problems)}


def resolve_address(session: Session, subject: Subject, ip: str, at: datetime | None, ipdata: IpDataStore,
                    now: datetime) -> Resolution:
    """Resolve `ip` as it was at `at` (aware; None: the latest snapshots) for a caller the policy lets resolve."""
    require(subject, Action.TRACE_RESOLVE, object_type="ip", object_id=ip)
    return _resolve(session, subject.username, ip, at, ipdata, now)


def resolve_for_arrival(session: Session, actor: str, ip: str, at: datetime | None, ipdata: IpDataStore,
                        now: datetime) -> Resolution:
    """Resolve an address that a peer's delivery named (a disclosure answer's next hop), as the node itself.

    No user acts here: the delivery was authorised by the peer policy, and a resolution reads only registry data
    and the directory, never case data. It is audited under `actor` like any other resolution."""
    return _resolve(session, actor, ip, at, ipdata, now)


def _resolve(session: Session, actor: str, ip: str, at: datetime | None, ipdata: IpDataStore,
             now: datetime) -> Resolution:
    if at is not None:
        require_aware(at, "at")
    finding = ipdata.find(ip, at)
    record = finding.record
    problems = list(finding.problems)
    if record is not None:
        problems += list(record.notes)
    state: State | None = None
    if record is not None and record.country is None:
        problems.append(f"the snapshots give no country for {record.prefix} (status {record.status}): no State "
                        "to ask")
    elif record is not None and record.country is not None:
        state = session.get(State, record.country)
        if state is None:
            problems.append(f"State {record.country} is not in the directory: no point of contact, no retention "
                            "period")
    contact = _point_of_contact(session, state, now, problems) if state is not None else None
    retention, deleted_after = _retention(state, at, now, problems) if state is not None else (None, None)
    if at is None:
        problems.append("no instant given: the latest snapshots were used and no deletion date can be estimated")
    identity = session.get(NodeIdentity, 1)
    if identity is None:
        problems.append("this node has no State of its own yet (`nohaven init`): domestic or foreign is unknown")
    domestic = bool(identity and record and record.country == identity.state_code)
    resolution = Resolution(
        ip=record.ip if record else ip.strip(), at=at, record=record,
        state=StateRef(state.code, state.name, state.time_zone) if state else None, domestic=domestic,
        point_of_contact=contact, traffic_retention=retention, likely_deleted_after=deleted_after, problems=problems)
    audit.record(session, actor=actor, action="trace.resolve", object_type="ip", object_id=resolution.ip,
                 detail={"at": at.isoformat() if at else None, "prefix": record.prefix if record else None,
                         "asn": record.asn if record else None, "country": record.country if record else None,
                         "rir_snapshot": record.rir_snapshot if record else None,
                         "asn_snapshot": record.asn_snapshot if record else None, "problems": len(problems)})
    return resolution


def _point_of_contact(session: Session, state: State, now: datetime, problems: list[str]) -> PointOfContact | None:
    agencies = [a for a in state.agencies if a.point_of_contact]
    if not agencies:
        problems.append(f"State {state.code} has no point-of-contact agency in the directory")
        return None
    agency: Agency = agencies[0]
    on_duty = [c for c in on_call(session, state.code, "officer", now) if c.agency_id == agency.id]
    staffed = [c for c in agency.contacts if c.office_hours.get("always")]
    candidates = on_duty or staffed or list(agency.contacts)
    contact: Contact | None = candidates[0] if candidates else None
    if contact is None:
        problems.append(f"{agency.name} ({state.code}) lists no contact in the directory")
    elif not on_duty and not staffed:
        problems.append(f"no contact of {agency.name} ({state.code}) is on call or staffed 24/7; "
                        f"{contact.name} keeps office hours")
    return PointOfContact(
        agency=agency.name, contact_key=contact.key if contact else None, name=contact.name if contact else None,
        phones=tuple(contact.phones) if contact else (), email=contact.email if contact else None,
        time_zone=(contact.office_hours.get("time_zone") if contact else None) or state.time_zone)


def _retention(state: State, at: datetime | None, now: datetime,
               problems: list[str]) -> tuple[str | None, datetime | None]:
    retention = (state.legal_profile.get("retention") or {}).get("traffic")
    if not retention:
        problems.append(f"State {state.code}'s legal profile gives no retention period for traffic data")
        return None, None
    try:
        period = parse_duration(retention, "retention.traffic")
    except InputError:
        problems.append(f"State {state.code}'s traffic retention {retention!r} is not an ISO 8601 duration")
        return None, None
    if at is None:
        return retention, None
    try:
        deleted_after = as_utc(at) + period
    except OverflowError:
        problems.append(f"{at.isoformat()} plus {retention} is past the year 9999: no deletion date")
        return retention, None
    if deleted_after <= as_utc(now):
        problems.append(f"by {state.code}'s retention of {retention} the traffic data was likely deleted already, "
                        f"after {deleted_after.isoformat()}")
    return retention, deleted_after
