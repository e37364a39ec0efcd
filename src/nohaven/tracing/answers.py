"""Answers to a hop's requests becoming the trace's next step: next endpoints become child hops (fan-out), a
subscriber makes the hop the origin, deleted or missing data makes it a dead end.

Answers come by hand (`record_answer`, optionally with the answer document, which is attached to the request) or
by the federation: a delivery hook looks at every file another State's node delivers on a request linked to a
hop, and records it when it is one of two documents:

- `nohaven-disclosure/1` (written by `nohaven trace answer-document`)::

    {"format": "nohaven-disclosure/1", "request": "XA-2026-000012",
     "next_hops": [{"ip": "203.0.113.77", "port": 4431, "protocol": "tcp", "time": "2026-11-27T02:14:07Z",
                    "uncertainty": "PT1S", "note": "VPN session source"}],
     "subscriber": null, "dead_end": null, "note": "..."}

- the carrier toolkit's lookup answer (`nohaven carrier lookup --json`): one candidate with one subscriber makes
  the hop the origin; several are kept as ambiguous, every one shown, none picked; no candidate is a dead end.

Anything else is noted on the trace's timeline and otherwise left alone: a delivery is never refused for it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject
from nohaven.blobs import BlobStore
from nohaven.config import Settings
from nohaven.errors import ConflictError, InputError, NohavenError
from nohaven.requests import peer
from nohaven.requests.models import CooperationRequest, RequestAttachment
from nohaven.requests.peer import Arrival, on_delivery
from nohaven.timeutil import utcnow
from nohaven.tracing.models import Trace, TraceHop, TraceHopRequest
from nohaven.tracing.schema import AnswerIn, NextHopIn, ObservationIn
from nohaven.tracing.service import endpoint, event, find_hop, place_hop, refresh_status, resolve_into, trace_for
from nohaven.validation import errors_of, parse_model

__all__ = ["DISCLOSURE_FORMAT", "DisclosureDocument", "apply_answer", "read_answer_document", "record_answer",
           "record_answer_document"]

DISCLOSURE_FORMAT = "nohaven-disclosure/1"
MAX_DOCUMENT = 8 * 1024 * 1024  # an answer document is small; a bigger delivery is evidence, not an answer


ARRIVAL_ACTOR = "system:arrival"  # this node, resolving the next hops a delivered answer names

class DisclosureDocument(BaseModel):
    """A disclosure answer as the answering officer writes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    format: str = Field(pattern=r"^nohaven-disclosure/1$")
    request: str = Field(default="", max_length=128, description="the reference of the request answered")
    next_hops: list[NextHopIn] = Field(default_factory=list, max_length=500)
    subscriber: dict[str, Any] | None = None
    dead_end: str | None = Field(default=None, max_length=2000)
    note: str = Field(default="", max_length=5000)


def _names(candidate: dict[str, Any]) -> tuple[str, ...]:
    # As the carrier toolkit counts holders: a RADIUS user name identifies a subscriber; without one, the DHCP
    # hardware address or station does.
    records = [s for s in candidate.get("subscribers") or [] if isinstance(s, dict)]
    users = {str(s["subscriber"]) for s in records if s.get("subscriber")}
    return tuple(sorted(users or {str(s.get("mac") or s.get("station") or "?") for s in records}))


def _from_lookup(answer: dict[str, Any]) -> AnswerIn:
    query = answer.get("query") or {}
    asked = f"{query.get('ip')}:{query.get('port')} at {query.get('at')}"
    candidates = [c for c in answer.get("candidates") or [] if isinstance(c, dict)]
    if not candidates:
        return AnswerIn(dead_end=f"carrier lookup: no record of {asked} within the window searched "
                                 f"({query.get('from_utc')} to {query.get('to_utc')})")
    shown: list[dict[str, Any]] = [
        {"private_ip": c.get("private_ip"), "private_port": c.get("private_port"), "kind": c.get("kind"),
         "holders": list(_names(c)), "start": c.get("start"), "end": c.get("end"), "source": c.get("source"),
         "subscribers": c.get("subscribers") or []} for c in candidates]
    holders = {(c["private_ip"], tuple(c["holders"])) for c in shown}
    [(private_ip, names)] = holders if len(holders) == 1 else [(None, ())]
    if len(names) == 1 and not answer.get("ambiguous"):
        return AnswerIn(subscriber={"identity": names[0], "private_ip": private_ip, "lookup_query": query,
                                    "records": shown}, note=f"carrier lookup of {asked}")
    why = "; ".join(answer.get("ambiguity") or []) or (
        "no subscriber record joins the mapping" if not any(c["holders"] for c in shown) else
        f"{len(holders)} holders")
    return AnswerIn(candidates=shown, note=f"carrier lookup of {asked}: AMBIGUOUS ({why}); every candidate is kept, "
                                           "none is picked")


def read_answer_document(data: bytes) -> tuple[AnswerIn | None, str]:
    """The answer a document holds, or None with the reason it is not one (never raises)."""
    if len(data) > MAX_DOCUMENT:
        return None, f"larger than {MAX_DOCUMENT} bytes; not read as an answer"
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, "not JSON"
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict):
        return None, "not a JSON object"
    if value.get("format") == DISCLOSURE_FORMAT:
        try:
            doc = DisclosureDocument.model_validate(value)
            answer = AnswerIn(next_hops=doc.next_hops, subscriber=doc.subscriber, dead_end=doc.dead_end,
                              note=doc.note)
        except ValidationError as exc:
            problems = "; ".join(f"{e['field']}: {e['message']}" for e in errors_of(exc)[:5])
            return None, f"a {DISCLOSURE_FORMAT} document that does not validate ({problems})"
        return answer, DISCLOSURE_FORMAT
    if "candidates" in value and "query" in value:
        try:
            return _from_lookup(value), "carrier lookup answer"
        except (ValidationError, AttributeError, TypeError) as exc:
            return None, f"a carrier lookup answer that could not be read ({type(exc).__name__})"
    return None, f"neither a {DISCLOSURE_FORMAT} document nor a carrier lookup answer"


def apply_answer(session: Session, trace: Trace, hop: TraceHop, answer: AnswerIn, *, actor: str, now: datetime,
                 request: CooperationRequest | None, attachment: RequestAttachment | None,
                 how: str) -> list[TraceHop]:
    """Record an answer on the hop (no policy here: the callers decide); returns the new hops."""
    if trace.status == "closed":
        raise ConflictError(f"{trace.reference} is closed; reopen it to record an answer")
    if hop.status in ("origin", "dead_end"):
        raise ConflictError(f"{hop.label} is {'the origin' if hop.status == 'origin' else 'a dead end'} already; "
                            "its answer is recorded")
    seen = f"disclosure answer of request {request.reference}" if request else f"answer recorded by {actor}"
    children = [place_hop(session, trace, ObservationIn(**n.observation(seen)), actor=actor, now=now, parent=hop,
                          source="manual", source_request=request,
                          source_attachment_id=attachment.id if attachment else None,
                          field_prefix=f"next_hops[{i}].") for i, n in enumerate(answer.next_hops)]
    if answer.dead_end is not None:
        hop.status, hop.outcome = "dead_end", answer.dead_end
    elif answer.subscriber is not None:
        hop.status, hop.subscriber = "origin", answer.subscriber
    else:
        hop.status = "answered"
        if answer.candidates:
            hop.subscriber = {"ambiguous": True, "candidates": answer.candidates}
    hop.answer = {"how": how, "request": request.reference if request else None,
                  "attachment": ({"id": attachment.id, "name": attachment.name, "sha256": attachment.sha256}
                                 if attachment else None), "recorded_at": now.isoformat(), "by": actor,
                  **answer.model_dump(mode="json", exclude={"request_id"})}
    hop.updated_at = trace.updated_at = now
    if children:
        what = "next hop(s) " + ", ".join(f"{c.label} {endpoint(c)}" for c in children)
    elif hop.status == "origin":
        what = "the origin: subscriber identified"
    elif hop.status == "dead_end":
        what = f"a dead end: {answer.dead_end}"
    else:
        what = f"AMBIGUOUS: {len(answer.candidates)} candidates, none picked"
    event(trace, actor, "answer", now, f"{hop.label} answered ({how}"
          + (f", request {request.reference}" if request else "") + f"): {what}"
          + (f". {answer.note}" if answer.note else ""), hop)
    refresh_status(trace)
    return children


def _linked_request(session: Session, hop: TraceHop, request_id: int | None) -> CooperationRequest | None:
    if request_id is None:
        link = next((r for r in hop.requests if r.kind in ("traffic_disclosure", "domestic_order")), None) or (
            hop.requests[0] if hop.requests else None)
        return session.get(CooperationRequest, link.request_id) if link else None
    if request_id not in {r.request_id for r in hop.requests}:
        raise InputError.field("request_id", f"request {request_id} is not one of {hop.label}'s requests")
    return session.get(CooperationRequest, request_id)


def record_answer(session: Session, subject: Subject, trace_key: int | str, hop_key: int | str,
                  answer: AnswerIn | dict[str, Any] | None = None, *, document: bytes | None = None,
                  attachment: RequestAttachment | None = None, settings: Settings,
                  now: datetime | None = None) -> list[TraceHop]:
    """Enter an answer by hand: given as fields, or read from its document (attached to the request already);
    the new hops are resolved at once."""
    now = now or utcnow()
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    hop = find_hop(trace, hop_key)
    how = "entered by hand"
    if answer is None:
        if document is None:
            raise InputError.field("answer", "give the answer's fields or its document")
        parsed, what = read_answer_document(document)
        if parsed is None:
            raise InputError.field("document", f"the document is {what}")
        answer, how = parsed, f"{what}, entered by hand"
    data = answer if isinstance(answer, AnswerIn) else parse_model(AnswerIn, answer, "answer")
    request = _linked_request(session, hop, data.request_id if attachment is None else attachment.request_id)
    children = apply_answer(session, trace, hop, data, actor=subject.username, now=now, request=request,
                            attachment=attachment, how=how)
    for child in children:
        resolve_into(session, subject, child, settings=settings, now=now)
    audit.record(session, actor=subject.username, action="trace.answer", object_type="trace",
                 object_id=trace.reference, detail={"hop": hop.label, "status": hop.status,
                                                    "new_hops": [c.label for c in children],
                                                    "request": request.reference if request else None})
    return children


def record_answer_document(session: Session, subject: Subject, trace_key: int | str, hop_key: int | str, *,
                           content: bytes, name: str, media_type: str, sha256: str, request_id: int | None = None,
                           answer: AnswerIn | dict[str, Any] | None = None, settings: Settings,
                           now: datetime | None = None) -> list[TraceHop]:
    """Attach a document (stored in the blob store already) to the hop's request and record the answer: the one
    the document holds, or `answer` typed by hand, the document then being its evidence in whatever form."""
    now = now or utcnow()
    trace = trace_for(session, subject, trace_key, Action.TRACE_WRITE)
    hop = find_hop(trace, hop_key)
    if answer is None and (what := read_answer_document(content))[0] is None:
        raise InputError.field("document", f"{name} is {what[1]}")
    request = _linked_request(session, hop, request_id)
    if request is None:
        raise InputError.field("request_id", f"{hop.label} has no request to attach the document to; file its "
                               "requests first or enter the answer's fields without a document")
    attachment = peer.add_attachment(session, subject, request.id, name=name, media_type=media_type,
                                     size=len(content), sha256=sha256, now=now)
    return record_answer(session, subject, trace.id, hop.id, answer, document=content if answer is None else None,
                         attachment=attachment, settings=settings, now=now)


@on_delivery("tracing")
def on_delivered(session: Session, request: CooperationRequest, attachments: list[RequestAttachment],
                 arrival: Arrival, now: datetime) -> None:
    """A delivery on a request linked to a hop: each file that is an answer is recorded as that hop's answer, and
    the next hops it names are resolved on arrival, by the node itself."""
    links = list(session.execute(select(TraceHopRequest).where(TraceHopRequest.request_id == request.id)).scalars())
    if not links:
        return
    actor = f"node:{request.peer_country}/{request.peer_node_id or '?'}"
    store = BlobStore(arrival.blob_dir)
    for link in links:
        hop = link.hop
        trace = hop.trace
        for item in attachments:
            data = b"".join(store.chunks(item.sha256)) if item.size <= MAX_DOCUMENT else b""
            answer, what = read_answer_document(data) if data else (None, "too large to be an answer")
            if answer is None:
                event(trace, actor, "note", now, f"{item.name} delivered on {request.reference} for {hop.label}: "
                      f"{what}; kept as the request's attachment, not read as an answer", hop)
                continue
            try:
                with session.begin_nested():
                    children = apply_answer(session, trace, hop, answer, actor=actor, now=now, request=request,
                                            attachment=item, how=f"{what} delivered by {actor}")
            except NohavenError as exc:
                event(trace, actor, "note", now, f"{item.name} delivered on {request.reference} for {hop.label} "
                      f"could not be recorded: {exc.diagnostics()}", hop)
                continue
            for child in children:
                try:
                    with session.begin_nested():
                        resolve_into(session, None, child, settings=arrival.settings, now=now, actor=ARRIVAL_ACTOR)
                except NohavenError as exc:
                    event(trace, ARRIVAL_ACTOR, "note", now, f"{child.label} could not be resolved on arrival "
                          f"({exc.diagnostics()}); resolve it from the trace", child)
            audit.record(session, actor=actor, action="trace.answer", object_type="trace",
                         object_id=trace.reference, detail={"hop": hop.label, "status": hop.status,
                                                            "new_hops": [c.label for c in children],
                                                            "request": request.reference,
                                                            "attachment": item.sha256})
