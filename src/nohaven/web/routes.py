"""The web UI's routes (server-rendered pages with htmx) and its error page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from nohaven.web import auth_routes, evidence_routes, oversight_routes, request_routes, trace_routes
from nohaven.web.templating import is_htmx, templates

__all__ = ["render_error", "router"]

router = APIRouter(include_in_schema=False)
router.include_router(auth_routes.router)
router.include_router(request_routes.router)
router.include_router(evidence_routes.router)
router.include_router(oversight_routes.router)
router.include_router(trace_routes.router)


def render_error(request: Request, status: int, title: str, detail: str) -> Response:
    """An error as a page; 'not logged in' (401) sends the browser to the log-in page instead."""
    if status == 401:
        if is_htmx(request):
            return HTMLResponse("", status_code=200, headers={"HX-Redirect": "/login"})
        return RedirectResponse("/login", status_code=303)
    response: HTMLResponse = templates.TemplateResponse(
        request, "error.html", {"status": status, "title": title, "detail": detail, "viewer": None, "nav": [],
                                "demo": getattr(request.app.state.node.settings, "demo_mode", False),
                                "csrf_token": "", "path": request.url.path}, status_code=status)
    return response
