"""The one policy layer: every action on the node is decided here, by role, case membership and request type.

Rules are small objects combined with AllOf / AnyOf; `decide` answers with a reason, `visible_requests`
gives the same answer as a SQL condition for listings. Routes and services never check roles themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, false, or_, select, true

from nohaven.auth.roles import Role
from nohaven.requests.models import CaseMember, CooperationRequest

__all__ = ["POLICY", "Action", "Decision", "Subject", "Target", "decide", "visible_requests"]


class Action(StrEnum):
    REQUEST_CREATE = "request.create"
    REQUEST_READ = "request.read"
    REQUEST_TRANSITION = "request.transition"
    REQUEST_ACKNOWLEDGE = "request.acknowledge"
    REQUEST_LINK = "request.link"
    CASE_CREATE = "case.create"
    CASE_READ = "case.read"
    CASE_ADD_MEMBER = "case.add_member"
    DIRECTORY_READ = "directory.read"
    DIRECTORY_WRITE = "directory.write"
    AUDIT_READ = "audit.read"
    USER_MANAGE = "user.manage"
    TOKEN_CREATE_OWN = "token.create_own"  # noqa: S105 - an action name
    TOKEN_CREATE_ANY = "token.create_any"  # noqa: S105 - an action name
    NOTIFICATION_READ = "notification.read"


@dataclass(frozen=True)
class Subject:
    """Who acts."""

    user_id: int
    username: str
    role: Role


@dataclass(frozen=True)
class Target:
    """What the action touches: the case's members, the request's type, and whether the case is new."""

    case_members: frozenset[int] = field(default_factory=frozenset)
    request_type: str | None = None
    new_case: bool = False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


class Rule(Protocol):
    def check(self, subject: Subject, target: Target) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class HasRole:
    roles: tuple[Role, ...]

    def check(self, subject: Subject, target: Target) -> bool:
        return subject.role in self.roles

    def describe(self) -> str:
        return "role " + " or ".join(r.value for r in self.roles)


@dataclass(frozen=True)
class CaseMemberOrNewCase:
    def check(self, subject: Subject, target: Target) -> bool:
        return target.new_case or subject.user_id in target.case_members

    def describe(self) -> str:
        return "member of the case"


@dataclass(frozen=True)
class RequestTypeIs:
    request_type: str

    def check(self, subject: Subject, target: Target) -> bool:
        return target.request_type == self.request_type

    def describe(self) -> str:
        return f"request type {self.request_type}"


@dataclass(frozen=True)
class AllOf:
    rules: tuple[Rule, ...]

    def check(self, subject: Subject, target: Target) -> bool:
        return all(rule.check(subject, target) for rule in self.rules)

    def describe(self) -> str:
        return " and ".join(rule.describe() for rule in self.rules)


@dataclass(frozen=True)
class AnyOf:
    rules: tuple[Rule, ...]

    def check(self, subject: Subject, target: Target) -> bool:
        return any(rule.check(subject, target) for rule in self.rules)

    def describe(self) -> str:
        return "; or ".join(f"({rule.describe()})" for rule in self.rules)


def role(*roles: Role) -> HasRole:
    return HasRole(roles)


MEMBER = CaseMemberOrNewCase()
MLA = RequestTypeIs("mla")

# Supervisors see every request of the node (they answer escalations); officers through case membership;
# the central authority through membership and, for the formal MLA requests it owns, by role.
_HANDLE_REQUEST = AnyOf((
    role(Role.SUPERVISOR),
    AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MEMBER)),
    AllOf((role(Role.CENTRAL_AUTHORITY), MLA)),
))
_CHANGE_REQUEST = AnyOf((
    role(Role.SUPERVISOR),
    AllOf((role(Role.OFFICER), MEMBER)),
    AllOf((role(Role.CENTRAL_AUTHORITY), MLA)),
))

POLICY: dict[Action, Rule] = {
    Action.REQUEST_CREATE: _CHANGE_REQUEST,
    Action.REQUEST_READ: _HANDLE_REQUEST,
    Action.REQUEST_TRANSITION: _CHANGE_REQUEST,
    Action.REQUEST_ACKNOWLEDGE: _CHANGE_REQUEST,
    Action.REQUEST_LINK: _CHANGE_REQUEST,
    Action.CASE_CREATE: role(Role.OFFICER, Role.SUPERVISOR, Role.CENTRAL_AUTHORITY),
    Action.CASE_READ: AnyOf((role(Role.SUPERVISOR), AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MEMBER)))),
    Action.CASE_ADD_MEMBER: AnyOf((role(Role.SUPERVISOR), AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MEMBER)))),
    Action.DIRECTORY_READ: role(*Role),
    Action.DIRECTORY_WRITE: role(Role.ADMIN),
    Action.AUDIT_READ: role(Role.AUDITOR),
    Action.USER_MANAGE: role(Role.ADMIN),
    Action.TOKEN_CREATE_OWN: role(*Role),
    Action.TOKEN_CREATE_ANY: role(Role.ADMIN),
    Action.NOTIFICATION_READ: role(Role.SUPERVISOR, Role.OFFICER),
}


def decide(subject: Subject, action: Action, target: Target | None = None) -> Decision:
    """Allow or refuse, with the rule that decided."""
    rule = POLICY[action]
    if rule.check(subject, target or Target()):
        return Decision(True, f"{action.value} allowed: {rule.describe()}")
    return Decision(False, f"{action.value} needs {rule.describe()}; {subject.username} is {subject.role.value}")


def visible_requests(subject: Subject) -> ColumnElement[bool]:
    """The REQUEST_READ rule as a SQL condition on cooperation_requests, for listings."""
    member_of = CooperationRequest.case_id.in_(
        select(CaseMember.case_id).where(CaseMember.user_id == subject.user_id)
    )
    if subject.role is Role.SUPERVISOR:
        return true()
    if subject.role is Role.OFFICER:
        return member_of
    if subject.role is Role.CENTRAL_AUTHORITY:
        return or_(member_of, CooperationRequest.type == "mla")
    return false()
