"""The clock watcher: warns the on-call supervisor before a clock runs out and escalates after.

State lives in the clocks table only (running → warned → escalated), so a restart loses nothing and
repeats nothing. Notifications are recorded first and e-mailed afterwards, outside the transaction.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.models import User
from nohaven.auth.policy import Action, Subject, visible_requests
from nohaven.auth.service import require
from nohaven.config import Settings
from nohaven.db.engine import Database
from nohaven.directory import service as directory
from nohaven.requests import exchange
from nohaven.requests.clocks import LABELS, ClockKind
from nohaven.requests.models import Clock, CooperationRequest, Notification, RequestEvent
from nohaven.requests.service import refresh_clocks
from nohaven.timeutil import humanize_delta, utcnow

__all__ = ["ClockWatcher", "deliver_email", "tick"]

log = logging.getLogger(__name__)
ACTOR = "scheduler"


@dataclass(frozen=True)
class TickResult:
    warned: int
    escalated: int
    expired: int

    def as_dict(self) -> dict[str, int]:
        return {"warned": self.warned, "escalated": self.escalated, "expired": self.expired}


def _recipients(session: Session, state_code: str, now: datetime) -> list[tuple[str, str | None]]:
    """The on-call supervisor(s) from the rota; without a rota, every active supervisor user of the node."""
    contacts = directory.on_call(session, state_code, "supervisor", now)
    if contacts:
        return [(c.name, c.email) for c in contacts]
    users = session.execute(select(User).where(User.role == "supervisor", User.active.is_(True))).scalars()
    found = [(u.display_name or u.username, u.email) for u in users]
    return found or [("(no supervisor on call)", None)]


def _notify(session: Session, req: CooperationRequest, clock: Clock, level: str, now: datetime,
            state_code: str) -> None:
    label = LABELS.get(ClockKind(clock.kind), clock.kind)
    when = humanize_delta(clock.due_at - now)
    if level == "warning":
        message = f"{req.reference} ({req.type}, {req.priority}): {label} {clock.due_at.isoformat()} ({when})."
    else:
        message = (f"ESCALATION {req.reference} ({req.type}, {req.priority}): {label} {clock.due_at.isoformat()} "
                   f"passed ({when}) with nobody acting. Status {req.status}.")
    for name, email in _recipients(session, state_code, now):
        session.add(Notification(created_at=now, request_id=req.id, clock_kind=clock.kind, level=level,
                                 recipient=name, recipient_email=email, message=message,
                                 email_status="pending" if email else "no_address"))
    req.events.append(RequestEvent(at=now, actor=ACTOR, kind=f"clock_{level}", note=message))
    audit.record(session, actor=ACTOR, action=f"clock.{level}", object_type="request", object_id=req.id,
                 detail={"clock": clock.kind, "due_at": clock.due_at.isoformat()})


def tick(session: Session, now: datetime | None = None) -> TickResult:
    """One pass over clocks whose warning time has come: warn, escalate, expire preserved data."""
    now = now or utcnow()
    node = directory.node_identity(session)
    due = session.execute(
        select(Clock).where(Clock.state.in_(("running", "warned")), Clock.warn_at <= now)
        .order_by(Clock.due_at).with_for_update(skip_locked=True)
    ).scalars().all()
    warned = escalated = expired = 0
    for clock in due:
        req = session.get(CooperationRequest, clock.request_id)
        if req is None:
            continue
        if clock.due_at <= now:
            if clock.kind == ClockKind.PRESERVATION_EXPIRES_AT and req.status == "Preserved":
                req.status = "Expired"
                req.updated_at = now
                req.events.append(RequestEvent(at=now, actor=ACTOR, kind="status", from_status="Preserved",
                                               to_status="Expired", note="preservation period ran out"))
                audit.record(session, actor=ACTOR, action="request.transition", object_type="request",
                             object_id=req.id, detail={"from": "Preserved", "to": "Expired"})
                exchange.tell_peer(session, req, now, status="Expired", note="preservation period ran out")
                expired += 1
            _notify(session, req, clock, "escalation", now, node.state_code)
            clock.state = "escalated"
            escalated += 1
            if req.status == "Expired":
                refresh_clocks(session, req, now)
        elif clock.state == "running":
            _notify(session, req, clock, "warning", now, node.state_code)
            clock.state = "warned"
            warned += 1
    session.flush()
    return TickResult(warned, escalated, expired)


def deliver_email(db: Database, settings: Settings, limit: int = 100) -> int:
    """Send pending notifications by SMTP when it is configured; record success or the error."""
    if not settings.smtp_host:
        return 0
    sent = 0
    with db.session() as session:
        pending = session.execute(
            select(Notification).where(Notification.email_status == "pending").order_by(Notification.id).limit(limit)
            .with_for_update(skip_locked=True)  # several watchers on one PostgreSQL database send each e-mail once
        ).scalars().all()
        for note in pending:
            try:
                _send(settings, note)
            except (OSError, smtplib.SMTPException) as exc:
                note.email_status = "failed"
                note.email_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("e-mail to %s failed: %s", note.recipient, type(exc).__name__)
            else:
                note.email_status = "sent"
                sent += 1
    return sent


def _send(settings: Settings, note: Notification) -> None:
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = note.recipient_email or ""
    msg["Subject"] = ("[nohaven] " + ("ESCALATION " if note.level == "escalation" else "warning ")
                      + note.clock_kind.replace("_", " "))
    msg.set_content(note.message + "\n")
    with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=15) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(msg)


def notifications_for(session: Session, subject: Subject, limit: int = 100) -> list[dict[str, object]]:
    """Recent notifications about requests the subject may see, newest first."""
    require(subject, Action.NOTIFICATION_READ, object_type="notification")
    rows = session.execute(
        select(Notification, CooperationRequest.reference).join(
            CooperationRequest, Notification.request_id == CooperationRequest.id)
        .where(visible_requests(subject)).order_by(Notification.id.desc()).limit(limit)
    ).all()
    return [{"id": n.id, "created_at": n.created_at.isoformat(), "request_id": n.request_id, "reference": ref,
             "clock": n.clock_kind, "level": n.level, "recipient": n.recipient, "message": n.message,
             "email_status": n.email_status} for n, ref in rows]


class ClockWatcher:
    """The in-process scheduler: a daemon thread that ticks every interval until stopped."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nohaven-clock-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def run_once(self) -> TickResult:
        with self.db.session() as session:
            result = tick(session)
        deliver_email(self.db, self.settings)
        return result

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the watcher must outlive one bad pass; the next pass retries
                log.exception("clock watcher pass failed")
            self._stop.wait(self.settings.scheduler_interval_seconds)
