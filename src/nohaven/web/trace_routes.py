"""Pages for traces: the caller's traces, a new trace from an observation or an e-mail's Received chain, and the
trace itself (graph, timeline, each hop with its resolution, requests, evidence and actions). Each route parses,
calls one nohaven.tracing function inside one unit of work, and renders; the services decide and audit."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from jinja2 import pass_context
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from nohaven.blobs import CHUNK, BlobStore
from nohaven.errors import InputError, NohavenError
from nohaven.timeutil import utcnow
from nohaven.tracing import answers, drafting, service, views
from nohaven.tracing.email import parse_message
from nohaven.tracing.endpoints import read_next_hops
from nohaven.tracing.models import Trace
from nohaven.web.forms import iana_zones
from nohaven.web.session import CsrfUser, Viewer, WebUser, node_of
from nohaven.web.templating import page, templates
from nohaven.web.trace_graph import BOX_H, BOX_W, hop_times, layout

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
URGENCY_ORDER = ("overdue", "critical", "soon", "ok", "unknown", "settled")
OBSERVATION_FIELDS = ("ip", "port", "protocol", "time_text", "time_zone", "uncertainty", "seen_where", "note")
TRACE_FIELDS = ("title", "offence", "summary", "case_reference")
MAX_EML = 5 * 1024 * 1024


@pass_context
def trace_links(context: Mapping[str, Any], request: Request, request_id: int) -> list[dict[str, str]]:
    """The trace hops a request was drafted from, for the request's own page (the service names only traces
    the page's viewer may read; the trace page itself decides again who may open it)."""
    viewer: Viewer | None = context.get("viewer")
    if viewer is None:
        return []
    with node_of(request).db.read_session() as session:
        return service.request_links(session, viewer.subject, request_id)


templates.env.globals["trace_links"] = trace_links


def _url(reference: str) -> str:
    return f"/traces/{quote(reference, safe='')}"


def _deadline(trace: Trace, now: datetime) -> datetime | None:
    open_hops = [h.likely_deleted_after for h in trace.hops if h.likely_deleted_after is not None
                 and service.urgency(h, now) != "settled"]
    return min(open_hops) if open_hops else None


@router.get("/traces")
def trace_list(request: Request, viewer: WebUser) -> Response:
    """The traces you may see, the one whose data is deleted first at the top."""
    now = utcnow()
    with node_of(request).work() as session:
        rows = []
        for trace in service.list_traces(session, viewer.subject):
            summary = views.trace_summary(trace, now)
            deadline = _deadline(trace, now)
            rows.append({**summary, "deadline": deadline.isoformat() if deadline else None,
                         "states": sorted({h.responsible_state for h in trace.hops if h.responsible_state}),
                         "sort": (URGENCY_ORDER.index(summary["urgency"]),
                                  deadline.timestamp() if deadline else float("inf"), -trace.id)})
    rows.sort(key=lambda r: r["sort"])
    return page(request, "traces.html", viewer, rows=rows)


def _new_form(request: Request, viewer: Viewer, values: dict[str, str] | None = None,
              errors: dict[str, list[str]] | None = None, *, status: int = 200, error: str = "") -> Response:
    return page(request, "trace_new.html", viewer, status=status, error=error, values=values or {},
                errors=errors or {}, zones=iana_zones())


@router.get("/traces/new")
def new_trace(request: Request, viewer: WebUser) -> Response:
    return _new_form(request, viewer)


def _field_of(path: str) -> str:
    """A service's field path (observations[0].time_text) as the form's field name (time_text)."""
    return path.rsplit(".", 1)[-1] if path.startswith("observations[") else path


def _errors_of(exc: NohavenError) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in getattr(exc, "errors", None) or []:
        found.setdefault(_field_of(str(problem.get("field") or "")), []).append(str(problem.get("message")))
    return found


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    data = bytearray()
    while chunk := await upload.read(CHUNK):
        data.extend(chunk)
        if len(data) > limit:
            raise InputError.field("eml", f"the message is larger than {limit // (1024 * 1024)} MiB")
    return bytes(data)


@router.post("/traces/new")
async def create(request: Request, viewer: CsrfUser) -> Response:
    """Open the trace; on any problem the form comes back with the values and each field's message."""
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    upload = form.get("eml")
    try:
        body: dict[str, Any] = {k: values.get(k, "") for k in TRACE_FIELDS}
        body["case_reference"] = body["case_reference"] or None
        if isinstance(upload, UploadFile) and upload.filename:
            trusted = [t.strip() for t in values.get("trusted", "").replace(",", "\n").splitlines() if t.strip()]
            chain = parse_message(await _read_upload(upload, MAX_EML), trusted=trusted)
            body["observations"], body["source"] = chain.observations(), "email"
            if not body["observations"]:
                raise InputError.field("eml", "no Received header of the message names a sending address")
        else:
            observation: dict[str, Any] = {k: values.get(k, "") for k in OBSERVATION_FIELDS}
            observation["port"] = observation["port"] or None
            observation["protocol"] = observation["protocol"] or None
            observation["time_zone"] = observation["time_zone"] or None
            observation["uncertainty"] = observation["uncertainty"] or "PT1S"
            observation["offset_unknown"] = values.get("offset_unknown") == "on"
            body["observations"] = [observation]
        node = node_of(request)
        with node.work() as session:
            reference = service.create_trace(session, viewer.subject, body, settings=node.settings).reference
    except NohavenError as exc:
        return _new_form(request, viewer, values, _errors_of(exc), status=exc.http_status,
                         error=f"The trace was not opened: {exc.diagnostics()}")
    return RedirectResponse(_url(reference), status_code=303)


def _detail(session: Session, viewer: Viewer, reference: str) -> dict[str, Any]:
    trace = service.get_trace(session, viewer.subject, reference)
    view = views.trace_view(session, trace)
    for hop in view["hops"]:
        resolution = hop["resolution"] or {}
        hop["record"] = resolution.get("record") or {}
        hop["poc"] = resolution.get("point_of_contact") or {}
        hop["children"] = [h["label"] for h in view["hops"] if h["parent_id"] == hop["id"]]
        hop["parent"] = next((h["label"] for h in view["hops"] if h["id"] == hop["parent_id"]), None)
        hop["open"] = hop["status"] not in ("origin", "dead_end")
    return {"trace": view, "url": _url(trace.reference), "graph": layout(view["hops"]), "box_w": BOX_W,
            "box_h": BOX_H, "times": hop_times(view["hops"]), "events": [t for t in view["timeline"]
                                                                      if t["kind"] != "observed"],
            "zones": iana_zones()}


def _render(request: Request, viewer: Viewer, reference: str, *, status: int = 200, error: str = "",
            done: str = "", **extra: Any) -> Response:
    with node_of(request).work() as session:
        context = _detail(session, viewer, reference)
    return page(request, "trace.html", viewer, status=status, error=error, done=done, **context, **extra)


@router.get("/traces/{reference}")
def trace_page(request: Request, viewer: WebUser, reference: str) -> Response:
    return _render(request, viewer, reference)


def _act(request: Request, viewer: Viewer, reference: str, action: Callable[[Session], str],
         anchor: str = "") -> Response:
    """Run one action on the trace; the trace page again, with the refusal and why when it fails."""
    try:
        with node_of(request).work() as session:
            action(session)
    except NohavenError as exc:
        return _render(request, viewer, reference, status=exc.http_status, error=exc.diagnostics())
    return RedirectResponse(_url(reference) + (f"#{anchor}" if anchor else ""), status_code=303)


@router.post("/traces/{reference}/hops/{hop}/resolve")
def resolve(request: Request, viewer: CsrfUser, reference: str, hop: str) -> Response:
    """Resolve the hop again with the node's current IP data."""
    settings = node_of(request).settings
    return _act(request, viewer, reference, lambda s: service.resolve_hop(
        s, viewer.subject, reference, hop, settings=settings).label, f"hop-{hop}")


@router.get("/traces/{reference}/hops/{hop}/draft")
def draft(request: Request, viewer: WebUser, reference: str, hop: str) -> Response:
    """The requests the hop calls for, with the time as written, in UTC and in the requested State's zone."""
    node = node_of(request)
    try:
        with node.work() as session:
            drafted = drafting.draft_requests(session, viewer.subject, reference, hop, settings=node.settings)
    except NohavenError as exc:
        return _render(request, viewer, reference, status=exc.http_status, error=exc.diagnostics())
    return page(request, "trace_draft.html", viewer, draft=drafted, url=_url(reference))


@router.post("/traces/{reference}/hops/{hop}/requests")
async def file(request: Request, viewer: CsrfUser, reference: str, hop: str) -> Response:
    """File the drafted requests (all of them, or the kinds ticked), linked to the hop."""
    form = await request.form()
    kinds = [k for k in form.getlist("types") if isinstance(k, str)]
    if form.get("chosen") and not kinds:  # the draft page's boxes, all unticked: file nothing, say so
        return _render(request, viewer, reference, status=422,
                       error=f"Nothing was filed for {hop}: tick at least one of the drafted requests.")
    settings = node_of(request).settings
    return await run_in_threadpool(_act, request, viewer, reference, lambda s: ",".join(
        r.reference for r in drafting.file_requests(s, viewer.subject, reference, hop,
                                                    {"types": kinds or None}, settings=settings)), f"hop-{hop}")


@router.post("/traces/{reference}/hops")
async def add_hop(request: Request, viewer: CsrfUser, reference: str) -> Response:
    """Add a hop by hand (under a parent hop, if chosen); it is resolved at once."""
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    body: dict[str, Any] = {k: values.get(k) or None for k in OBSERVATION_FIELDS}
    body.update({"uncertainty": body["uncertainty"] or "PT1S", "seen_where": body["seen_where"] or "",
                 "note": body["note"] or "", "time_text": body["time_text"] or "",
                 "offset_unknown": values.get("offset_unknown") == "on", "parent": values.get("parent") or None,
                 "source": "manual"})
    settings = node_of(request).settings
    return await run_in_threadpool(_act, request, viewer, reference, lambda s: service.add_hop(
        s, viewer.subject, reference, body, settings=settings).label, "hops")


@router.post("/traces/{reference}/hops/{hop}/answer")
async def answer(request: Request, viewer: CsrfUser, reference: str, hop: str) -> Response:
    """Record an answer by hand: next hops (IP:port@time, one a line), the subscriber, or a dead end — or the
    answer document alone when it is one the node reads (nohaven-disclosure/1, a carrier lookup answer). A
    document is attached to the hop's request either way."""
    form = await request.form()
    values = {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    upload = form.get("document")
    node = node_of(request)
    typed = any(values.get(k) for k in ("next_hops", "subscriber", "dead_end"))
    try:
        document = await _read_upload(upload, answers.MAX_DOCUMENT) if (
            isinstance(upload, UploadFile) and upload.filename) else None
        fields = {"next_hops": read_next_hops(values.get("next_hops", ""), "next_hops", values.get("protocol") or None),
                  "subscriber": {"identity": values["subscriber"]} if values.get("subscriber") else None,
                  "dead_end": values.get("dead_end") or None, "note": values.get("note", "")} if (
            typed or document is None) else None
    except NohavenError as exc:
        return _render(request, viewer, reference, status=exc.http_status, error=exc.diagnostics())
    if document is None:
        return await run_in_threadpool(_act, request, viewer, reference, lambda s: str(
            answers.record_answer(s, viewer.subject, reference, hop, fields, settings=node.settings)), f"hop-{hop}")
    digest, _ = await run_in_threadpool(BlobStore(node.settings.blob_dir).put_chunks, [document])
    name = (upload.filename if isinstance(upload, UploadFile) else None) or "answer"
    media_type = (upload.content_type if isinstance(upload, UploadFile) else None) or "application/octet-stream"
    return await run_in_threadpool(_act, request, viewer, reference, lambda s: str(
        answers.record_answer_document(s, viewer.subject, reference, hop, content=document, name=name,
                                       media_type=media_type, sha256=digest, answer=fields, settings=node.settings)),
        f"hop-{hop}")
