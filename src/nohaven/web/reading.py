"""Reads the web UI needs whose domain functions leave the policy check to their caller (as the API routes do).

Each asks the policy first, exactly as its /api/v1 counterpart does, and audits what the API audits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.audit.log import AuditVerification
from nohaven.auth.policy import Action, Subject
from nohaven.auth.service import require
from nohaven.directory import service as directory
from nohaven.directory.models import State
from nohaven.requests.escalation import notifications_for

__all__ = ["audit_page", "notifications", "states", "verify_audit"]

AUDIT_PAGE = 50


def states(session: Session, subject: Subject) -> list[State]:
    """Every State of the directory, with agencies and contacts loaded by the caller's session."""
    require(session, subject, Action.DIRECTORY_READ, object_type="directory")
    return directory.list_states(session)


def notifications(session: Session, subject: Subject, limit: int = 100) -> list[dict[str, object]]:
    require(session, subject, Action.NOTIFICATION_READ, object_type="notification")
    return notifications_for(session, subject, limit)


def audit_page(session: Session, subject: Subject, *, before: int | None, actor: str | None,
               object_type: str | None, object_id: str | None) -> list[dict[str, Any]]:
    """One page of the audit log, newest first; reading it is itself audited."""
    require(session, subject, Action.AUDIT_READ, object_type="audit")
    rows = [audit.entry_view(e) for e in audit.entries(session, limit=AUDIT_PAGE, before_seq=before, actor=actor,
                                                        object_type=object_type, object_id=object_id)]
    audit.record(session, actor=subject.username, action="audit.read", object_type="audit",
                 detail={"count": len(rows), "before": before, "actor": actor, "object_type": object_type,
                         "object_id": object_id})
    return rows


def verify_audit(session: Session, subject: Subject) -> AuditVerification:
    require(session, subject, Action.AUDIT_READ, object_type="audit")
    return audit.verify(session)
