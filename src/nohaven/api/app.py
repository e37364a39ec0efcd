"""The ASGI application: API, web UI, static files, security headers and the clock watcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from nohaven import __version__
from nohaven.api import problems
from nohaven.api.routes import router as api_router
from nohaven.node import Node
from nohaven.requests.escalation import ClockWatcher
from nohaven.web.routes import render_error
from nohaven.web.routes import router as web_router

__all__ = ["create_app"]

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if not request.url.path.startswith("/static"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response


def create_app(node: Node, *, watch_clocks: bool | None = None) -> FastAPI:
    """The node's application; the clock watcher runs in-process unless disabled."""
    node.settings.secret()  # refuse to start with a default secret outside demo mode
    run_watcher = node.settings.scheduler_enabled if watch_clocks is None else watch_clocks

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = ClockWatcher(node.db, node.settings) if run_watcher else None
        if watcher:
            watcher.start()
        try:
            yield
        finally:
            if watcher:
                watcher.stop()

    app = FastAPI(title="nohaven node", version=__version__, lifespan=lifespan,
                  description="API of a national 24/7 point-of-contact node.", docs_url="/api/docs",
                  redoc_url=None, openapi_url="/openapi.json")
    app.state.node = node
    app.add_middleware(SecurityHeaders)
    problems.install(app, html_handler=render_error)
    app.include_router(api_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
