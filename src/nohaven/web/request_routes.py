"""Pages for cooperation requests: the dashboard of open requests, the new-request form, the detail page and
its actions. Each route parses, calls the request service inside one unit of work, and renders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from nohaven.api.downloads import blob_download
from nohaven.blobs import CHUNK, BlobStore
from nohaven.directory import service as directory
from nohaven.errors import InputError, NohavenError
from nohaven.requests import exchange, peer
from nohaven.requests import service as requests
from nohaven.timeutil import utcnow
from nohaven.web import views
from nohaven.web.forms import (
    DATA_CATEGORIES,
    IDENTIFIER_TYPES,
    SECTIONS,
    RequestForm,
    iana_zones,
    read_form,
    zone_choices,
)
from nohaven.web.session import CsrfUser, Viewer, WebUser, node_of
from nohaven.web.templating import page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _dashboard(session: Session, viewer: Viewer) -> dict[str, Any]:
    now = utcnow()
    local = views.node_zone(session)
    rows = requests.list_requests(session, viewer.subject, open_only=True)
    return {"rows": [views.dashboard_row(r, local, now) for r in rows], "zone": local.name,
            "now": views.instant(now, local)}


@router.get("/")
def dashboard(request: Request, viewer: WebUser) -> Response:
    """Open requests, the one whose data is lost first at the top."""
    nav = views.navigation(viewer.subject)
    if nav and nav[0][0] != "/":
        return RedirectResponse(nav[0][0], status_code=303)  # this role handles no requests
    with node_of(request).work() as session:
        context = _dashboard(session, viewer)
    return page(request, "dashboard.html", viewer, **context)


@router.get("/fragments/dashboard")
def dashboard_rows(request: Request, viewer: WebUser) -> Response:
    """The dashboard's table body, which the page reloads every minute."""
    with node_of(request).work() as session:
        context = _dashboard(session, viewer)
    return page(request, "_dashboard_rows.html", viewer, **context)


def _form_context(session: Session, viewer: Viewer, form: RequestForm | None) -> dict[str, Any]:
    return {"sections": SECTIONS, "form": form or RequestForm(values={}, rows=[0]),
            "states": [(s.code, s.name) for s in directory.states_for(session, viewer.subject)],
            "zones": zone_choices(), "iana_zones": iana_zones(), "identifier_types": IDENTIFIER_TYPES,
            "data_categories": DATA_CATEGORIES}


def _render_form(request: Request, viewer: Viewer, form: RequestForm | None, *, status: int = 200,
                 error: str = "") -> HTMLResponse:
    with node_of(request).work() as session:
        context = _form_context(session, viewer, form)
    return page(request, "request_form.html", viewer, status=status, error=error, **context)


@router.get("/requests/new")
def new_request(request: Request, viewer: WebUser) -> Response:
    return _render_form(request, viewer, None)


@router.get("/requests/new/data-item")
def data_item_row(request: Request, viewer: WebUser, index: Annotated[int, Query(ge=0, le=200)] = 1) -> Response:
    """One more data-item row for the form (and the button that adds the row after it)."""
    return page(request, "_data_item_row.html", viewer, row=index, form=RequestForm(values={}, rows=[index]),
                zones=zone_choices(), identifier_types=IDENTIFIER_TYPES, data_categories=DATA_CATEGORIES,
                add_button=True)


async def _posted(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


@router.post("/requests/validate")
async def validate(request: Request, viewer: CsrfUser) -> Response:
    """Every field's message, swapped next to its field, while the user fills the form in."""
    return page(request, "_validation.html", viewer, form=read_form(await _posted(request)))


@router.post("/requests/new")
async def create(request: Request, viewer: CsrfUser) -> Response:
    """Create the request; on any problem the form comes back with the user's values and the messages."""
    form = read_form(await _posted(request))
    if form.model is None:
        return _render_form(request, viewer, form, status=422, error="The request was not saved; see the "
                            "fields marked below.")
    try:
        with node_of(request).work() as session:
            request_id = requests.create_request(session, viewer.subject, form.model).id
    except NohavenError as exc:
        for problem in getattr(exc, "errors", None) or []:
            form.add_error(problem["field"], problem["message"])
        return _render_form(request, viewer, form, status=exc.http_status,
                            error=f"The request was not saved: {exc.diagnostics()}")
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


def _detail(session: Session, viewer: Viewer, request_id: int) -> dict[str, Any]:
    req = requests.get_request(session, viewer.subject, request_id)
    now = utcnow()
    local = views.node_zone(session)
    return {"req": req, "view": requests.request_view(req, now), "zone": local.name,
            "clocks": [views.clock_row(c, local, now) for c in sorted(req.clocks, key=lambda c: c.due_at)],
            "events": [(views.instant(e.at, local), e) for e in req.events],
            "times": {name: views.instant(getattr(req, name), local) for name in (
                "request_date", "received_at", "acknowledged_at", "written_confirmation_at", "preserved_at",
                "created_at")},
            "allowed": requests.allowed_statuses(req), "case": req.case.reference,
            "messages": [{**exchange.message_view(m), "at": views.instant(m.last_attempt_at or m.created_at, local)}
                         for m in exchange.messages_of(session, req.id)],
            "attachments": peer.attachments_of(session, req.id)}


@router.get("/requests/{request_id}")
def detail(request: Request, viewer: WebUser, request_id: int) -> Response:
    with node_of(request).work() as session:
        context = _detail(session, viewer, request_id)
    return page(request, "request_detail.html", viewer, **context)


def _act(request: Request, viewer: Viewer, request_id: int, action: Any) -> Response:
    """Run one action on the request; show the detail page again with the refusal if it fails."""
    try:
        with node_of(request).work() as session:
            action(session)
    except NohavenError as exc:
        return _refused(request, viewer, request_id, exc)
    return RedirectResponse(f"/requests/{request_id}", status_code=303)


def _refused(request: Request, viewer: Viewer, request_id: int, exc: NohavenError) -> Response:
    """The detail page again, with what was refused and why."""
    with node_of(request).work() as session:
        context = _detail(session, viewer, request_id)
    return page(request, "request_detail.html", viewer, status=exc.http_status, error=exc.diagnostics(), **context)


@router.post("/requests/{request_id}/acknowledge")
def acknowledge(request: Request, viewer: CsrfUser, request_id: int) -> Response:
    return _act(request, viewer, request_id,
                lambda s: requests.acknowledge(s, viewer.subject, request_id))


@router.post("/requests/{request_id}/written-confirmation")
def written_confirmation(request: Request, viewer: CsrfUser, request_id: int,
                         note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _act(request, viewer, request_id,
                lambda s: requests.confirm_written(s, viewer.subject, request_id, note))


@router.post("/requests/{request_id}/transition")
def transition(request: Request, viewer: CsrfUser, request_id: int, to: Annotated[str, Form()] = "",
               note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return _act(request, viewer, request_id,
                lambda s: requests.transition(s, viewer.subject, request_id, to, note))


@router.post("/requests/{request_id}/follow-up")
def follow_up(request: Request, viewer: CsrfUser, request_id: int, mla_id: Annotated[int, Form()]) -> Response:
    return _act(request, viewer, request_id,
                lambda s: requests.link_follow_up(s, viewer.subject, request_id, mla_id))



@router.post("/requests/{request_id}/attachments")
async def attach(request: Request, viewer: CsrfUser, request_id: int) -> Response:
    """Attach a file; for a request received from another State's node, it is delivered to that node."""
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        return _refused(request, viewer, request_id, InputError.field("file", "choose a file to attach"))
    node = node_of(request)
    writer = BlobStore(node.settings.blob_dir).writer()
    try:
        while chunk := await upload.read(CHUNK):
            writer.write(chunk)
    except BaseException:
        writer.abort()
        raise
    digest = writer.commit()
    name, media_type, size = upload.filename, upload.content_type or "application/octet-stream", writer.size
    return _act(request, viewer, request_id, lambda s: peer.add_attachment(
        s, viewer.subject, request_id, name=name, media_type=media_type, size=size, sha256=digest, now=utcnow()))


@router.get("/requests/{request_id}/attachments/{attachment_id}")
def download(request: Request, viewer: WebUser, request_id: int, attachment_id: int) -> Response:
    node = node_of(request)
    with node.work() as session:
        a = peer.attachment_for(session, viewer.subject, request_id, attachment_id)
        name, media_type, digest = a.name, a.media_type, a.sha256
    return blob_download(node, name, digest, media_type)
