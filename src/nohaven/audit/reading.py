"""The auditor's side of the log: reading it (itself audited) and verifying it, as the policy allows."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from nohaven.audit import log
from nohaven.audit.log import AuditVerification
from nohaven.auth.policy import Action, Subject
from nohaven.auth.service import require

__all__ = ["read_page", "verify_as"]


def read_page(session: Session, subject: Subject, *, limit: int = 50, before: int | None = None,
              actor: str | None = None, object_type: str | None = None,
              object_id: str | None = None) -> list[dict[str, Any]]:
    """One page of the log, newest first; who read what is recorded in the log too."""
    require(subject, Action.AUDIT_READ, object_type="audit")
    rows = [log.entry_view(e) for e in log.entries(session, limit=limit, before_seq=before, actor=actor,
                                                    object_type=object_type, object_id=object_id)]
    log.record(session, actor=subject.username, action="audit.read", object_type="audit",
               detail={"count": len(rows), "before": before, "actor": actor, "object_type": object_type,
                       "object_id": object_id})
    return rows


def verify_as(session: Session, subject: Subject) -> AuditVerification:
    """Walk the chain for an auditor."""
    require(subject, Action.AUDIT_READ, object_type="audit")
    result = log.verify(session)
    log.record(session, actor=subject.username, action="audit.verify", object_type="audit",
               outcome="ok" if result.ok else "broken", detail=result.as_dict())
    return result
