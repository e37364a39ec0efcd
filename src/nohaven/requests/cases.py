"""Cases and their members: need-to-know is granted by membership."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.models import User
from nohaven.auth.policy import Action, Subject, Target
from nohaven.auth.service import require
from nohaven.errors import ConflictError, NotFoundError
from nohaven.requests.models import Case, CaseMember
from nohaven.timeutil import utcnow

__all__ = ["add_member"]


def members_of(session: Session, case_id: int) -> frozenset[int]:
    """The ids of the users with need-to-know on the case."""
    return frozenset(session.execute(select(CaseMember.user_id).where(CaseMember.case_id == case_id)).scalars())


def add_member(session: Session, subject: Subject, reference: str, username: str) -> Case:
    """Give a user need-to-know on a case."""
    case = session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
    if case is None:
        raise NotFoundError(f"case {reference!r} not found")
    members = members_of(session, case.id)
    require(subject, Action.CASE_ADD_MEMBER, object_type="case", object_id=reference,
            target=Target(case_members=members), hide=True)
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"no user named {username!r}")
    if user.id in members:
        raise ConflictError(f"{username} is a member of {reference} already")
    session.add(CaseMember(case_id=case.id, user_id=user.id, added_at=utcnow()))
    audit.record(session, actor=subject.username, action="case.add_member", object_type="case", object_id=reference,
                 detail={"user": username})
    return case
