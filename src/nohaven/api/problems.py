"""RFC 9457 problem+json for every error the API returns; never a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nohaven.errors import AuthenticationError, NohavenError
from nohaven.validation import field_path

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str, instance: str, **extra: Any) -> JSONResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, "instance": instance}
    body.update(extra)
    headers = {"WWW-Authenticate": 'Bearer realm="nohaven"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    out = []
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        kind = error.get("type", "")
        if kind == "missing":
            message = "required"
        elif kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "json_invalid":
            message = "the body is not valid JSON"
        out.append({"field": field_path(loc) if loc else "(body)", "message": message})
    return out


def install(app: FastAPI, html_handler: Any = None) -> None:
    """Register the handlers; routes outside /api may render HTML instead through `html_handler`."""

    def wants_html(request: Request) -> bool:
        return html_handler is not None and not request.url.path.startswith(("/api", "/federation"))

    @app.exception_handler(NohavenError)
    async def _nohaven(request: Request, exc: NohavenError) -> Response:
        if wants_html(request):
            return html_handler(request, exc.http_status, exc.title, exc.diagnostics())  # type: ignore[no-any-return]
        body = exc.as_problem()
        body["instance"] = request.url.path
        headers = {"WWW-Authenticate": 'Bearer realm="nohaven"'} if isinstance(exc, AuthenticationError) else None
        return JSONResponse(body, status_code=exc.http_status, media_type=PROBLEM, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        if wants_html(request):
            return html_handler(request, 422, "Invalid input", detail)  # type: ignore[no-any-return]
        return problem(422, "Invalid input", detail, request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = str(exc.detail) if exc.detail else "error"
        if wants_html(request):
            return html_handler(request, exc.status_code, detail, detail)  # type: ignore[no-any-return]
        return problem(exc.status_code, detail if exc.status_code != 404 else "Not found",
                       detail if exc.status_code != 404 else f"no such resource: {request.url.path}",
                       request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__,
                  exc_info=exc)
        return problem(500, "Internal error", "the node could not complete this; the error is logged",
                       request.url.path)
