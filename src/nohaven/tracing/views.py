"""What the API, the CLI and the web pages show of a trace: its hops with their resolution, urgency, requests
(status and delivery state) and evidence; the graph (nodes and edges) and the timeline sorted by instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.evidence_node.models import EvidenceItem
from nohaven.requests import exchange
from nohaven.requests.models import CooperationRequest, RequestAttachment
from nohaven.requests.peer import attachment_view
from nohaven.requests.service import request_view
from nohaven.timeutil import utcnow
from nohaven.tracing.models import Trace, TraceHop
from nohaven.tracing.service import endpoint, urgency

__all__ = ["hop_view", "trace_summary", "trace_view"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _request_view(session: Session, req: CooperationRequest, kind: str, now: datetime) -> dict[str, Any]:
    messages = exchange.messages_of(session, req.id)
    delivery = messages[-1].state if messages else None
    attachments = list(session.execute(select(RequestAttachment).where(RequestAttachment.request_id == req.id)
                                       .order_by(RequestAttachment.id)).scalars())
    summary = request_view(req, now, full=False)
    return {"id": req.id, "reference": req.reference, "kind": kind, "type": req.type, "status": req.status,
            "requested_state": req.requested_state, "channel": req.channel, "their_reference": req.their_reference,
            "acknowledged_at": summary["acknowledged_at"], "next_clock": summary["next_clock"],
            "delivery": delivery, "delivery_error": messages[-1].last_error if messages else "",
            "attachments": [attachment_view(a) for a in attachments]}


def hop_view(session: Session, hop: TraceHop, now: datetime | None = None) -> dict[str, Any]:
    """One hop as every surface shows it."""
    now = now or utcnow()
    requests = [_request_view(session, r, link.kind, now) for link in hop.requests
                if (r := session.get(CooperationRequest, link.request_id)) is not None]
    evidence = [{"request": r["reference"], **a} for r in requests for a in r["attachments"]]
    source_attachment = session.get(RequestAttachment, hop.source_attachment_id) if hop.source_attachment_id else None
    source_request = session.get(CooperationRequest, hop.source_request_id) if hop.source_request_id else None
    source = hop.source.replace("_", " ")
    if source_request is not None:
        source = f"disclosure answer of request {source_request.reference}"
    return {
        "id": hop.id, "label": hop.label, "parent_id": hop.parent_id, "endpoint": endpoint(hop), "ip": hop.ip,
        "port": hop.port, "protocol": hop.protocol,
        "time": {"source_text": hop.time_text, "time_zone": hop.time_zone, "offset": hop.offset_text,
                 "instant": _iso(hop.instant), "candidates": list(hop.candidates), "ambiguous": hop.time_ambiguous,
                 "notes": list(hop.time_notes), "uncertainty": hop.uncertainty,
                 "window_start": hop.window_start.isoformat(), "window_end": hop.window_end.isoformat()},
        "seen_where": hop.seen_where, "note": hop.note, "source": source, "source_kind": hop.source,
        "source_request": source_request.reference if source_request else None,
        "source_attachment": attachment_view(source_attachment) if source_attachment else None,
        "resolution": hop.resolution, "resolved_at": _iso(hop.resolved_at),
        "responsible_state": hop.responsible_state, "domestic": hop.domestic,
        "likely_deleted_after": _iso(hop.likely_deleted_after), "urgency": urgency(hop, now),
        "status": hop.status, "subscriber": hop.subscriber, "answer": hop.answer, "outcome": hop.outcome,
        "requests": requests, "evidence": evidence,
        "created_by": hop.created_by, "created_at": hop.created_at.isoformat(),
    }


def trace_summary(trace: Trace, now: datetime | None = None) -> dict[str, Any]:
    """A trace in a listing: reference, status, hop counts and the most urgent hop."""
    now = now or utcnow()
    order = ["overdue", "critical", "soon", "ok", "unknown", "settled"]
    urgencies = [urgency(h, now) for h in trace.hops]
    return {"id": trace.id, "reference": trace.reference, "title": trace.title, "status": trace.status,
            "case": trace.case.reference, "hop_count": len(trace.hops),
            "urgency": min(urgencies, key=order.index) if urgencies else "unknown",
            "created_at": trace.created_at.isoformat(), "updated_at": trace.updated_at.isoformat()}


def trace_view(session: Session, trace: Trace, now: datetime | None = None) -> dict[str, Any]:
    """The whole trace: hops, graph, timeline (by instant), events, and the case's evidence items."""
    now = now or utcnow()
    hops = [hop_view(session, h, now) for h in trace.hops]
    nodes = [{"id": h["id"], "label": h["label"], "endpoint": h["endpoint"], "state": h["responsible_state"],
              "status": h["status"], "urgency": h["urgency"], "domestic": h["domestic"],
              "holder": ((h["resolution"] or {}).get("record") or {}).get("holder")} for h in hops]
    edges = [{"from": h["parent_id"], "to": h["id"], "via": h["source"]} for h in hops if h["parent_id"]]
    timeline: list[dict[str, Any]] = [
        {"at": h["time"]["instant"] or h["time"]["window_start"], "kind": "observed", "hop": h["label"],
         "exact": h["time"]["instant"] is not None, "window": [h["time"]["window_start"], h["time"]["window_end"]],
         "note": f"{h['endpoint']} at {h['time']['source_text']}"
                 + (" (time ambiguous)" if h["time"]["ambiguous"] else "")} for h in hops]
    labels = {h.id: h.label for h in trace.hops}
    timeline += [{"at": e.at.isoformat(), "kind": e.kind, "hop": labels.get(e.hop_id) if e.hop_id else None,
                  "exact": True, "window": None, "note": e.note, "actor": e.actor} for e in trace.events]
    timeline.sort(key=lambda t: datetime.fromisoformat(t["at"]))
    evidence = [{"id": e.id, "exhibit": e.exhibit, "name": e.name, "sha256": e.sha256, "size": e.size,
                 "acquired_at": e.acquired_at.isoformat()} for e in session.execute(
        select(EvidenceItem).where(EvidenceItem.case_id == trace.case_id).order_by(EvidenceItem.id)).scalars()]
    return {**trace_summary(trace, now), "offence": trace.offence, "summary": trace.summary,
            "hops": hops, "graph": {"nodes": nodes, "edges": edges}, "timeline": timeline,
            "case_evidence": evidence}
