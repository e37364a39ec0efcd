"""Web UI routes (placeholder until the web UI lands: only the error page)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

router = APIRouter()


def render_error(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return HTMLResponse(f"<h1>{title}</h1><p>{detail}</p>", status_code=status)
