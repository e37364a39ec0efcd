"""The one policy layer: every action on the node is decided here, by role, case membership and request type.

Rules are small objects combined with AllOf / AnyOf; `decide` answers with a reason, `visible_requests`
gives the same answer as a SQL condition for listings. Routes and services never check roles themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from nohaven.auth.roles import Role
from nohaven.requests.models import CaseMember, CooperationRequest

__all__ = ["POLICY", "Action", "Decision", "Exchange", "Peer", "PeerAction", "Subject", "Target", "decide",
           "decide_peer", "visible_requests"]


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
    EVIDENCE_READ = "evidence.read"
    EVIDENCE_ADD = "evidence.add"
    EVIDENCE_SEAL = "evidence.seal"
    EVIDENCE_RECEIVE = "evidence.receive"
    CUSTODY_READ = "custody.read"
    TRACE_CREATE = "trace.create"
    TRACE_READ = "trace.read"
    TRACE_WRITE = "trace.write"  # add hops, resolve them, draft and file their requests, record answers
    TRACE_RESOLVE = "trace.resolve"  # an address to its network, State and point of contact (no case data)


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
    unassigned_incoming: bool = False  # received from another State's node, nobody has taken it yet


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
class MemberOfCase:
    """Membership of an existing case only (evidence always belongs to one)."""

    def check(self, subject: Subject, target: Target) -> bool:
        return subject.user_id in target.case_members

    def describe(self) -> str:
        return "member of the case"


@dataclass(frozen=True)
class UnassignedIncoming:
    """The 24/7 desk: a request received from another node that nobody has taken in hand yet."""

    def check(self, subject: Subject, target: Target) -> bool:
        return target.unassigned_incoming

    def describe(self) -> str:
        return "an incoming request nobody has taken yet"


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
UNASSIGNED = UnassignedIncoming()

# Supervisors see every request of the node (they answer escalations); officers through case membership;
# the central authority through membership and, for the formal MLA requests it owns, by role.
_HANDLE_REQUEST = AnyOf((
    role(Role.SUPERVISOR),
    AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MEMBER)),
    AllOf((role(Role.CENTRAL_AUTHORITY), MLA)),
    AllOf((role(Role.OFFICER), UNASSIGNED)),
))
_CHANGE_REQUEST = AnyOf((
    role(Role.SUPERVISOR),
    AllOf((role(Role.OFFICER), MEMBER)),
    AllOf((role(Role.CENTRAL_AUTHORITY), MLA)),
))

# Evidence: the members of its case who handle requests, and supervisors. Checkpoints and consistency proofs
# reveal only the log's size and hashes, so every role that works cases or audits them may read them.
_CASE_EVIDENCE = AnyOf((role(Role.SUPERVISOR), AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MemberOfCase()))))

# Traces belong to a case, like its requests: its members who handle requests, and supervisors.
_CASE_TRACE = AnyOf((role(Role.SUPERVISOR), AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MemberOfCase()))))

POLICY: dict[Action, Rule] = {
    Action.REQUEST_CREATE: _CHANGE_REQUEST,
    Action.REQUEST_READ: _HANDLE_REQUEST,
    Action.REQUEST_TRANSITION: _CHANGE_REQUEST,
    # Acknowledging an unassigned incoming request is how an officer of the desk takes it (joins its case).
    Action.REQUEST_ACKNOWLEDGE: AnyOf((_CHANGE_REQUEST, AllOf((role(Role.OFFICER), UNASSIGNED)))),
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
    Action.EVIDENCE_READ: _CASE_EVIDENCE,
    Action.EVIDENCE_ADD: _CASE_EVIDENCE,
    Action.EVIDENCE_SEAL: _CASE_EVIDENCE,
    Action.EVIDENCE_RECEIVE: _CASE_EVIDENCE,
    Action.CUSTODY_READ: role(Role.SUPERVISOR, Role.OFFICER, Role.CENTRAL_AUTHORITY, Role.AUDITOR),
    Action.TRACE_CREATE: AnyOf((role(Role.SUPERVISOR), AllOf((role(Role.OFFICER, Role.CENTRAL_AUTHORITY), MEMBER)))),
    Action.TRACE_READ: _CASE_TRACE,
    Action.TRACE_WRITE: _CASE_TRACE,
    Action.TRACE_RESOLVE: role(Role.SUPERVISOR, Role.OFFICER, Role.CENTRAL_AUTHORITY),
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
        unassigned = and_(CooperationRequest.direction == "incoming", ~exists().where(
            CaseMember.case_id == CooperationRequest.case_id))
        return or_(member_of, unassigned)
    if subject.role is Role.CENTRAL_AUTHORITY:
        return or_(member_of, CooperationRequest.type == "mla")
    return false()


# ---- Other States' nodes --------------------------------------------------------------------------------------
# A peer node is authenticated by its signed envelope (nohaven.federation.envelope); what it may then do to this
# node's requests is decided here, like everything else.


class PeerAction(StrEnum):
    CREATE = "federation.create"  # file a request with this node
    UPDATE = "federation.update"  # change the status of, acknowledge or annotate a request exchanged with it
    DELIVER = "federation.deliver"  # deliver data answering a request this node sent it
    GET = "federation.get"  # ask for the state of a request exchanged with it


@dataclass(frozen=True)
class Peer:
    """Another State's node, as its verified envelope names it."""

    state: str
    node_id: str

    def __str__(self) -> str:
        return f"{self.state}/{self.node_id}"


@dataclass(frozen=True)
class Exchange:
    """What a peer's action touches. For CREATE: the States the request names. Otherwise the local request:
    its peer, and this node's side of it (`outgoing`: the peer is the requested node; `incoming`: the requester)."""

    requesting_state: str | None = None
    peer_state: str | None = None
    peer_node_id: str | None = None
    direction: str | None = None
    status: str | None = None  # the status an UPDATE sets
    acknowledges: bool = False  # whether an UPDATE acknowledges


def _is_our_peer(peer: Peer, exchange: Exchange) -> bool:
    return exchange.peer_state == peer.state and exchange.peer_node_id in (None, peer.node_id)


def decide_peer(peer: Peer, action: PeerAction, exchange: Exchange) -> Decision:
    """Allow or refuse a peer node's action, with the reason."""
    if action is PeerAction.CREATE:
        if exchange.requesting_state == peer.state:
            return Decision(True, "a node files requests in the name of its own State")
        return Decision(False, f"{peer} files requests for State {peer.state}, not {exchange.requesting_state}")
    if not _is_our_peer(peer, exchange):
        return Decision(False, f"{action.value}: the request is not exchanged with {peer}")
    if action is PeerAction.DELIVER and exchange.direction != "outgoing":
        return Decision(False, f"{peer} requested this data; only the requested node delivers")
    if action is PeerAction.UPDATE and exchange.direction == "incoming" and (
            exchange.acknowledges or exchange.status not in (None, "Cancelled")):
        return Decision(False, f"{peer} made this request; the requesting node may only withdraw it (Cancelled) "
                               "or add a note")
    return Decision(True, f"{action.value} allowed: the request is exchanged with {peer}")
