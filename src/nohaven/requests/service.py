"""Cooperation requests: create, read, list, change status, acknowledge, confirm, link — each decided by the
policy, recorded on the request's timeline and in the audit log, and followed by a clock update."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject, Target, visible_requests
from nohaven.auth.service import require
from nohaven.directory import service as directory
from nohaven.directory.models import State
from nohaven.directory.schema import LegalProfile
from nohaven.errors import ConflictError, InputError, NotFoundError
from nohaven.requests import clocks as clocks_mod
from nohaven.requests import exchange
from nohaven.requests.cases import members_of
from nohaven.requests.lifecycle import CLOSED, RequestType, allowed_transitions, check_transition, initial_status
from nohaven.requests.models import Case, CaseMember, Clock, CooperationRequest, RequestDataItem, RequestEvent
from nohaven.requests.schema import RequestIn
from nohaven.timeutil import as_utc, utcnow
from nohaven.validation import parse_model

__all__ = [
    "acknowledge",
    "confirm_written",
    "create_request",
    "get_request",
    "link_follow_up",
    "list_requests",
    "transition",
]


def _target(session: Session, req: CooperationRequest) -> Target:
    members = members_of(session, req.case_id)
    return Target(case_members=members, request_type=req.type,
                  unassigned_incoming=req.direction == "incoming" and not members)


def _load(session: Session, request_id: int) -> CooperationRequest | None:
    return session.execute(
        select(CooperationRequest).where(CooperationRequest.id == request_id).options(
            selectinload(CooperationRequest.data_items), selectinload(CooperationRequest.clocks),
            selectinload(CooperationRequest.events))
    ).scalar_one_or_none()


def visible_request(session: Session, subject: Subject, request_id: int, action: Action) -> CooperationRequest:
    """The request if the subject may act on it; otherwise 'not found', so existence does not leak."""
    req = _load(session, request_id)
    if req is None:
        raise NotFoundError(f"request {request_id} not found")
    target = _target(session, req)
    require(subject, Action.REQUEST_READ, object_type="request", object_id=request_id, target=target, hide=True)
    if action is not Action.REQUEST_READ:
        require(subject, action, object_type="request", object_id=request_id, target=target)
    return req


def _event(req: CooperationRequest, actor: str, kind: str, now: datetime, *, note: str = "",
           from_status: str | None = None, to_status: str | None = None) -> None:
    req.events.append(RequestEvent(at=now, actor=actor, kind=kind, note=note, from_status=from_status,
                                   to_status=to_status))


def create_request(session: Session, subject: Subject, payload: RequestIn | dict[str, Any],
                   now: datetime | None = None) -> CooperationRequest:
    """Log or draft a request; nothing is stored unless every field is valid and the policy allows it."""
    now = now or utcnow()
    data = payload if isinstance(payload, RequestIn) else parse_model(RequestIn, payload, "request")
    problems = data.problems()
    if problems:
        raise InputError(f"request: {problems[0]['field']}: {problems[0]['message']}", errors=problems)
    node = directory.node_identity(session)
    requested_state = data.requested_state or (node.state_code if data.direction == "incoming" else None)
    if requested_state is None:
        raise InputError.field("requested_state", "an outgoing request names the State it is sent to")
    # Both States in one query; the references held here keep them in the identity map for the rest of the work.
    states = {s.code: s for s in session.execute(
        select(State).where(State.code.in_({data.requesting_state, requested_state}))).scalars()}
    unknown = [{"field": field, "message": f"State {code!r} is not in the directory"}
               for field, code in (("requesting_state", data.requesting_state), ("requested_state", requested_state))
               if code not in states]
    if unknown:
        raise InputError(f"request: {unknown[0]['field']}: {unknown[0]['message']}", errors=unknown)
    profile = LegalProfile.model_validate(states[requested_state].legal_profile)

    existing_case = None
    if data.case_reference:
        existing_case = session.execute(select(Case).where(Case.reference == data.case_reference)).scalar_one_or_none()
    original = _linked_original(session, subject, data)
    preservation = _linked_preservation(session, subject, data)
    if existing_case is None and not data.case_reference:  # an extension or MLA follow-up joins its case
        linked = original or preservation
        existing_case = linked.case if linked is not None else None
    members = members_of(session, existing_case.id) if existing_case else frozenset()
    require(subject, Action.REQUEST_CREATE, object_type="request", object_id="(new)",
            target=Target(case_members=members, request_type=data.type.value, new_case=existing_case is None))
    case = existing_case
    if case is None:
        require(subject, Action.CASE_CREATE, object_type="case", object_id=data.case_reference or "(new)")
        case = Case(reference=data.case_reference or f"tmp-{uuid.uuid4()}", title=data.case_title or data.offence,
                    created_at=now, created_by=subject.user_id,
                    members=[CaseMember(user_id=subject.user_id, added_at=now)])

    req = build_request(session, data, case=case, requested_state=requested_state, actor=subject.username,
                 user_id=subject.user_id, profile=profile, original=original, now=now)
    session.add(req)
    session.flush()
    if existing_case is None and not data.case_reference:
        case.reference = f"CASE-{now.year}-{case.id:05d}"
    req.reference = f"{node.state_code}-{now.year}-{req.id:06d}"

    if original is not None:
        _event(original, subject.username, "extension_requested", now, note=f"extended by {req.reference}")
        refresh_clocks(session, original, now)
    if preservation is not None:
        preservation.follow_up_mla_id = req.id
        _event(preservation, subject.username, "mla_follow_up_linked", now, note=f"MLA request {req.reference}")
        _event(req, subject.username, "follows_preservation", now, note=f"follows {preservation.reference}")
        refresh_clocks(session, preservation, now)
    if exchange.start_exchange(session, req, node.state_code, now, extends=original, follows=preservation):
        _event(req, subject.username, "queued_to_peer", now, note=f"queued for {req.peer_country}'s node")
    # Audited last: on PostgreSQL the audit head stays locked from the first entry until commit, and every
    # writer of the node waits for it, so the entries come when the rest of the work is done.
    if existing_case is None:
        audit.record(session, actor=subject.username, action="case.create", object_type="case",
                     object_id=case.reference)
    audit.record(session, actor=subject.username, action="request.create", object_type="request", object_id=req.id,
                 detail={"reference": req.reference, "type": req.type, "case": case.reference})
    return req


def build_request(session: Session, data: RequestIn, *, case: Case, requested_state: str, actor: str,
           user_id: int | None, profile: LegalProfile, original: CooperationRequest | None,
           now: datetime) -> CooperationRequest:
    """The request built in memory, clocks included, to be written in one flush; its collections start out
    loaded (empty), so nothing is read back. Only the reference needs the new id."""
    req = CooperationRequest(
        reference=f"tmp-{uuid.uuid4()}", case=case, type=data.type.value, direction=data.direction,
        channel=data.channel, priority=data.priority, status=initial_status(data.type),
        requesting_state=data.requesting_state, requested_state=requested_state,
        their_reference=data.their_reference, request_date=data.request_date or now,
        received_at=data.received_at or now, is_extension=data.is_extension,
        extends_id=original.id if original else None, template=data.template(), created_at=now,
        created_by=user_id, updated_at=now, events=[], clocks=[],
        data_items=[RequestDataItem(
            identifier_type=item.identifier_type, value=item.value, data_category=item.data_category,
            time_from=item.start(), time_to=item.end(), time_from_text=item.time_from or "",
            time_to_text=item.time_to or "") for item in data.data_items],
    )
    _event(req, actor, "created", now, to_status=req.status,
           note=f"{req.direction} {req.type} request by {req.channel}, {req.priority}")
    # A new request has no extension of its own yet; what it extends is loaded with its clocks already.
    links = clocks_mod.Links(original_expires_at=_preservation_expiry(original))
    clocks_mod.sync(session, req, clocks_mod.plan(req, profile, links), now, flush=False)
    return req


def _preservation_expiry(req: CooperationRequest | None) -> datetime | None:
    if req is None:
        return None
    return next((c.due_at for c in req.clocks if c.kind == clocks_mod.ClockKind.PRESERVATION_EXPIRES_AT), None)


def _linked_original(session: Session, subject: Subject, data: RequestIn) -> CooperationRequest | None:
    if data.extends_id is None:
        return None
    try:
        original = visible_request(session, subject, data.extends_id, Action.REQUEST_LINK)
    except NotFoundError:
        raise InputError.field("extends_id", f"request {data.extends_id} not found") from None
    if original.type != RequestType.PRESERVATION:
        raise InputError.field("extends_id", f"request {original.reference} is not a preservation request")
    if original.status != "Preserved":
        raise InputError.field("extends_id", f"request {original.reference} is {original.status}; only preserved "
                               "data can have its preservation extended")
    return original


def _linked_preservation(session: Session, subject: Subject, data: RequestIn) -> CooperationRequest | None:
    if data.follows_preservation_id is None:
        return None
    try:
        preservation = visible_request(session, subject, data.follows_preservation_id, Action.REQUEST_LINK)
    except NotFoundError:
        raise InputError.field("follows_preservation_id", f"request {data.follows_preservation_id} not found") from None
    if preservation.type != RequestType.PRESERVATION:
        raise InputError.field("follows_preservation_id", f"{preservation.reference} is not a preservation request")
    if preservation.follow_up_mla_id is not None:
        raise ConflictError(f"{preservation.reference} already has its MLA follow-up request")
    return preservation


def refresh_clocks(session: Session, req: CooperationRequest, now: datetime) -> None:
    """Recompute the request's clocks from the requested State's profile and its links."""
    profile = directory.legal_profile(session, req.requested_state)
    # Only whether extensions exist and whether one is preserved matters here, not the extensions themselves.
    extension_preserved_at = list(session.execute(
        select(CooperationRequest.preserved_at).where(CooperationRequest.extends_id == req.id)).scalars()
    ) if req.id else []
    original_expiry = None
    if req.extends_id is not None:
        original_expiry = session.execute(
            select(Clock.due_at).where(Clock.request_id == req.extends_id,
                                       Clock.kind == clocks_mod.ClockKind.PRESERVATION_EXPIRES_AT)
        ).scalar_one_or_none()
    links = clocks_mod.Links(has_extension=bool(extension_preserved_at),
                             extension_preserved=any(at is not None for at in extension_preserved_at),
                             original_expires_at=original_expiry)
    clocks_mod.sync(session, req, clocks_mod.plan(req, profile, links), now)


def get_request(session: Session, subject: Subject, request_id: int) -> CooperationRequest:
    """One request, if the subject may see it (audited)."""
    req = visible_request(session, subject, request_id, Action.REQUEST_READ)
    audit.record(session, actor=subject.username, action="request.read", object_type="request", object_id=req.id)
    return req


def list_requests(session: Session, subject: Subject, *, open_only: bool = False, status: str | None = None,
                  request_type: str | None = None, limit: int = 200) -> list[CooperationRequest]:
    """The requests the subject may see, the one whose data is lost first at the top (audited)."""
    next_due = (select(func.min(Clock.due_at)).where(Clock.request_id == CooperationRequest.id,
                                                      Clock.state.in_(("running", "warned", "escalated")))
                .correlate(CooperationRequest).scalar_subquery())
    query = select(CooperationRequest).where(visible_requests(subject)).options(
        selectinload(CooperationRequest.clocks), selectinload(CooperationRequest.data_items))
    if open_only:
        query = query.where(CooperationRequest.status.not_in(CLOSED))
    if status:
        query = query.where(CooperationRequest.status == status)
    if request_type:
        query = query.where(CooperationRequest.type == request_type)
    query = query.order_by(next_due.is_(None), next_due, CooperationRequest.id.desc()).limit(limit)
    rows = list(session.execute(query).scalars())
    audit.record(session, actor=subject.username, action="request.list", object_type="request",
                 detail={"count": len(rows), "ids": [r.id for r in rows][:200]})
    return rows


def transition(session: Session, subject: Subject, request_id: int, to: str, note: str = "",
               now: datetime | None = None) -> CooperationRequest:
    """Change status if the lifecycle allows it (else IllegalTransitionError listing what is allowed)."""
    now = now or utcnow()
    req = visible_request(session, subject, request_id, Action.REQUEST_TRANSITION)
    check_transition(req.type, req.status, to)
    if req.exchange_id and req.direction == "outgoing" and to != "Cancelled":
        raise ConflictError(f"{req.reference} is handled by {req.peer_country}'s node, which sets its status; "
                            "from here it can only be withdrawn (Cancelled)")
    before = req.status
    req.status = to
    req.updated_at = now
    if to == "Preserved":
        req.preserved_at = now
    _event(req, subject.username, "status", now, from_status=before, to_status=to, note=note)
    audit.record(session, actor=subject.username, action="request.transition", object_type="request",
                 object_id=req.id, detail={"from": before, "to": to, "note": note})
    exchange.tell_peer(session, req, now, status=to, note=note)
    refresh_clocks(session, req, now)
    if req.extends_id is not None and to == "Preserved":
        original = _load(session, req.extends_id)
        if original is not None:
            refresh_clocks(session, original, now)
    return req


def acknowledge(session: Session, subject: Subject, request_id: int, now: datetime | None = None) -> CooperationRequest:
    """Record that an officer has taken the request in hand; stops the acknowledge-by clock."""
    now = now or utcnow()
    req = visible_request(session, subject, request_id, Action.REQUEST_ACKNOWLEDGE)
    if req.exchange_id and req.direction == "outgoing":
        raise ConflictError(f"{req.reference} is acknowledged by {req.peer_country}'s node, not here")
    if req.acknowledged_at is not None:
        raise ConflictError(f"{req.reference} was acknowledged already at {req.acknowledged_at.isoformat()}")
    req.acknowledged_at = now
    req.acknowledged_by = subject.user_id
    req.updated_at = now
    _event(req, subject.username, "acknowledged", now)
    if not members_of(session, req.case_id):  # an officer of the desk takes an unassigned incoming request
        session.add(CaseMember(case_id=req.case_id, user_id=subject.user_id, added_at=now))
    audit.record(session, actor=subject.username, action="request.acknowledge", object_type="request",
                 object_id=req.id)
    exchange.tell_peer(session, req, now, acknowledged_at=now, note=f"acknowledged by {subject.username}")
    refresh_clocks(session, req, now)
    return req


def confirm_written(session: Session, subject: Subject, request_id: int, note: str = "",
                    now: datetime | None = None) -> CooperationRequest:
    """Record the written confirmation of a request made by voice, fax, e-mail or in person."""
    now = now or utcnow()
    req = visible_request(session, subject, request_id, Action.REQUEST_LINK)
    if req.channel not in clocks_mod.WRITTEN_CHANNELS:
        raise ConflictError(f"{req.reference} came through the platform; it needs no written confirmation")
    if req.written_confirmation_at is not None:
        raise ConflictError(f"{req.reference} was confirmed in writing already")
    req.written_confirmation_at = now
    req.updated_at = now
    _event(req, subject.username, "written_confirmation", now, note=note)
    audit.record(session, actor=subject.username, action="request.confirm_written", object_type="request",
                 object_id=req.id, detail={"note": note})
    refresh_clocks(session, req, now)
    return req


def link_follow_up(session: Session, subject: Subject, preservation_id: int, mla_id: int,
                   now: datetime | None = None) -> CooperationRequest:
    """Link a preservation request to the MLA request that follows it (stops the MLA follow-up clock)."""
    now = now or utcnow()
    preservation = visible_request(session, subject, preservation_id, Action.REQUEST_LINK)
    mla = visible_request(session, subject, mla_id, Action.REQUEST_LINK)
    if preservation.type != RequestType.PRESERVATION:
        raise InputError.field("id", f"{preservation.reference} is not a preservation request")
    if mla.type != RequestType.MLA:
        raise InputError.field("mla_id", f"{mla.reference} is not an MLA request")
    if preservation.follow_up_mla_id is not None:
        raise ConflictError(f"{preservation.reference} already has its MLA follow-up request")
    preservation.follow_up_mla_id = mla.id
    _event(preservation, subject.username, "mla_follow_up_linked", now, note=f"MLA request {mla.reference}")
    _event(mla, subject.username, "follows_preservation", now, note=f"follows {preservation.reference}")
    audit.record(session, actor=subject.username, action="request.link", object_type="request",
                 object_id=preservation.id, detail={"mla": mla.id})
    refresh_clocks(session, preservation, now)
    return preservation


def allowed_statuses(req: CooperationRequest) -> list[str]:
    """The statuses this node may move the request to: the lifecycle's, or for a request sent over the federation
    only Cancelled (the requested node sets its status)."""
    allowed = allowed_transitions(req.type, req.status)
    if req.exchange_id and req.direction == "outgoing":
        return [s for s in allowed if s == "Cancelled"]
    return allowed


def request_view(req: CooperationRequest, now: datetime | None = None, *, full: bool = True) -> dict[str, Any]:
    """The request as the API, CLI and web UI show it."""
    now = now or utcnow()
    clocks = {}
    for clock in req.clocks:
        clocks[clock.kind] = {
            "label": clocks_mod.LABELS.get(clocks_mod.ClockKind(clock.kind), clock.kind),
            "due_at": clock.due_at.isoformat(),
            "warn_at": clock.warn_at.isoformat(),
            "state": clock.state,
            "urgency": clocks_mod.urgency(clock, now),
            "seconds_left": int((clock.due_at - now).total_seconds()),
            "basis": clock.basis,
        }
    running = [c for c in req.clocks if c.state in ("running", "warned", "escalated")]
    nearest = min(running, key=lambda c: c.due_at) if running else None
    view: dict[str, Any] = {
        "id": req.id,
        "reference": req.reference,
        "type": req.type,
        "direction": req.direction,
        "channel": req.channel,
        "priority": req.priority,
        "status": req.status,
        "allowed_transitions": allowed_statuses(req),
        "requesting_state": req.requesting_state,
        "requested_state": req.requested_state,
        "their_reference": req.their_reference,
        "case_id": req.case_id,
        "request_date": req.request_date.isoformat(),
        "received_at": req.received_at.isoformat(),
        "acknowledged_at": req.acknowledged_at.isoformat() if req.acknowledged_at else None,
        "written_confirmation_at": req.written_confirmation_at.isoformat() if req.written_confirmation_at else None,
        "preserved_at": req.preserved_at.isoformat() if req.preserved_at else None,
        "is_extension": req.is_extension,
        "extends_id": req.extends_id,
        "follow_up_mla_id": req.follow_up_mla_id,
        "clocks": clocks,
        "next_clock": ({"kind": nearest.kind, "due_at": nearest.due_at.isoformat(),
                        "urgency": clocks_mod.urgency(nearest, now)} if nearest else None),
        "data_items": [{"identifier_type": d.identifier_type, "value": d.value, "data_category": d.data_category,
                        "time_from": d.time_from_text or None, "time_to": d.time_to_text or None,
                        "time_from_utc": as_utc(d.time_from).isoformat() if d.time_from else None,
                        "time_to_utc": as_utc(d.time_to).isoformat() if d.time_to else None} for d in req.data_items],
        "created_at": req.created_at.isoformat(),
        "updated_at": req.updated_at.isoformat(),
        "exchange": ({"object_id": req.exchange_id, "peer": f"{req.peer_country}/{req.peer_node_id or '?'}",
                      "side": "requester" if req.direction == "outgoing" else "requested"}
                     if req.exchange_id else None),
    }
    if full:
        view["template"] = req.template
        view["events"] = [{"at": e.at.isoformat(), "actor": e.actor, "kind": e.kind, "from_status": e.from_status,
                           "to_status": e.to_status, "note": e.note} for e in req.events]
    return view
