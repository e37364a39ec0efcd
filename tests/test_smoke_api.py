"""The API's minimum contract, end to end, on both databases."""

from __future__ import annotations

from typing import Any

from conftest import auth, make_token, request_body


def test_health_needs_no_token_and_names_the_state(client: Any) -> None:
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "state": "XA"}


def test_officer_logs_a_phoned_in_preservation_and_sees_its_clocks(client: Any, node: Any, people: Any) -> None:
    token = make_token(node, "olga")
    created = client.post("/api/v1/requests", json=request_body(), headers=auth(token))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "AwaitingPreservation"
    assert {"acknowledge_by", "response_due", "written_confirmation_due"} <= set(body["clocks"])
    moved = client.post(f"/api/v1/requests/{body['id']}/transitions", json={"to": "Preserved"}, headers=auth(token))
    assert moved.status_code == 200, moved.text
    assert {"preservation_expires_at", "extension_due", "mla_follow_up_due"} <= set(moved.json()["clocks"])
    listed = client.get("/api/v1/requests", headers=auth(token)).json()
    assert [r["id"] for r in listed] == [body["id"]]
