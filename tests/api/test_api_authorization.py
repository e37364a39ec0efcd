"""Authorization through the API: 401 without a token, 403 for the wrong role, 404 without need-to-know,
and every refusal in the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from conftest import auth, make_token, request_body
from nohaven.audit.models import AuditEntry

PROBLEM = "application/problem+json"


def _create(client: Any, token: str, **overrides: Any) -> dict[str, Any]:
    response = client.post("/api/v1/requests", json=request_body(**overrides), headers=auth(token))
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/v1/requests"), ("get", "/api/v1/requests/1"), ("post", "/api/v1/requests"),
    ("get", "/api/v1/directory/states"), ("get", "/api/v1/audit"), ("get", "/api/v1/me"),
])
def test_missing_token_is_401_problem_with_www_authenticate(client: Any, method: str, path: str) -> None:
    response = client.request(method, path, json={} if method == "post" else None)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    assert response.json()["status"] == 401


@pytest.mark.parametrize("header", ["Bearer nhv_not-a-real-token", "Bearer something", "Basic dXNlcjpwdw==",
                                    "Bearer "])
def test_bad_token_is_401(client: Any, node: Any, people: Any, header: str) -> None:
    response = client.get("/api/v1/requests", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM)
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(("user", "method", "path"), [
    ("aldo", "post", "/api/v1/requests"),     # an auditor files no requests
    ("ada", "post", "/api/v1/requests"),      # nor does an admin
    ("olga", "get", "/api/v1/audit"),         # an officer does not read the audit log
    ("sam", "get", "/api/v1/audit/verify"),
    ("cara", "get", "/api/v1/notifications"),
    ("olga", "put", "/api/v1/directory"),
])
def test_wrong_role_is_403(client: Any, node: Any, people: Any, user: str, method: str, path: str) -> None:
    token = make_token(node, user)
    body: Any = None
    if path == "/api/v1/requests":
        body = request_body()
    elif path == "/api/v1/directory":
        body = client.get("/api/v1/directory", headers=auth(make_token(node, "ada"))).json()
    response = client.request(method, path, json=body, headers=auth(token))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert user in response.json()["detail"]


def test_officer_outside_the_case_gets_404_and_does_not_see_it_listed(client: Any, node: Any, people: Any) -> None:
    olga, otto = make_token(node, "olga"), make_token(node, "otto")
    created = _create(client, olga)
    hidden = client.get(f"/api/v1/requests/{created['id']}", headers=auth(otto))
    assert hidden.status_code == 404
    assert hidden.headers["content-type"].startswith(PROBLEM)
    # The same answer as for a request that does not exist at all: existence does not leak.
    missing = client.get("/api/v1/requests/99999", headers=auth(otto))
    assert missing.status_code == 404
    assert hidden.json()["title"] == missing.json()["title"]
    assert client.get("/api/v1/requests", headers=auth(otto)).json() == []
    assert [r["id"] for r in client.get("/api/v1/requests", headers=auth(olga)).json()] == [created["id"]]
    # Nor can the outsider act on it.
    moved = client.post(f"/api/v1/requests/{created['id']}/transitions", json={"to": "Preserved"}, headers=auth(otto))
    assert moved.status_code == 404
    assert client.get(f"/api/v1/requests/{created['id']}", headers=auth(olga)).json()["status"] == \
        "AwaitingPreservation"


def test_adding_a_member_grants_need_to_know(client: Any, node: Any, people: Any) -> None:
    olga, otto = make_token(node, "olga"), make_token(node, "otto")
    created = _create(client, olga, case_reference="CASE-SHARED")
    assert client.get(f"/api/v1/requests/{created['id']}", headers=auth(otto)).status_code == 404
    added = client.post("/api/v1/cases/CASE-SHARED/members", json={"username": "otto"}, headers=auth(olga))
    assert added.status_code == 201, added.text
    assert client.get(f"/api/v1/requests/{created['id']}", headers=auth(otto)).status_code == 200


def test_refusals_are_audited_as_denied(client: Any, node: Any, people: Any) -> None:
    olga, otto, aldo = make_token(node, "olga"), make_token(node, "otto"), make_token(node, "aldo")
    created = _create(client, olga)
    assert client.get(f"/api/v1/requests/{created['id']}", headers=auth(otto)).status_code == 404
    assert client.post("/api/v1/requests", json=request_body(), headers=auth(aldo)).status_code == 403
    with node.work() as session:
        denied = session.execute(
            select(AuditEntry).where(AuditEntry.outcome == "denied").order_by(AuditEntry.seq)).scalars().all()
    assert [(e.actor, e.action, e.object_type, e.object_id) for e in denied] == [
        ("otto", "request.read", "request", str(created["id"])),
        ("aldo", "request.create", "request", "(new)"),
    ]
    assert all(e.detail.get("reason") for e in denied)
    # The denied attempt leaves nothing else behind.
    with node.work() as session:
        assert session.execute(select(AuditEntry).where(AuditEntry.actor == "aldo",
                                                        AuditEntry.outcome == "ok")).first() is None
