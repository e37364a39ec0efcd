"""The requests a hop calls for, drafted from the hop and its trace: a preservation request and an Art. 30
expedited disclosure of traffic data to the responsible State's point of contact — or a domestic order when the
carrier is in this node's own State — and filing them through the request service, linked to the hop.

Every draft shows the hop's time three ways side by side: as written in the source, in UTC, and in the requested
State's local time (its directory time zone). The same lines go into the request itself (its data item's times
are written in the requested State's local time with their offset; the link to the offence repeats all three),
so the receiving officer sees them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.models import User
from nohaven.auth.policy import Action, Subject
from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.directory.models import Agency, State
from nohaven.errors import ConflictError, InputError
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest
from nohaven.requests.schema import RequestIn
from nohaven.timeutil import utcnow, zone
from nohaven.tracing.models import Trace, TraceHop, TraceHopRequest
from nohaven.tracing.schema import FileRequestsIn
from nohaven.tracing.service import endpoint, event, find_hop, resolve_into, trace_for
from nohaven.validation import parse_model

__all__ = ["draft_requests", "federated_states", "file_requests", "time_side_by_side"]


def federated_states(session: Session, settings: Settings) -> frozenset[str]:
    """States with a node in the current signed network directory (none when federation is off)."""
    if settings.federation_node_id is None or not settings.authority_key_paths:
        return frozenset()
    from nohaven.federation.keys import load_public_key
    from nohaven.federation.network_directory import current_directory

    try:
        keys = [load_public_key(p, "NOHAVEN_FEDERATION_AUTHORITY_KEYS") for p in settings.authority_key_paths]
        signed = current_directory(session, keys)
    except Exception:  # a directory that no longer verifies sends nothing by the platform
        return frozenset()
    return frozenset(n.state for n in signed.directory.nodes) if signed else frozenset()


def _local(instant: datetime, tz_name: str | None) -> str:
    return instant.astimezone(zone(tz_name)).isoformat() if tz_name else instant.isoformat()


def time_side_by_side(hop: TraceHop, requested_zone: str | None) -> dict[str, Any]:
    """The hop's time as written, in UTC and in the requested State's zone: every candidate and the window."""
    candidates = [datetime.fromisoformat(c) for c in hop.candidates]
    zone_name = requested_zone or "UTC"
    return {
        "source_text": hop.time_text, "offset": hop.offset_text, "time_zone_given": hop.time_zone,
        "uncertainty": hop.uncertainty, "ambiguous": hop.time_ambiguous, "notes": list(hop.time_notes),
        "utc": [c.isoformat() for c in candidates],
        "window_utc": [hop.window_start.isoformat(), hop.window_end.isoformat()],
        "requested_time_zone": zone_name,
        "requested_local": [_local(c, zone_name) for c in candidates],
        "window_requested_local": [_local(hop.window_start, zone_name), _local(hop.window_end, zone_name)],
    }


def _time_lines(times: dict[str, Any]) -> str:
    utc = " or ".join(times["utc"]) or "offset unknown"
    local = " or ".join(times["requested_local"]) or "offset unknown"
    text = (f"Time as written in the source: {times['source_text']} (offset {times['offset']}, ± "
            f"{times['uncertainty']}). UTC: {utc}. Local time in {times['requested_time_zone']}: {local}. "
            f"Window searched: {times['window_utc'][0]} to {times['window_utc'][1]} UTC "
            f"({times['window_requested_local'][0]} to {times['window_requested_local'][1]} local).")
    if times["ambiguous"]:
        text += " AMBIGUOUS: " + " ".join(times["notes"]) + " Please search the whole window."
    return text


def _requesting_authority(session: Session, subject: Subject, own: State) -> tuple[dict[str, Any], str]:
    agency = session.execute(select(Agency).where(Agency.state_code == own.code, Agency.point_of_contact.is_(True))
                             .order_by(Agency.id)).scalars().first()
    if agency is None or not agency.contacts:
        raise ConflictError(f"the directory lists no point-of-contact agency with a contact for this node's State "
                            f"{own.code}; the requesting authority of a draft comes from there")
    desk = next((c for c in agency.contacts if c.phones), None)
    if desk is None:
        raise ConflictError(f"no contact of {agency.name} has a phone number in the directory; a request names "
                            "the requesting authority's phones")
    user = session.get(User, subject.user_id)
    officer = (user.display_name if user else "") or subject.username
    tz_name = own.time_zone or desk.office_hours.get("time_zone") or "UTC"
    authority = {"organisation": agency.name, "officer": officer, "address": agency.address,
                 "phones": list(desk.phones), "email": desk.email, "time_zone": tz_name,
                 "office_hours": "24/7" if desk.office_hours.get("always") else "", "preferred_channel": "email"}
    return authority, agency.name


def _channel(state: State, federated: frozenset[str]) -> str:
    if state.code in federated:
        return "platform"
    channels = list(state.legal_profile.get("channels") or [])
    return "email" if "email" in channels or not channels else next((c for c in channels if c != "platform"),
                                                                    "email")


def draft_requests(session: Session, subject: Subject, trace_key: int | str, hop_key: int | str, *,
                   settings: Settings, now: datetime | None = None, audited: bool = True) -> dict[str, Any]:
    """The hop's drafts as `RequestIn` payloads, with the time side by side; resolves the hop first if needed."""
    now = now or utcnow()
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    hop = find_hop(trace, hop_key)
    if hop.resolution is None:
        resolve_into(session, subject, hop, settings=settings, now=now)
    drafts = _drafts(session, subject, trace, hop, settings)
    if audited:
        audit.record(session, actor=subject.username, action="trace.draft", object_type="trace",
                     object_id=trace.reference, detail={"hop": hop.label, "kinds": [d["kind"] for d in drafts]})
    state_code = hop.responsible_state
    requested = session.get(State, state_code) if state_code else None
    return {"trace": trace.reference, "hop": hop.label, "hop_id": hop.id, "endpoint": endpoint(hop),
            "domestic": hop.domestic, "requested_state": state_code,
            "time": time_side_by_side(hop, requested.time_zone if requested else None), "drafts": drafts,
            "problems": list((hop.resolution or {}).get("problems") or [])}


def _drafts(session: Session, subject: Subject, trace: Trace, hop: TraceHop,
            settings: Settings) -> list[dict[str, Any]]:
    resolution = hop.resolution or {}
    if not hop.responsible_state:
        raise ConflictError(f"{hop.label} {endpoint(hop)} is not resolved to a State, so there is no one to ask: "
                            + ("; ".join(resolution.get("problems") or []) or "no IP data covers it"))
    node = directory.node_identity(session)
    own = directory.get_state(session, node.state_code)
    requested = directory.get_state(session, hop.responsible_state)
    times = time_side_by_side(hop, requested.time_zone)
    authority, own_agency = _requesting_authority(session, subject, own)
    record = resolution.get("record") or {}
    carrier = record.get("holder") or "the network holding the address"
    network = f"{carrier} (prefix {record.get('prefix') or '?'}, AS{record.get('asn') or '?'})"
    poc = resolution.get("point_of_contact") or {}
    requested_authority = (f"{poc.get('agency')} — {poc.get('name')}" if poc
                           else f"24/7 point of contact of {requested.name}")[:300]
    tz_local = zone(requested.time_zone or "UTC")
    item = {"identifier_type": "ip_port" if hop.port is not None else "ip_address", "value": endpoint(hop),
            "data_category": "traffic", "time_from": hop.window_start.astimezone(tz_local).isoformat(),
            "time_to": hop.window_end.astimezone(tz_local).isoformat()}
    seen = f", seen {hop.seen_where}" if hop.seen_where else ""
    proto = f" ({hop.protocol})" if hop.protocol else ""
    facts = (trace.summary or trace.title) + (f"\n\nHop {hop.label} of trace {trace.reference}: the communication "
                                             f"passed through {endpoint(hop)}{proto}{seen}. " + _time_lines(times))
    retention = resolution.get("traffic_retention")
    deleted = hop.likely_deleted_after.isoformat() if hop.likely_deleted_after else "unknown"
    common: dict[str, Any] = {
        "direction": "outgoing", "priority": "urgent", "case_reference": trace.case.reference,
        "requesting_state": own.code, "requested_state": requested.code,
        "requesting_authority": authority, "investigating_authority": own_agency,
        "offence": (trace.offence or trace.title)[:500], "summary_of_facts": facts[:10000],
        "data_items": [item],
        "link_to_offence": (f"The communication under investigation passed through {endpoint(hop)}{proto} "
                            f"(hop {hop.label} of trace {trace.reference}){seen}. " + _time_lines(times))[:5000],
        "custodian": network[:1000],
    }
    if hop.domestic:
        order = {**common, "type": "traffic_disclosure", "channel": "email", "requested_authority": carrier[:300],
                 "link_to_offence": common["link_to_offence"] + " Domestic order: preserve and disclose the traffic "
                 "data of this connection (source address, port and time) to identify the next hop."}
        return [_checked("domestic_order", order)]
    channel = _channel(requested, federated_states(session, settings))
    preservation = {**common, "type": "preservation", "channel": channel,
                    "requested_authority": requested_authority, "mla_to_follow": True,
                    "preservation_reason": (f"Traffic data in {requested.name} is kept for "
                                            f"{retention or 'an unknown period'}; it is likely deleted after "
                                            f"{deleted} (UTC).")[:5000]}
    disclosure = {**common, "type": "traffic_disclosure", "channel": channel,
                  "requested_authority": requested_authority,
                  "link_to_offence": common["link_to_offence"] + " Expedited partial disclosure (Budapest Art. 30): "
                  "please disclose enough traffic data of this connection (the source address and port, the time, "
                  "the next service provider) to identify the path of the communication."}
    return [_checked("preservation", preservation), _checked("traffic_disclosure", disclosure)]


def _checked(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    data = parse_model(RequestIn, payload, f"{kind} draft")
    problems = data.problems()
    return {"kind": kind, "request": data.model_dump(mode="json", exclude_none=True), "problems": problems}


def file_requests(session: Session, subject: Subject, trace_key: int | str, hop_key: int | str,
                  choice: FileRequestsIn | dict[str, Any] | None = None, *, settings: Settings,
                  now: datetime | None = None) -> list[CooperationRequest]:
    """Create the chosen drafts through the request service (outgoing; by the platform when the State has a
    node, so the federation sends them) and link them to the hop."""
    now = now or utcnow()
    wanted = choice if isinstance(choice, FileRequestsIn) else parse_model(FileRequestsIn, choice or {}, "file")
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    hop = find_hop(trace, hop_key)
    if hop.resolution is None:
        resolve_into(session, subject, hop, settings=settings, now=now)
    drafts = _drafts(session, subject, trace, hop, settings)
    kinds = [d["kind"] for d in drafts]
    chosen = wanted.types or kinds
    unknown = [k for k in chosen if k not in kinds]
    if unknown:
        raise InputError.field("types", f"{', '.join(unknown)}: not drafted for {hop.label} (drafted: "
                               f"{', '.join(kinds)})")
    filed_kinds = {link.kind for link in hop.requests if _open(session, link.request_id)}
    again = [k for k in chosen if k in filed_kinds]
    if again:
        raise ConflictError(f"{hop.label} has an open {', '.join(again)} request already")
    created = []
    for draft in drafts:
        if draft["kind"] not in chosen:
            continue
        payload = {**draft["request"], **wanted.overrides}
        req = requests.create_request(session, subject, payload, now)
        hop.requests.append(TraceHopRequest(request_id=req.id, kind=draft["kind"], created_at=now))
        created.append(req)
        event(trace, subject.username, "request_filed", now, f"{draft['kind'].replace('_', ' ')} request "
              f"{req.reference} to {req.requested_state} by {req.channel} for {hop.label}", hop)
    if hop.status in ("new", "resolved"):
        hop.status = "requested"
    hop.updated_at = trace.updated_at = now
    audit.record(session, actor=subject.username, action="trace.requests.file", object_type="trace",
                 object_id=trace.reference, detail={"hop": hop.label, "requests": [r.reference for r in created]})
    return created


def _open(session: Session, request_id: int) -> bool:
    req = session.get(CooperationRequest, request_id)
    return req is not None and req.status not in ("Cancelled", "Rejected", "Invalid", "Error")
