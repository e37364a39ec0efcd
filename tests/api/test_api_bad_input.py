"""Bad input to the API: 422 problem+json naming the field, nothing stored, never a 500; illegal status
changes: 409 listing the allowed statuses."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from conftest import auth, make_token, request_body
from nohaven.audit.models import AuditEntry
from nohaven.requests.models import Case, Clock, CooperationRequest, RequestDataItem
from nohaven.timeutil import utcnow

PROBLEM = "application/problem+json"


def _counts(node: Any) -> dict[str, int]:
    with node.work() as session:
        return {m.__tablename__: session.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (CooperationRequest, Case, RequestDataItem, Clock, AuditEntry)}


def _item(**overrides: Any) -> list[dict[str, Any]]:
    base = {"identifier_type": "ip_port", "value": "198.51.100.23:51515", "data_category": "traffic",
            "time_from": (utcnow() - timedelta(days=1)).isoformat()}
    return [{**base, **overrides}]


def _authority(**overrides: Any) -> dict[str, Any]:
    return {**request_body()["requesting_authority"], **overrides}


def _without(key: str) -> dict[str, Any]:
    body = request_body()
    del body[key]
    return body


BAD_BODIES = {
    "naive time_from": (request_body(data_items=_item(time_from="2026-11-27T03:14:07")), "data_items[0].time_from"),
    "garbage time_to": (request_body(data_items=_item(time_to="yesterday")), "data_items[0].time_to"),
    "unknown channel": (request_body(channel="pigeon"), "channel"),
    "unknown type": (request_body(type="wiretap"), "type"),
    "unknown priority": (request_body(priority="whenever"), "priority"),
    "bad phone": (request_body(requesting_authority=_authority(phones=["12345"])), "requesting_authority.phones[0]"),
    "bad time zone": (request_body(requesting_authority=_authority(time_zone="Mars/Olympus")),
                      "requesting_authority.time_zone"),
    "not an ISO State code": (request_body(requesting_state="Q1"), "requesting_state"),
    "State not in the directory": (request_body(requesting_state="DE"), "requesting_state"),
    "requested State not in the directory": (request_body(direction="outgoing", requesting_state="XA",
                                                          requested_state="FR"), "requested_state"),
    "missing offence": (_without("offence"), "offence"),
    "empty offence": (request_body(offence="  "), "offence"),
    "preservation without mla_to_follow": (request_body(mla_to_follow=False), "mla_to_follow"),
    "preservation without data": (request_body(data_items=[]), "data_items"),
    "extra unknown field": (request_body(colour="red"), "colour"),
    "naive received_at": (request_body(received_at="2026-11-27T03:14:07"), "received_at"),
    "extension without original": (request_body(is_extension=True), "extends_id"),
    "extension of nothing": (request_body(is_extension=True, extends_id=999999), "extends_id"),
    "follow-up of nothing": (request_body(type="mla", follows_preservation_id=999999), "follows_preservation_id"),
    "unknown identifier type": (request_body(data_items=_item(identifier_type="aura")),
                                "data_items[0].identifier_type"),
}


@pytest.mark.parametrize("case", list(BAD_BODIES))
def test_bad_field_is_422_naming_it_and_nothing_is_stored(client: Any, node: Any, people: Any, case: str) -> None:
    body, field = BAD_BODIES[case]
    token = make_token(node, "olga")
    before = _counts(node)
    response = client.post("/api/v1/requests", json=body, headers=auth(token))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == 422
    assert field in [e["field"] for e in problem["errors"]], problem
    assert problem["detail"]
    assert _counts(node) == before


def test_several_bad_fields_are_all_named(client: Any, node: Any, people: Any) -> None:
    body = request_body(channel="pigeon", priority="whenever", requesting_authority=_authority(phones=["1"]))
    del body["offence"]
    response = client.post("/api/v1/requests", json=body, headers=auth(make_token(node, "olga")))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"channel", "priority", "requesting_authority.phones[0]", "offence"} <= fields


@pytest.mark.parametrize("raw", ['{"type": "preservation",', "not json at all", "[1, 2, 3]", '"a string"', ""])
def test_a_body_that_is_not_a_json_object_is_422(client: Any, node: Any, people: Any, raw: str) -> None:
    token = make_token(node, "olga")
    before = _counts(node)
    response = client.post("/api/v1/requests", content=raw.encode(),
                           headers={**auth(token), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.json()["errors"]
    assert _counts(node) == before


@pytest.mark.parametrize(("path", "body"), [
    ("/api/v1/requests/abc", None),
    ("/api/v1/requests?limit=0", None),
    ("/api/v1/requests?open=perhaps", None),
])
def test_bad_query_and_path_parameters_are_422(client: Any, node: Any, people: Any, path: str, body: Any) -> None:
    response = client.get(path, headers=auth(make_token(node, "olga")))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)


def _preservation(client: Any, h: dict[str, str]) -> int:
    created = client.post("/api/v1/requests", json=request_body(), headers=h)
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def test_illegal_transition_is_409_listing_the_allowed_statuses(client: Any, node: Any, people: Any) -> None:
    h = auth(make_token(node, "olga"))
    rid = _preservation(client, h)
    response = client.post(f"/api/v1/requests/{rid}/transitions", json={"to": "Expired"}, headers=h)
    assert response.status_code == 409
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["allowed"] == ["Preserved", "PreservationNotAvailable", "Rejected", "Cancelled", "Error",
                                  "Invalid"]
    assert problem["current"] == "AwaitingPreservation"
    assert "Preserved" in problem["detail"]
    assert client.get(f"/api/v1/requests/{rid}", headers=h).json()["status"] == "AwaitingPreservation"


def test_from_a_final_status_nothing_is_allowed(client: Any, node: Any, people: Any) -> None:
    h = auth(make_token(node, "olga"))
    rid = _preservation(client, h)
    assert client.post(f"/api/v1/requests/{rid}/transitions", json={"to": "Rejected"}, headers=h).status_code == 200
    response = client.post(f"/api/v1/requests/{rid}/transitions", json={"to": "Preserved"}, headers=h)
    assert response.status_code == 409
    assert response.json()["allowed"] == []
    assert "final" in response.json()["detail"]


def test_disclosure_requests_follow_their_own_lifecycle(client: Any, node: Any, people: Any) -> None:
    h = auth(make_token(node, "olga"))
    created = client.post("/api/v1/requests", json=request_body(type="subscriber"), headers=h).json()
    assert created["status"] == "AwaitingApproval"
    rid = created["id"]
    wrong = client.post(f"/api/v1/requests/{rid}/transitions", json={"to": "Disclosed"}, headers=h)
    assert wrong.status_code == 409
    assert "AwaitingDisclosure" in wrong.json()["allowed"]
    for status in ("AwaitingDisclosure", "Disclosed"):
        moved = client.post(f"/api/v1/requests/{rid}/transitions", json={"to": status}, headers=h)
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    # A preservation status is unknown to a disclosure request.
    unknown = client.post(f"/api/v1/requests/{rid}/transitions", json={"to": "Preserved"}, headers=h)
    assert unknown.status_code == 422


@pytest.mark.parametrize("body", [{"to": "Frozen"}, {"to": ""}, {}, {"to": "Preserved", "when": "now"}])
def test_unknown_or_missing_status_is_422_naming_to(client: Any, node: Any, people: Any, body: Any) -> None:
    h = auth(make_token(node, "olga"))
    rid = _preservation(client, h)
    response = client.post(f"/api/v1/requests/{rid}/transitions", json=body, headers=h)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    fields = [e["field"] for e in response.json()["errors"]]
    assert ("when" if "when" in body else "to") in fields


def test_transition_of_a_missing_request_is_404(client: Any, node: Any, people: Any) -> None:
    h = auth(make_token(node, "sam"))
    response = client.post("/api/v1/requests/424242/transitions", json={"to": "Preserved"}, headers=h)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
