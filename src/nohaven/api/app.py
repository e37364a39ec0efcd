"""The ASGI application: API, web UI, static files, security headers and the clock watcher."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nohaven import __version__
from nohaven.api import problems
from nohaven.api.evidence_routes import router as evidence_router
from nohaven.api.federation_routes import router as federation_router
from nohaven.api.ipdata_routes import router as ipdata_router
from nohaven.api.routes import router as api_router
from nohaven.api.trace_routes import router as trace_router
from nohaven.config import load_settings
from nohaven.evidence_node import arrivals as _evidence_arrivals  # noqa: F401  (registers the sealed-bundle delivery hook)
from nohaven.federation.context import load_context
from nohaven.federation.dispatcher import Dispatcher
from nohaven.node import Node
from nohaven.requests.escalation import ClockWatcher
from nohaven.tracing import answers as _trace_answers  # noqa: F401  (registers the disclosure-answer delivery hook)
from nohaven.web.routes import render_error
from nohaven.web.routes import router as web_router

__all__ = ["create_app", "create_app_from_environment"]

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


SECURITY_HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]


class SecurityHeaders:
    """Adds the security headers a response does not set itself, and no-store outside /static.

    Plain ASGI rather than Starlette's BaseHTTPMiddleware, which runs every request through extra tasks and
    streams and cost a few per cent of the server's CPU per API call."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = SECURITY_HEADERS if scope["path"].startswith("/static") else [
            *SECURITY_HEADERS, (b"cache-control", b"no-store")]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in wanted if name not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(node: Node, *, watch_clocks: bool | None = None, dispatch: bool | None = None) -> FastAPI:
    """The node's application; the clock watcher and, for a node of a federation, the dispatcher of its outbox
    run in-process unless disabled."""
    node.settings.secret()  # refuse to start with a default secret outside demo mode
    run_watcher = node.settings.scheduler_enabled if watch_clocks is None else watch_clocks
    federation = load_context(node)  # refuses to start when federation is on but not set up
    run_dispatcher = federation is not None and (node.settings.dispatcher_enabled if dispatch is None else dispatch)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = ClockWatcher(node.db, node.settings) if run_watcher else None
        dispatcher = Dispatcher(federation) if run_dispatcher and federation is not None else None
        for worker in (watcher, dispatcher):
            if worker:
                worker.start()
        try:
            yield
        finally:
            for worker in (dispatcher, watcher):
                if worker:
                    worker.stop()

    app = FastAPI(title="nohaven node", version=__version__, lifespan=lifespan,
                  description="API of a national 24/7 point-of-contact node.", docs_url="/api/docs",
                  redoc_url=None, openapi_url="/openapi.json")
    app.state.node = node
    app.state.federation = federation
    app.add_middleware(SecurityHeaders)
    problems.install(app, html_handler=render_error)
    app.include_router(api_router)
    app.include_router(evidence_router)
    app.include_router(trace_router)
    app.include_router(ipdata_router)
    app.include_router(federation_router)
    app.include_router(web_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def create_app_from_environment() -> FastAPI:
    """The application of the node the NOHAVEN_* environment names, for `uvicorn --factory` and the workers of
    `nohaven serve --workers N`. The database must be migrated already."""
    return create_app(Node(load_settings()))
