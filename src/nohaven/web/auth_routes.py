"""Log-in (password, then TOTP or a recovery code), TOTP enrolment and log-out.

Failed attempts are caught inside the unit of work on purpose: the service records each failure (for rate
limiting and the audit log) before raising, and those records must be committed, not rolled back.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from nohaven.auth import service as auth
from nohaven.auth import totp
from nohaven.auth.models import User
from nohaven.directory import service as directory
from nohaven.errors import AuthenticationError, ConflictError, InputError, NohavenError
from nohaven.web.session import (
    PRELOGIN_COOKIE,
    AnyCsrfUser,
    PartialCsrfUser,
    PartialUser,
    Viewer,
    clear_cookie,
    cookie_name,
    node_of,
    prelogin_csrf,
    set_cookie,
    set_prelogin_cookie,
)
from nohaven.web.templating import page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _login_form(request: Request, *, username: str = "", error: str = "", status: int = 200) -> HTMLResponse:
    prelogin = request.cookies.get(cookie_name(node_of(request).settings, PRELOGIN_COOKIE))
    token = prelogin or secrets.token_urlsafe(32)
    response = page(request, "login.html", status=status, csrf_token=token, username=username, error=error)
    set_prelogin_cookie(response, node_of(request), token)
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    return _login_form(request)


@router.post("/login", dependencies=[Depends(prelogin_csrf)])
def login(request: Request, username: Annotated[str, Form()] = "",
          password: Annotated[str, Form()] = "") -> Response:
    node = node_of(request)
    error: NohavenError | None = None
    try:  # outside the unit of work, so that node.work() records the failed attempt after the rollback
        with node.work() as session:
            user = auth.login_password(session, node.settings, username.strip(), password, _client(request))
            new = auth.open_web_session(session, node.settings, user, "password")
            enrolled = user.totp_enabled
    except AuthenticationError as exc:  # includes RateLimitedError (429)
        error = exc
    if error is not None:
        return _login_form(request, username=username, error=error.diagnostics(), status=error.http_status)
    response = RedirectResponse("/login/totp" if enrolled else "/enrol", status_code=303)
    set_cookie(response, node, new)
    return response


@router.get("/login/totp")
def totp_page(request: Request, viewer: PartialUser) -> Response:
    if not viewer.totp_enabled:
        return RedirectResponse("/enrol", status_code=303)
    return page(request, "login_totp.html", viewer)


def _upgrade(request: Request, session: Session, user: User, old_cookie: str) -> auth.NewWebSession:
    """Replace the half-way session by a full one under a new cookie value (no session fixation)."""
    node = node_of(request)
    auth.close_web_session(session, old_cookie)
    return auth.open_web_session(session, node.settings, user, "full")


@router.post("/login/totp")
def totp_submit(request: Request, viewer: PartialCsrfUser, code: Annotated[str, Form()] = "") -> Response:
    node = node_of(request)
    error: NohavenError | None = None
    try:  # outside the unit of work, so that node.work() records the failed attempt after the rollback
        with node.work() as session:
            user = auth.get_user(session, viewer.subject.username)
            auth.check_second_factor(session, node.settings, user, code, _client(request))
            new = _upgrade(request, session, user, viewer.cookie)
    except AuthenticationError as exc:
        error = exc
    if error is not None:
        return page(request, "login_totp.html", viewer, status=error.http_status, error=error.diagnostics())
    response = RedirectResponse("/", status_code=303)
    set_cookie(response, node, new)
    return response


def _enrol_form(request: Request, viewer: Viewer, *, status: int = 200, error: str = "") -> HTMLResponse:
    """The secret being enrolled (a new one if none is pending) and its otpauth URI."""
    with node_of(request).work() as session:
        user = auth.get_user(session, viewer.subject.username)
        secret = auth.totp_secret(user, node_of(request).settings) or auth.begin_totp_enrolment(
            user, node_of(request).settings)
        uri = totp.provisioning_uri(secret, user.username, directory.node_identity(session).state_code)
    return page(request, "enrol.html", viewer, status=status, error=error, secret=secret, uri=uri)


@router.get("/enrol")
def enrol_page(request: Request, viewer: PartialUser) -> Response:
    """Start (or continue) TOTP enrolment: the secret and its otpauth URI, and a field for the first code."""
    if viewer.totp_enabled:
        return RedirectResponse("/login/totp", status_code=303)
    return _enrol_form(request, viewer)


@router.post("/enrol")
def enrol_submit(request: Request, viewer: PartialCsrfUser, code: Annotated[str, Form()] = "") -> Response:
    """Confirm the first code; the recovery codes are shown once and the session becomes full."""
    node = node_of(request)
    if viewer.totp_enabled:
        return RedirectResponse("/login/totp", status_code=303)
    try:
        with node.work() as session:
            user = auth.get_user(session, viewer.subject.username)
            codes = auth.confirm_totp_enrolment(session, node.settings, user, code)
            new = _upgrade(request, session, user, viewer.cookie)
    except (InputError, ConflictError) as exc:
        return _enrol_form(request, viewer, status=exc.http_status, error=exc.diagnostics())
    response = page(request, "recovery_codes.html", None, codes=codes)
    set_cookie(response, node, new)
    return response


@router.post("/logout")
def logout(request: Request, viewer: AnyCsrfUser) -> Response:
    node = node_of(request)
    with node.work() as session:
        auth.close_web_session(session, viewer.cookie)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, node)
    return response

