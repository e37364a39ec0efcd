"""Traces in the node: create one (in a case), add hops from observations, resolve them, read and list — each
decided by the policy (`trace.*` actions through case membership) and audited.

Drafting and filing a hop's requests is in `drafting`, answers that become new hops in `answers`, what pages and
the API show in `views`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject, Target, decide
from nohaven.auth.roles import Role
from nohaven.auth.service import require
from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.errors import ConflictError, InputError, NotFoundError
from nohaven.requests.cases import members_of
from nohaven.requests.models import Case, CaseMember, CooperationRequest
from nohaven.timeutil import utcnow
from nohaven.tracing.models import Trace, TraceEvent, TraceHop, TraceHopRequest
from nohaven.tracing.schema import HopIn, ObservationIn, TraceIn
from nohaven.tracing.timestamps import read_time
from nohaven.validation import parse_model

__all__ = ["add_hop", "close_trace", "create_trace", "find_hop", "get_trace", "list_traces", "refresh_status",
           "request_links", "resolve_hop", "trace_for", "urgency"]

CRITICAL = timedelta(days=7)
SOON = timedelta(days=30)


def _load(session: Session, key: int | str, *, lock: bool = False) -> Trace | None:
    query = select(Trace).options(selectinload(Trace.hops).selectinload(TraceHop.requests),
                                  selectinload(Trace.events))
    text = str(key).strip()
    query = query.where(Trace.id == int(text)) if text.isdigit() else query.where(Trace.reference == text)
    if lock:  # writers of one trace queue here (hop labels are numbered in order); SQLite serialises anyway
        query = query.with_for_update(of=Trace)
    return session.execute(query).scalar_one_or_none()


def trace_for(session: Session, subject: Subject, key: int | str, action: Action = Action.TRACE_READ) -> Trace:
    """The trace (by id or reference) if the subject may act on it; 'not found' when it may not even read it."""
    trace = _load(session, key, lock=action is not Action.TRACE_READ)
    if trace is None:
        raise NotFoundError(f"trace {key} not found")
    target = Target(case_members=members_of(session, trace.case_id))
    require(subject, Action.TRACE_READ, object_type="trace", object_id=trace.reference, target=target, hide=True)
    if action is not Action.TRACE_READ:
        require(subject, action, object_type="trace", object_id=trace.reference, target=target)
    return trace


def find_hop(trace: Trace, key: int | str) -> TraceHop:
    """A hop of the trace by id or label (H2)."""
    text = str(key).strip()
    for hop in trace.hops:
        if (text.isdigit() and hop.id == int(text)) or hop.label.lower() == text.lower():
            return hop
    raise NotFoundError(f"trace {trace.reference} has no hop {key}")


def event(trace: Trace, actor: str, kind: str, now: datetime, note: str = "", hop: TraceHop | None = None) -> None:
    """Note something on the trace's timeline."""
    trace.events.append(TraceEvent(at=now, actor=actor, kind=kind, note=note, hop_id=hop.id if hop else None))


def urgency(hop: TraceHop, now: datetime) -> str:
    """How soon the hop's traffic data is likely deleted: overdue, critical (7 days), soon (30 days), ok, unknown."""
    if hop.status in ("answered", "origin", "dead_end"):
        return "settled"
    if hop.likely_deleted_after is None:
        return "unknown"
    left = hop.likely_deleted_after - now
    if left <= timedelta(0):
        return "overdue"
    return "critical" if left <= CRITICAL else "soon" if left <= SOON else "ok"


def create_trace(session: Session, subject: Subject, payload: TraceIn | dict[str, Any], *, settings: Settings,
                 now: datetime | None = None) -> Trace:
    """Open a trace in a case (a new case with the creator as member when none is named) with its first hops."""
    now = now or utcnow()
    data = payload if isinstance(payload, TraceIn) else parse_model(TraceIn, payload, "trace")
    case = None
    if data.case_reference:
        case = session.execute(select(Case).where(Case.reference == data.case_reference)).scalar_one_or_none()
        if case is None:
            raise InputError.field("case_reference", f"case {data.case_reference!r} not found")
    members = members_of(session, case.id) if case else frozenset()
    require(subject, Action.TRACE_CREATE, object_type="case" if case else "trace",
            object_id=data.case_reference if case else "(new)",
            target=Target(case_members=members, new_case=case is None), hide=case is not None)
    if case is None:
        require(subject, Action.CASE_CREATE, object_type="case", object_id="(new)")
        case = Case(reference=f"tmp-{uuid.uuid4()}", title=data.title, created_at=now, created_by=subject.user_id,
                    members=[CaseMember(user_id=subject.user_id, added_at=now)])
    node = directory.node_identity(session)
    trace = Trace(reference=f"tmp-{uuid.uuid4()}", case=case, title=data.title, offence=data.offence,
                  summary=data.summary, status="open", created_by=subject.user_id, created_at=now, updated_at=now,
                  hops=[], events=[])
    session.add(trace)
    session.flush()
    new_case = case.reference.startswith("tmp-")
    if new_case:
        case.reference = f"CASE-{now.year}-{case.id:05d}"
    trace.reference = f"{node.state_code}-TR-{now.year}-{trace.id:05d}"
    event(trace, subject.username, "created", now, f"trace opened in case {case.reference}")
    hops: list[TraceHop] = []
    # An e-mail's Received chain comes oldest first; the trace starts at the victim's end and goes back towards
    # the sender, each older hop under the one that received from it.
    ordered = list(enumerate(data.observations))
    if data.source == "email":
        ordered.reverse()
    for i, obs in ordered:
        parent = hops[-1].id if hops and data.source == "email" else None
        hops.append(_new_hop(session, subject, trace, HopIn(**obs.model_dump(), parent=parent, source=data.source),
                             now=now, settings=settings, index=i))
    if new_case:
        audit.record(session, actor=subject.username, action="case.create", object_type="case",
                     object_id=case.reference)
    audit.record(session, actor=subject.username, action="trace.create", object_type="trace",
                 object_id=trace.reference, detail={"case": case.reference, "hops": [h.label for h in hops]})
    return trace


def add_hop(session: Session, subject: Subject, trace_key: int | str, payload: HopIn | dict[str, Any], *,
            settings: Settings, now: datetime | None = None) -> TraceHop:
    """Add a hop from an observation (its time read safely), resolve it, and note it on the timeline."""
    now = now or utcnow()
    data = payload if isinstance(payload, HopIn) else parse_model(HopIn, payload, "hop")
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    if trace.status == "closed":
        raise ConflictError(f"{trace.reference} is closed; reopen it to add a hop")
    hop = _new_hop(session, subject, trace, data, now=now, settings=settings)
    audit.record(session, actor=subject.username, action="trace.hop.add", object_type="trace",
                 object_id=trace.reference, detail={"hop": hop.label, "ip": hop.ip, "port": hop.port})
    return hop


def _new_hop(session: Session, subject: Subject, trace: Trace, data: HopIn, *, now: datetime,
             settings: Settings, index: int | None = None) -> TraceHop:
    parent = find_hop(trace, data.parent) if data.parent is not None else None
    hop = place_hop(session, trace, data, actor=subject.username, now=now, parent=parent, source=data.source,
                    field_prefix="" if index is None else f"observations[{index}].")
    resolve_into(session, subject, hop, settings=settings, now=now)
    return hop


def place_hop(session: Session, trace: Trace, data: ObservationIn, *, actor: str, now: datetime,
              parent: TraceHop | None, source: str, source_request: CooperationRequest | None = None,
              source_attachment_id: int | None = None, field_prefix: str = "") -> TraceHop:
    """Write a hop (unresolved) after reading its time; a time that names no instant is refused here."""
    try:
        observed = read_time(data.time_text, time_zone=data.time_zone, offset_unknown=data.offset_unknown,
                             uncertainty=data.uncertainty)
    except InputError as exc:
        first = exc.errors[0] if exc.errors else {"field": "time_text", "message": exc.message}
        raise InputError.field(field_prefix + first["field"], first["message"]) from None
    label = f"H{len(trace.hops) + 1}"
    hop = TraceHop(
        trace=trace, parent_id=parent.id if parent else None, label=label, ip=data.ip, port=data.port,
        protocol=data.protocol, time_text=observed.source_text, time_zone=observed.time_zone,
        offset_text=observed.offset, instant=observed.instant,
        candidates=[c.isoformat() for c in observed.candidates], time_ambiguous=observed.ambiguous,
        time_notes=list(observed.notes), uncertainty=observed.uncertainty, window_start=observed.window_start,
        window_end=observed.window_end, seen_where=data.seen_where, note=data.note,
        source="disclosure_answer" if source_request is not None else source,
        source_request_id=source_request.id if source_request else None, source_attachment_id=source_attachment_id,
        status="new", created_by=actor, created_at=now, updated_at=now, requests=[])
    session.add(hop)
    session.flush()
    origin = f" (from the answer to {source_request.reference})" if source_request else ""
    event(trace, actor, "hop_added", now, f"{label} {endpoint(hop)} at {hop.time_text}{origin}"
          + (f", after {parent.label}" if parent else ""), hop)
    trace.updated_at = now
    return hop


def endpoint(hop: TraceHop) -> str:
    """IP:port as people write it ([v6]:port)."""
    if hop.port is None:
        return hop.ip
    return f"[{hop.ip}]:{hop.port}" if ":" in hop.ip else f"{hop.ip}:{hop.port}"


def resolve_into(session: Session, subject: Subject | None, hop: TraceHop, *, settings: Settings, now: datetime,
                 actor: str | None = None) -> None:
    """Resolve the hop's address at the start of its window (the earliest it may be, so a deadline is never
    late) and keep the resolution as it is now, with its snapshot dates. Without a subject the node itself
    resolves, as `actor` (a hop that a peer's delivered answer named)."""
    from nohaven.tracing.ipdata import IpDataStore
    from nohaven.tracing.resolve import resolve_address, resolve_for_arrival

    store = IpDataStore.shared(settings.ipdata_dir)
    if subject is not None:
        resolution = resolve_address(session, subject, hop.ip, hop.window_start, store, now)
        actor = subject.username
    else:
        actor = actor or "system"
        resolution = resolve_for_arrival(session, actor, hop.ip, hop.window_start, store, now)
    view: dict[str, Any] = resolution.to_dict()
    hop.resolution = view
    hop.resolved_at = now
    state = view.get("state") or {}
    hop.responsible_state = state.get("code")
    hop.domestic = bool(view.get("domestic"))
    hop.likely_deleted_after = resolution.likely_deleted_after
    if hop.status == "new" and hop.responsible_state:
        hop.status = "resolved"
    hop.updated_at = now
    where = (f"{state.get('code')} ({state.get('name')})" if state else "no State")
    problems = "; ".join(view.get("problems") or [])
    event(hop.trace, actor, "resolved", now, f"{hop.label} {endpoint(hop)} → {where}"
          + (f"; {problems}" if problems else ""), hop)


def resolve_hop(session: Session, subject: Subject, trace_key: int | str, hop_key: int | str, *,
                settings: Settings, now: datetime | None = None) -> TraceHop:
    """Resolve (again) a hop's address with the node's current IP data."""
    now = now or utcnow()
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    hop = find_hop(trace, hop_key)
    resolve_into(session, subject, hop, settings=settings, now=now)
    audit.record(session, actor=subject.username, action="trace.hop.resolve", object_type="trace",
                 object_id=trace.reference, detail={"hop": hop.label, "state": hop.responsible_state})
    return hop


def refresh_status(trace: Trace) -> None:
    """The trace's status from its hops: an origin found, every branch broken, or open."""
    if any(h.status == "origin" for h in trace.hops):
        trace.status = "origin_found"
        return
    parents = {h.parent_id for h in trace.hops}
    leaves = [h for h in trace.hops if h.id not in parents]
    if leaves and all(h.status == "dead_end" for h in leaves):
        trace.status = "chain_broken"
    elif trace.status in ("origin_found", "chain_broken"):
        trace.status = "open"


def close_trace(session: Session, subject: Subject, trace_key: int | str, note: str = "", *,
                reopen: bool = False, now: datetime | None = None) -> Trace:
    """Close a trace (no more hops or answers are expected), or reopen a closed one; noted and audited."""
    now = now or utcnow()
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    if reopen != (trace.status == "closed"):
        raise ConflictError(f"{trace.reference} is {trace.status}" + ("; only a closed trace is reopened" if reopen
                                                                       else " already"))
    before = trace.status
    trace.status = "open" if reopen else "closed"
    if reopen:
        refresh_status(trace)
    trace.updated_at = now
    event(trace, subject.username, "reopened" if reopen else "closed", now, note)
    audit.record(session, actor=subject.username, action="trace.reopen" if reopen else "trace.close",
                 object_type="trace", object_id=trace.reference, detail={"from": before, "note": note[:500]})
    return trace


def get_trace(session: Session, subject: Subject, trace_key: int | str) -> Trace:
    """One trace, if the subject may see it (audited). Reading writes nothing else: a hop still unresolved (one
    whose resolution on arrival failed) is resolved when drafted from, filed from, or resolved by hand."""
    trace = trace_for(session, subject, trace_key)
    audit.record(session, actor=subject.username, action="trace.read", object_type="trace",
                 object_id=trace.reference)
    return trace


def list_traces(session: Session, subject: Subject, *, limit: int = 200) -> list[Trace]:
    """The traces the subject may see, newest first (audited)."""
    query = select(Trace).options(selectinload(Trace.hops)).order_by(Trace.id.desc()).limit(limit)
    if subject.role is not Role.SUPERVISOR:
        query = query.where(Trace.case_id.in_(select(CaseMember.case_id).where(CaseMember.user_id == subject.user_id)))
    rows = [t for t in session.execute(query).scalars()
            if _may_read(subject, members_of(session, t.case_id))]
    audit.record(session, actor=subject.username, action="trace.list", object_type="trace",
                 detail={"count": len(rows), "references": [t.reference for t in rows][:200]})
    return rows


def request_links(session: Session, subject: Subject, request_id: int) -> list[dict[str, str]]:
    """The trace hops a request was drafted from (kind, hop label, trace reference), for the request's own page:
    only those of traces the subject may read, so a trace it may not open is not named (not audited: the page
    is the request's, and opening the trace audits `trace.read`)."""
    query = (select(TraceHopRequest.kind, TraceHop.label, Trace.reference, Trace.case_id)
             .join(TraceHop, TraceHop.id == TraceHopRequest.hop_id).join(Trace, Trace.id == TraceHop.trace_id)
             .where(TraceHopRequest.request_id == request_id).order_by(TraceHopRequest.id))
    readable: dict[int, bool] = {}  # by case: each case's members looked up once
    links = []
    for kind, label, reference, case_id in session.execute(query):
        if case_id not in readable:
            readable[case_id] = _may_read(subject, members_of(session, case_id))
        if readable[case_id]:
            links.append({"kind": kind.replace("_", " "), "label": label, "reference": reference})
    return links


def _may_read(subject: Subject, members: frozenset[int]) -> bool:
    return decide(subject, Action.TRACE_READ, Target(case_members=members)).allowed
