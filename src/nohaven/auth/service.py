"""Users, API tokens, log-in with rate limiting, TOTP enrolment and web sessions."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth import totp
from nohaven.auth.models import ApiToken, LoginAttempt, User, WebSession
from nohaven.auth.passwords import check_strength, hash_password, verify_password
from nohaven.auth.policy import Action, Exchange, Peer, PeerAction, Subject, Target, decide, decide_peer
from nohaven.auth.roles import Role
from nohaven.config import Settings
from nohaven.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)
from nohaven.timeutil import utcnow

__all__ = [
    "add_user",
    "authenticate_token",
    "create_token",
    "login_password",
    "require_peer",
    "subject_of",
]

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")
TOKEN_PREFIX = "nhv_"  # noqa: S105 - a prefix, not a secret
TOKEN_USE_RESOLUTION = timedelta(minutes=5)


def subject_of(user: User) -> Subject:
    return Subject(user_id=user.id, username=user.username, role=Role(user.role))


def require(subject: Subject, action: Action, *, object_type: str, object_id: object = "",
            target: Target | None = None, hide: bool = False) -> None:
    """Ask the policy; a refusal is raised (404 when hidden) and audited by Node.work() after the rollback."""
    decision = decide(subject, action, target)
    if decision.allowed:
        return
    trail = {"actor": subject.username, "action": action.value, "object_type": object_type,
             "object_id": str(object_id), "reason": decision.reason}
    if hide:
        error: NotFoundError | PermissionDeniedError = NotFoundError(f"{object_type} {object_id} not found")
    else:
        error = PermissionDeniedError(decision.reason)
    error.audit = trail
    raise error


def require_peer(peer: Peer, action: PeerAction, exchange: Exchange, *, object_id: object = "") -> None:
    """Ask the policy about another State's node; a refusal is raised and audited like a user's."""
    decision = decide_peer(peer, action, exchange)
    if decision.allowed:
        return
    error = PermissionDeniedError(decision.reason)
    error.audit = {"actor": f"node:{peer}", "action": action.value, "object_type": "request",
                   "object_id": str(object_id), "reason": decision.reason}
    raise error


def get_user(session: Session, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    return user


def add_user(session: Session, *, username: str, role: str, password: str, actor: str,
             display_name: str = "", email: str | None = None) -> User:
    """Create a user; the name, role and password are checked first."""
    if not USERNAME.match(username or ""):
        raise InputError.field("username", "2–64 characters: lower-case letters, digits, '.', '_' or '-', "
                               "starting with a letter")
    try:
        role_value = Role(role)
    except ValueError:
        raise InputError.field("role", f"{role!r} is not a role; roles: {', '.join(r.value for r in Role)}") from None
    check_strength(password)
    if session.execute(select(User.id).where(User.username == username)).first():
        raise ConflictError(f"a user named {username!r} exists already")
    user = User(username=username, role=role_value.value, password_hash=hash_password(password),
                display_name=display_name or username, email=email, created_at=utcnow(), recovery_codes=[])
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.create", object_type="user", object_id=user.username,
                 detail={"role": role_value.value})
    return user


def add_user_as(session: Session, subject: Subject, **fields: Any) -> User:
    """add_user for a caller the policy lets manage users."""
    require(subject, Action.USER_MANAGE, object_type="user", object_id=fields.get("username", ""))
    return add_user(session, actor=subject.username, **fields)


def create_token_as(session: Session, subject: Subject, username: str, label: str = "") -> str:
    """A token for yourself, or for anyone if you may manage tokens of others."""
    action = Action.TOKEN_CREATE_OWN if username == subject.username else Action.TOKEN_CREATE_ANY
    require(subject, action, object_type="user", object_id=username)
    return create_token(session, get_user(session, username), actor=subject.username, label=label)


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.username)).scalars())


def create_token(session: Session, user: User, *, actor: str, label: str = "") -> str:
    """A new API bearer token for the user; only its SHA-256 is stored, the token is shown once."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_sha256(token), prefix=token[:10], label=label,
                         created_at=utcnow()))
    audit.record(session, actor=actor, action="token.create", object_type="user", object_id=user.username,
                 detail={"prefix": token[:10], "label": label})
    return token


def authenticate_token(session: Session, token: str) -> User:
    """The active user owning this bearer token, or AuthenticationError."""
    if not token.startswith(TOKEN_PREFIX):
        raise AuthenticationError("the bearer token is not a nohaven token")
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == _sha256(token))).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("the bearer token is unknown or revoked")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthenticationError("the token's user is disabled")
    return user


def token_use_is_stale(session: Session, token: str) -> bool:
    """Whether the token's last-use time is older than TOKEN_USE_RESOLUTION (so worth a write)."""
    last = session.execute(select(ApiToken.last_used_at).where(ApiToken.token_hash == _sha256(token))).scalar()
    return last is None or utcnow() - last > TOKEN_USE_RESOLUTION


def note_token_use(session: Session, token: str) -> None:
    """Record when a token was last used (to the nearest few minutes, to keep API reads free of writes)."""
    row = session.execute(select(ApiToken).where(ApiToken.token_hash == _sha256(token))).scalar_one_or_none()
    if row is not None:
        row.last_used_at = utcnow()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _check_rate(session: Session, settings: Settings, username: str, client: str) -> None:
    since = utcnow() - timedelta(seconds=settings.login_window_seconds)
    failures = session.execute(
        select(func.count()).select_from(LoginAttempt).where(
            LoginAttempt.at >= since,
            LoginAttempt.success.is_(False),
            (LoginAttempt.username == username) | ((LoginAttempt.client == client) & (LoginAttempt.client != "")),
        )
    ).scalar_one()
    if failures >= settings.login_max_failures:
        raise RateLimitedError(
            f"too many failed log-ins for this account or address; try again in "
            f"{settings.login_window_seconds // 60} minutes"
        )


def login_password(session: Session, settings: Settings, username: str, password: str, client: str = "") -> User:
    """Check user name and password, with rate limiting; every attempt is recorded and audited."""
    _check_rate(session, settings, username, client)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    ok = verify_password(user.password_hash if user else None, password) and user is not None and user.active
    if not ok or user is None:
        raise _failed_login("user name or password is wrong", username, client, "login.password",
                            {"client": client})
    session.add(LoginAttempt(username=username[:64], client=client[:64], at=utcnow(), success=True))
    audit.record(session, actor=username[:64], action="login.password", object_type="user",
                 object_id=username[:64], detail={"client": client})
    return user


def _failed_login(message: str, username: str, client: str, action: str, detail: dict[str, Any]) -> AuthenticationError:
    """The error for a failed log-in step. The caller's transaction is rolled back with it, so the attempt (for
    rate limiting) and its audit entry travel on the error and Node.work() records them in a transaction of
    their own — a failure can never be lost by a caller that lets the error escape."""
    error = AuthenticationError(message)
    error.audit = {"actor": username[:64] or "-", "action": action, "object_type": "user",
                   "object_id": username[:64], "outcome": "failed", "reason": message, **detail}
    error.login_attempt = (username[:64], client[:64])
    return error


def begin_totp_enrolment(user: User, settings: Settings) -> str:
    """A fresh secret, stored encrypted on the user but not active until a code from it is confirmed."""
    secret = totp.new_secret()
    set_totp_secret(user, settings, secret)
    user.totp_enabled = False
    return secret


def set_totp_secret(user: User, settings: Settings, secret: str) -> None:
    """Store a TOTP secret, encrypted under the node's secret key."""
    user.totp_secret = totp.seal(secret, settings.secret())
    user.totp_last_step = 0


def totp_secret(user: User, settings: Settings) -> str | None:
    """The user's TOTP secret in clear (for enrolment display and code checks), or None."""
    return totp.unseal(user.totp_secret, settings.secret()) if user.totp_secret else None


def confirm_totp_enrolment(session: Session, settings: Settings, user: User, code: str) -> list[str]:
    """Activate TOTP after a correct code; returns the recovery codes, shown once."""
    secret = totp_secret(user, settings)
    if not secret:
        raise ConflictError("enrolment was not started")
    step = totp.verify_code(secret, code, user.totp_last_step)
    if step is None:
        raise InputError.field("code", "the code does not match; check the clock of your device and try again")
    codes = totp.new_recovery_codes()
    user.totp_enabled = True
    user.totp_last_step = step
    user.recovery_codes = [totp.hash_recovery_code(c) for c in codes]
    audit.record(session, actor=user.username, action="totp.enrol", object_type="user", object_id=user.username)
    return codes


def check_second_factor(session: Session, settings: Settings, user: User, code: str, client: str = "") -> None:
    """Accept a current TOTP code or an unused recovery code (which is then spent)."""
    _check_rate(session, settings, user.username, client)
    ok = False
    how = "totp"
    secret = totp_secret(user, settings) if user.totp_enabled else None
    if secret:
        step = totp.verify_code(secret, code, user.totp_last_step)
        if step is not None:
            user.totp_last_step = step
            ok = True
        else:
            hashed = totp.hash_recovery_code(code)
            if hashed in (user.recovery_codes or []):
                user.recovery_codes = [c for c in user.recovery_codes if c != hashed]
                ok = True
                how = "recovery_code"
    if not ok:
        raise _failed_login("the code is wrong or was used already", user.username, client, "login.second_factor",
                            {"method": how})
    session.add(LoginAttempt(username=user.username, client=client[:64], at=utcnow(), success=True))
    audit.record(session, actor=user.username, action="login.second_factor", object_type="user",
                 object_id=user.username, detail={"method": how})


@dataclass(frozen=True)
class NewWebSession:
    cookie_value: str
    csrf_token: str
    expires_at: datetime


def open_web_session(session: Session, settings: Settings, user: User, stage: str) -> NewWebSession:
    value = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = utcnow() + timedelta(hours=settings.session_hours if stage == "full" else 0.25)
    session.add(WebSession(id=_sha256(value), user_id=user.id, stage=stage, csrf_token=csrf,
                           created_at=utcnow(), expires_at=expires))
    return NewWebSession(value, csrf, expires)


def find_web_session(session: Session, cookie_value: str) -> tuple[WebSession, User] | None:
    row = session.get(WebSession, _sha256(cookie_value))
    if row is None or row.expires_at <= utcnow():
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        return None
    return row, user


def close_web_session(session: Session, cookie_value: str) -> None:
    session.execute(delete(WebSession).where(WebSession.id == _sha256(cookie_value)))
