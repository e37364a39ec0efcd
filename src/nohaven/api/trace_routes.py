"""`/api/v1/traces` routes (nohaven.tracing): each parses, calls one trace service function inside node.work(),
and serialises. A trace is named by its id or reference, a hop by its id or label (H2)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from nohaven.api.deps import CurrentSubject, NodeDep
from nohaven.auth.policy import Action, Subject
from nohaven.blobs import BlobStore
from nohaven.errors import InputError
from nohaven.requests import service as requests
from nohaven.timeutil import utcnow
from nohaven.tracing import answers, drafting, service, views
from nohaven.tracing.models import TraceHop
from nohaven.tracing.schema import FileRequestsIn, HopIn, TraceIn

router = APIRouter(prefix="/api/v1/traces", tags=["traces"])
MAX_DOCUMENT = answers.MAX_DOCUMENT


@router.post("", status_code=201)
def create_trace(body: TraceIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Open a trace (in the named case, or a new one) from its first observations; each hop is resolved."""
    with node.work() as session:
        trace = service.create_trace(session, subject, body, settings=node.settings)
        return views.trace_view(session, trace)


@router.get("")
def list_traces(node: NodeDep, subject: CurrentSubject,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """The traces you may see, newest first."""
    with node.work() as session:
        return [views.trace_summary(t) for t in service.list_traces(session, subject, limit=limit)]


@router.get("/{trace}")
def get_trace(trace: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """The trace: hops with resolution, urgency, requests and evidence; graph; timeline by instant."""
    with node.work() as session:
        return views.trace_view(session, service.get_trace(session, subject, trace))


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=2000)
    reopen: bool = False


@router.post("/{trace}/close")
def close_trace(trace: str, node: NodeDep, subject: CurrentSubject,
                body: Annotated[CloseIn | None, Body()] = None) -> dict[str, Any]:
    """Close the trace (or reopen it with `reopen`)."""
    body = body or CloseIn()
    with node.work() as session:
        return views.trace_view(session, service.close_trace(session, subject, trace, body.note,
                                                             reopen=body.reopen))


@router.post("/{trace}/hops", status_code=201)
def add_hop(trace: str, body: HopIn, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Add a hop from an observation (under `parent`, if given); it is resolved at once."""
    with node.work() as session:
        return views.hop_view(session, service.add_hop(session, subject, trace, body, settings=node.settings))


@router.post("/{trace}/hops/{hop}/resolve")
def resolve_hop(trace: str, hop: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Resolve a hop again with the node's current IP data."""
    with node.work() as session:
        return views.hop_view(session, service.resolve_hop(session, subject, trace, hop, settings=node.settings))


@router.get("/{trace}/hops/{hop}/draft")
def draft(trace: str, hop: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """The requests this hop calls for, as request payloads, with the time as written, in UTC and local."""
    with node.work() as session:
        return drafting.draft_requests(session, subject, trace, hop, settings=node.settings)


@router.post("/{trace}/hops/{hop}/requests", status_code=201)
def file_requests(trace: str, hop: str, node: NodeDep, subject: CurrentSubject,
                  body: Annotated[FileRequestsIn | None, Body()] = None) -> dict[str, Any]:
    """File the hop's drafted requests (all, or `types`), with `overrides` set on each."""
    with node.work() as session:
        filed = drafting.file_requests(session, subject, trace, hop, body, settings=node.settings)
        return {"requests": [requests.request_view(r) for r in filed]}


@router.post("/{trace}/hops/{hop}/answer", status_code=201)
async def answer(trace: str, hop: str, request: Request, node: NodeDep, subject: CurrentSubject,
                 document: Annotated[str | None, Query(min_length=1, max_length=255, description=
                                                       "the body is the answer document with this file name; it "
                                                       "is attached to the hop's request")] = None,
                 request_id: int | None = None) -> dict[str, Any]:
    """Record the answer to a hop: `AnswerIn` as JSON, or (with `document`) the answer document itself —
    `nohaven-disclosure/1` or a carrier lookup answer."""
    def may_answer() -> None:  # before anything is read or stored
        with node.work() as session:
            service.find_hop(service.trace_for(session, subject, trace, Action.TRACE_WRITE), hop)

    await run_in_threadpool(may_answer)
    content = bytearray()
    async for chunk in request.stream():
        content.extend(chunk)
        if len(content) > MAX_DOCUMENT:
            raise InputError.field("(body)", f"an answer is at most {MAX_DOCUMENT} bytes")
    data = bytes(content)
    if document is None:
        try:
            fields = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise InputError.field("(body)", "the body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise InputError.field("(body)", "expected an answer object (next_hops, subscriber, candidates or "
                                   "dead_end), or send the document with ?document=NAME")
        if request_id is not None:
            fields.setdefault("request_id", request_id)

        def by_fields() -> dict[str, Any]:
            with node.work() as session:
                new = answers.record_answer(session, subject, trace, hop, fields, settings=node.settings)
                return _answered(session, subject, trace, new)
        return await run_in_threadpool(by_fields)
    digest, _ = await run_in_threadpool(BlobStore(node.settings.blob_dir).put_chunks, [data])
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip()

    def by_document() -> dict[str, Any]:
        with node.work() as session:
            new = answers.record_answer_document(session, subject, trace, hop, content=data, name=document,
                                                 media_type=media_type, sha256=digest, request_id=request_id,
                                                 settings=node.settings, now=utcnow())
            return _answered(session, subject, trace, new)
    return await run_in_threadpool(by_document)


def _answered(session: Session, subject: Subject, trace: str, new: list[TraceHop]) -> dict[str, Any]:
    view = views.trace_view(session, service.trace_for(session, subject, trace))
    return {"new_hops": [h.label for h in new], "trace": view}
