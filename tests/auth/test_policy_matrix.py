"""The whole role × action × membership × request-type matrix of the policy layer, against a table written out
by hand; and the SQL form of the read rule (`visible_requests`) against `decide`, over a populated node."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from conftest import make_user, request_body
from nohaven.auth.policy import Action, Subject, Target, decide, visible_requests
from nohaven.auth.roles import Role
from nohaven.requests import cases
from nohaven.requests import service as requests
from nohaven.requests.models import CaseMember, CooperationRequest

ME = 7
OTHER = 8

# Columns, in this order: the subject is a member of the case / is not / the request opens a new case,
# each for an MLA request and for a preservation request.
COLUMNS = [
    ("member", "mla"), ("member", "preservation"),
    ("outsider", "mla"), ("outsider", "preservation"),
    ("new_case", "mla"), ("new_case", "preservation"),
]
ALL, NONE = "YYYYYY", "NNNNNN"

# Expected decisions, written out by hand: Y = allowed, N = refused.
EXPECTED: dict[Action, dict[Role, str]] = {
    Action.REQUEST_READ: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYYNYY",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.REQUEST_CREATE: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YNYNYN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.REQUEST_TRANSITION: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YNYNYN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.REQUEST_ACKNOWLEDGE: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YNYNYN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.REQUEST_LINK: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YNYNYN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.CASE_CREATE: {
        Role.OFFICER: ALL, Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: ALL, Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.CASE_READ: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNYY",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.CASE_ADD_MEMBER: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNYY",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.DIRECTORY_READ: {
        Role.OFFICER: ALL, Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: ALL, Role.AUDITOR: ALL, Role.ADMIN: ALL,
    },
    Action.DIRECTORY_WRITE: {
        Role.OFFICER: NONE, Role.SUPERVISOR: NONE, Role.CENTRAL_AUTHORITY: NONE, Role.AUDITOR: NONE, Role.ADMIN: ALL,
    },
    Action.AUDIT_READ: {
        Role.OFFICER: NONE, Role.SUPERVISOR: NONE, Role.CENTRAL_AUTHORITY: NONE, Role.AUDITOR: ALL, Role.ADMIN: NONE,
    },
    Action.USER_MANAGE: {
        Role.OFFICER: NONE, Role.SUPERVISOR: NONE, Role.CENTRAL_AUTHORITY: NONE, Role.AUDITOR: NONE, Role.ADMIN: ALL,
    },
    Action.TOKEN_CREATE_OWN: {
        Role.OFFICER: ALL, Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: ALL, Role.AUDITOR: ALL, Role.ADMIN: ALL,
    },
    Action.TOKEN_CREATE_ANY: {
        Role.OFFICER: NONE, Role.SUPERVISOR: NONE, Role.CENTRAL_AUTHORITY: NONE, Role.AUDITOR: NONE, Role.ADMIN: ALL,
    },
    Action.NOTIFICATION_READ: {
        Role.OFFICER: ALL, Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: NONE, Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    # Evidence belongs to an existing case: a "new case" grants nothing.
    Action.EVIDENCE_READ: {
        Role.OFFICER: "YYNNNN", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNNN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.EVIDENCE_ADD: {
        Role.OFFICER: "YYNNNN", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNNN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.EVIDENCE_SEAL: {
        Role.OFFICER: "YYNNNN", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNNN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.EVIDENCE_RECEIVE: {
        Role.OFFICER: "YYNNNN", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNNN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.CUSTODY_READ: {
        Role.OFFICER: ALL, Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: ALL, Role.AUDITOR: ALL, Role.ADMIN: NONE,
    },
    Action.TRACE_CREATE: {
        Role.OFFICER: "YYNNYY", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNYY",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.TRACE_READ: {
        Role.OFFICER: "YYNNNN", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNNN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.TRACE_WRITE: {
        Role.OFFICER: "YYNNNN", Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: "YYNNNN",
        Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
    Action.TRACE_RESOLVE: {
        Role.OFFICER: ALL, Role.SUPERVISOR: ALL, Role.CENTRAL_AUTHORITY: ALL, Role.AUDITOR: NONE, Role.ADMIN: NONE,
    },
}


def _target(membership: str, request_type: str) -> Target:
    members = frozenset({ME, OTHER}) if membership == "member" else frozenset({OTHER})
    return Target(case_members=members, request_type=request_type, new_case=membership == "new_case")


def test_the_table_covers_every_action_and_role() -> None:
    assert set(EXPECTED) == set(Action)
    for action, row in EXPECTED.items():
        assert set(row) == set(Role), action


CASES = [(action, role, i) for action in Action for role in Role for i in range(len(COLUMNS))]


@pytest.mark.parametrize(("action", "role", "column"), CASES,
                         ids=[f"{a.value}-{r.value}-{'-'.join(COLUMNS[i])}" for a, r, i in CASES])
def test_decide_matches_the_table(action: Action, role: Role, column: int) -> None:
    membership, request_type = COLUMNS[column]
    subject = Subject(user_id=ME, username="someone", role=role)
    decision = decide(subject, action, _target(membership, request_type))
    expected = EXPECTED[action][role][column] == "Y"
    assert decision.allowed is expected, decision.reason
    if not decision.allowed:
        # A refusal says what was needed and what the caller is.
        assert action.value in decision.reason
        assert role.value in decision.reason


def test_without_a_target_nobody_is_a_member() -> None:
    officer = Subject(user_id=ME, username="olga", role=Role.OFFICER)
    assert not decide(officer, Action.REQUEST_READ).allowed
    assert decide(Subject(user_id=ME, username="sam", role=Role.SUPERVISOR), Action.REQUEST_READ).allowed


def _populate(node: Any, people: dict[str, Subject]) -> None:
    """Several cases with different members and request types."""
    people["oona"] = make_user(node, "oona", "officer")
    people["cato"] = make_user(node, "cato", "central_authority")
    plan = [
        # (creator, case reference, type)
        ("olga", "C-1", "preservation"),
        ("olga", "C-1", "mla"),
        ("sam", "C-2", "subscriber"),
        ("sam", "C-3", "mla"),
        ("cara", "C-4", "mla"),
        ("sam", "C-4", "preservation"),
        ("sam", "C-5", "emergency"),
        ("sam", "C-6", "traffic_disclosure"),
        ("oona", "C-7", "preservation"),
    ]
    with node.work() as session:
        for creator, case, kind in plan:
            requests.create_request(session, people[creator], request_body(type=kind, case_reference=case))
        cases.add_member(session, people["sam"], "C-2", "otto")
        cases.add_member(session, people["cara"], "C-4", "olga")
        cases.add_member(session, people["sam"], "C-5", "cara")
        cases.add_member(session, people["sam"], "C-6", "otto")


def test_visible_requests_is_exactly_what_decide_allows_to_read(node: Any, people: dict[str, Subject]) -> None:
    _populate(node, people)
    with node.work() as session:
        rows = session.execute(select(CooperationRequest)).scalars().all()
        members: dict[int, set[int]] = {}
        for case_id, user_id in session.execute(select(CaseMember.case_id, CaseMember.user_id)):
            members.setdefault(case_id, set()).add(user_id)
        seen: dict[str, set[str]] = {}
        for name, subject in people.items():
            by_sql = set(session.execute(
                select(CooperationRequest.id).where(visible_requests(subject))).scalars())
            by_policy = {r.id for r in rows if decide(subject, Action.REQUEST_READ, Target(
                case_members=frozenset(members.get(r.case_id, set())), request_type=r.type)).allowed}
            assert by_sql == by_policy, name
            refs = {r.case.reference + "/" + r.type for r in rows if r.id in by_sql}
            seen[name] = refs
    assert len(rows) == 9
    # Spot checks that the populated data really exercises the rules.
    assert seen["olga"] == {"C-1/preservation", "C-1/mla", "C-4/mla", "C-4/preservation"}
    assert seen["otto"] == {"C-2/subscriber", "C-6/traffic_disclosure"}
    assert seen["oona"] == {"C-7/preservation"}
    assert seen["cara"] == {"C-1/mla", "C-3/mla", "C-4/mla", "C-4/preservation", "C-5/emergency"}
    assert seen["cato"] == {"C-1/mla", "C-3/mla", "C-4/mla"}
    assert len(seen["sam"]) == 9
    assert seen["aldo"] == seen["ada"] == set()
