"""Jinja2 templates and the context every page shares (who is logged in, what they may open, demo banner)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from nohaven.web.forms import dom_id
from nohaven.web.session import Viewer, node_of
from nohaven.web.views import navigation

__all__ = ["page", "templates"]

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
templates.env.filters["dom_id"] = dom_id
templates.env.globals["dom_id"] = dom_id


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def page(request: Request, name: str, viewer: Viewer | None = None, *, status: int = 200,
         **context: Any) -> HTMLResponse:
    """Render a template with the shared context."""
    settings = node_of(request).settings
    shared: dict[str, Any] = {
        "viewer": viewer,
        "nav": navigation(viewer.subject) if viewer and viewer.stage == "full" else [],
        "demo": settings.demo_mode,
        "csrf_token": viewer.csrf_token if viewer else context.pop("csrf_token", ""),
        "path": request.url.path,
    }
    shared.update(context)
    return templates.TemplateResponse(request, name, shared, status_code=status)
