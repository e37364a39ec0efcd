"""The web session cookie, who is logged in, and the CSRF check on every state-changing request.

The session itself lives in the database (auth.service); the cookie holds only a random value whose hash is
the session's key. A session is "password" after the first factor and "full" after the second.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from nohaven.auth.models import User
from nohaven.auth.policy import Action, Decision, Subject, decide
from nohaven.auth.service import NewWebSession, find_web_session, subject_of
from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.errors import AuthenticationError, PermissionDeniedError
from nohaven.node import Node

__all__ = ["COOKIE", "PRELOGIN_COOKIE", "CsrfUser", "PartialUser", "WebUser", "clear_cookie", "cookie_name",
           "set_cookie"]

COOKIE = "session"
PRELOGIN_COOKIE = "prelogin"  # double-submit token for the log-in form, before any session exists


def cookie_name(settings: Settings, base: str) -> str:
    """NOHAVEN_COOKIE_PREFIX + base: nodes on one host (the demo's, on several ports of 127.0.0.1) need their own
    names, since browsers keep cookies per host, not per port."""
    return f"{settings.cookie_prefix}_{base}"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def node_of(request: Request) -> Node:
    node: Node = request.app.state.node
    return node


@dataclass(frozen=True)
class Viewer:
    """The logged-in user as pages need them: who, which role, which State, and their CSRF token."""

    subject: Subject
    display_name: str
    state_code: str
    csrf_token: str
    cookie: str
    stage: str
    totp_enabled: bool

    def may(self, action: Action) -> bool:
        """Whether the navigation should offer a page; the services still decide each action."""
        decision: Decision = decide(self.subject, action)
        return decision.allowed


def _viewer(request: Request, *, stage: str | None) -> Viewer:
    cookie = request.cookies.get(cookie_name(node_of(request).settings, COOKIE), "")
    if not cookie:
        raise AuthenticationError("log in first")
    with node_of(request).work() as session:
        found = find_web_session(session, cookie)
        if found is None or (stage is not None and found[0].stage != stage):
            raise AuthenticationError("your session has ended or is not complete; log in again")
        row, user = found
        identity = directory.node_identity(session)
        return _as_viewer(user, identity.state_code, row.csrf_token, cookie, row.stage)


def _as_viewer(user: User, state_code: str, csrf: str, cookie: str, stage: str) -> Viewer:
    return Viewer(subject=subject_of(user), display_name=user.display_name or user.username, state_code=state_code,
                  csrf_token=csrf, cookie=cookie, stage=stage, totp_enabled=bool(user.totp_enabled))


def full_session(request: Request) -> Viewer:
    """The user of a fully authenticated session (password and second factor), or 401 → /login."""
    return _viewer(request, stage="full")


def password_session(request: Request) -> Viewer:
    """The user who has given the password but not yet the second factor."""
    return _viewer(request, stage="password")


async def _submitted_token(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()  # cached by Starlette, so the route's Form() parameters still work
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else ""


async def check_csrf(request: Request, viewer: Viewer) -> None:
    """Refuse a POST whose CSRF token is missing or not the session's (403)."""
    if not secrets.compare_digest((await _submitted_token(request)).encode(), viewer.csrf_token.encode()):
        raise PermissionDeniedError("the form's security token is missing or out of date; reload the page and "
                                    "try again")


async def any_session_csrf(request: Request) -> Viewer:
    """Any session, half-way or full (for logging out), with its CSRF token checked."""
    viewer = _viewer(request, stage=None)
    await check_csrf(request, viewer)
    return viewer


async def full_session_csrf(request: Request) -> Viewer:
    viewer = full_session(request)
    await check_csrf(request, viewer)
    return viewer


async def password_session_csrf(request: Request) -> Viewer:
    viewer = password_session(request)
    await check_csrf(request, viewer)
    return viewer


async def prelogin_csrf(request: Request) -> None:
    """The log-in form carries the token of its pre-login cookie (against log-in CSRF)."""
    cookie = request.cookies.get(cookie_name(node_of(request).settings, PRELOGIN_COOKIE), "")
    if not cookie or not secrets.compare_digest((await _submitted_token(request)).encode(), cookie.encode()):
        raise PermissionDeniedError("the log-in form's security token is missing or out of date; reload the page "
                                    "and try again")


WebUser = Annotated[Viewer, Depends(full_session)]
CsrfUser = Annotated[Viewer, Depends(full_session_csrf)]
PartialUser = Annotated[Viewer, Depends(password_session)]
PartialCsrfUser = Annotated[Viewer, Depends(password_session_csrf)]
AnyCsrfUser = Annotated[Viewer, Depends(any_session_csrf)]


def set_cookie(response: Response, node: Node, new: NewWebSession) -> None:
    response.set_cookie(cookie_name(node.settings, COOKIE), new.cookie_value, expires=new.expires_at, httponly=True,
                        samesite="strict", secure=node.settings.cookie_secure, path="/")


def clear_cookie(response: Response, node: Node) -> None:
    response.delete_cookie(cookie_name(node.settings, COOKIE), httponly=True, samesite="strict",
                           secure=node.settings.cookie_secure, path="/")


def set_prelogin_cookie(response: Response, node: Node, token: str) -> None:
    response.set_cookie(cookie_name(node.settings, PRELOGIN_COOKIE), token, max_age=3600, httponly=True,
                        samesite="strict", secure=node.settings.cookie_secure, path="/")
