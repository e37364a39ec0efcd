"""Pages for looking around: the directory of States, notifications, and the auditor's view of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from nohaven.audit import reading as audit_reading
from nohaven.directory import service as directory
from nohaven.directory.schema import LegalProfile
from nohaven.requests.escalation import notifications_for
from nohaven.timeutil import utcnow
from nohaven.web import views
from nohaven.web.session import CsrfUser, WebUser, node_of
from nohaven.web.templating import is_htmx, page

AUDIT_PAGE = 50

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/directory")
def directory_page(request: Request, viewer: WebUser) -> Response:
    """Every State with its legal profile (the durations every clock is computed from) and its contacts."""
    with node_of(request).work() as session:
        states = [{"code": s.code, "name": s.name, "fictional": s.fictional, "note": s.note,
                   "profile": LegalProfile.model_validate(s.legal_profile),
                   "agencies": [{"name": a.name, "kind": a.kind, "address": a.address, "poc": a.point_of_contact,
                                 "contacts": [{"name": c.name, "function": c.function, "phones": c.phones,
                                               "email": c.email, "fax": c.fax, "languages": c.languages,
                                               "hours": c.office_hours} for c in a.contacts]}
                                for a in s.agencies]}
                  for s in directory.states_for(session, viewer.subject)]
    return page(request, "directory.html", viewer, states=states)


@router.get("/notifications")
def notifications_page(request: Request, viewer: WebUser) -> Response:
    with node_of(request).work() as session:
        local = views.node_zone(session)
        rows = notifications_for(session, viewer.subject)
    now = utcnow()
    for row in rows:
        row["when"] = views.instant(datetime.fromisoformat(str(row["created_at"])), local, now)
    return page(request, "notifications.html", viewer, rows=rows)


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/audit")
def audit_page(request: Request, viewer: WebUser, before: Annotated[int | None, Query(ge=1)] = None,
               actor: str | None = None, object_type: str | None = None, object_id: str | None = None) -> Response:
    """The audit log, newest first, fifty entries a page; each reading is audited."""
    filters = {"actor": _clean(actor), "object_type": _clean(object_type), "object_id": _clean(object_id)}
    with node_of(request).work() as session:
        rows = audit_reading.read_page(session, viewer.subject, limit=AUDIT_PAGE, before=before, **filters)
    older = rows[-1]["seq"] if len(rows) == AUDIT_PAGE else None
    return page(request, "audit.html", viewer, rows=rows, filters=filters, older=older, before=before,
                verification=None)


@router.post("/audit/verify")
def audit_verify(request: Request, viewer: CsrfUser) -> Response:
    """Walk the whole hash chain and say whether, and where, it is broken."""
    with node_of(request).work() as session:
        verification = audit_reading.verify_as(session, viewer.subject)
        if is_htmx(request):
            return page(request, "_audit_verification.html", viewer, verification=verification)
        rows = audit_reading.read_page(session, viewer.subject, limit=AUDIT_PAGE)
    return page(request, "audit.html", viewer, rows=rows, filters={}, before=None, verification=verification,
                older=rows[-1]["seq"] if len(rows) == AUDIT_PAGE else None)
