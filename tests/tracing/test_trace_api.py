"""The trace API (SQLite and PostgreSQL): create, hops, resolve, draft, file, answer; problems naming the field;
refusals through the policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tracetools import VPN_HIT, load_ipdata

from conftest import auth, make_token, make_user
from nohaven.node import Node

ANSWER = {"format": "nohaven-disclosure/1", "request": "", "note": "VPN exit",
          "next_hops": [{"ip": "203.0.113.77", "port": 4431, "protocol": "tcp", "time": "2026-11-27T02:14:07Z"}]}


@pytest.fixture
def olga(node: Node) -> dict[str, str]:
    load_ipdata(node)
    make_user(node, "olga", "officer")
    headers: dict[str, str] = auth(make_token(node, "olga"))
    return headers


def _create(client: Any, headers: dict[str, str]) -> dict[str, Any]:
    r = client.post("/api/v1/traces", headers=headers, json={
        "title": "Hospital intrusion", "offence": "Illegal access", "summary": "Records copied.",
        "observations": [VPN_HIT]})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_a_trace_from_observation_to_filed_requests_and_answer(client: Any, olga: dict[str, str]) -> None:
    trace = _create(client, olga)
    ref = trace["reference"]
    assert trace["hops"][0]["responsible_state"] == "XB" and trace["hops"][0]["status"] == "resolved"
    draft = client.get(f"/api/v1/traces/{ref}/hops/H1/draft", headers=olga).json()
    assert draft["time"]["requested_local"] == ["2026-11-27T03:14:07+01:00"]
    r = client.post(f"/api/v1/traces/{trace['id']}/hops/H1/requests", headers=olga,
                    json={"types": ["traffic_disclosure"], "overrides": {"priority": "normal"}})
    assert r.status_code == 201, r.text
    [filed] = r.json()["requests"]
    assert (filed["type"], filed["direction"], filed["requested_state"], filed["priority"]) == (
        "traffic_disclosure", "outgoing", "XB", "normal")
    listed = client.get("/api/v1/requests", headers=olga).json()
    assert [x["reference"] for x in listed] == [filed["reference"]]
    r = client.post(f"/api/v1/traces/{ref}/hops/H1/answer", headers={**olga, "content-type": "application/json"},
                    params={"document": "answer.json"}, content=json.dumps(ANSWER).encode())
    assert r.status_code == 201, r.text
    assert r.json()["new_hops"] == ["H2"]
    shown = client.get(f"/api/v1/requests/{filed['id']}", headers=olga).json()
    assert [a["name"] for a in shown["attachments"]] == ["answer.json"]
    view = client.get(f"/api/v1/traces/{ref}", headers=olga).json()
    h2 = next(h for h in view["hops"] if h["label"] == "H2")
    assert h2["responsible_state"] == "XC" and h2["source_attachment"]["name"] == "answer.json"
    assert view["graph"]["edges"] == [{"from": view["hops"][0]["id"], "to": h2["id"],
                                       "via": f"disclosure answer of request {filed['reference']}"}]
    assert [t["reference"] for t in client.get("/api/v1/traces", headers=olga).json()] == [ref]


def test_answer_by_fields_and_hop_by_hand(client: Any, olga: dict[str, str]) -> None:
    ref = _create(client, olga)["reference"]
    r = client.post(f"/api/v1/traces/{ref}/hops", headers=olga, json={**VPN_HIT, "ip": "203.0.113.5",
                                                                       "parent": "H1", "source": "manual"})
    assert r.status_code == 201 and r.json()["label"] == "H2" and r.json()["source"] == "manual"
    r = client.post(f"/api/v1/traces/{ref}/hops/H2/resolve", headers=olga)
    assert r.status_code == 200 and r.json()["responsible_state"] == "XC"
    r = client.post(f"/api/v1/traces/{ref}/hops/H2/answer", headers=olga, json={"dead_end": "data deleted"})
    assert r.status_code == 201, r.text
    assert r.json()["trace"]["status"] == "chain_broken"
    r = client.post(f"/api/v1/traces/{ref}/close", headers=olga, json={"note": "no other lead"})
    assert r.status_code == 200 and r.json()["status"] == "closed"
    r = client.post(f"/api/v1/traces/{ref}/hops", headers=olga, json=VPN_HIT)
    assert r.status_code == 409 and "reopen" in r.json()["detail"]
    r = client.post(f"/api/v1/traces/{ref}/close", headers=olga, json={"reopen": True})
    assert r.status_code == 200 and r.json()["status"] == "chain_broken"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("", {"title": "x", "observations": [{**VPN_HIT, "time_text": "2026-11-27 03:14:07 BST"}]},
     "observations[0].time_text"),
    ("", {"title": "x", "observations": [{**VPN_HIT, "port": 70000}]}, "observations[0].port"),
    ("", {"title": "", "observations": []}, "title"),
    ("/{ref}/hops", {**VPN_HIT, "time_text": "2026-11-27 3:14:07 +0100"}, "time_text"),
    ("/{ref}/hops", {**VPN_HIT, "parnet": "H1"}, "parnet"),
    ("/{ref}/hops/H1/answer", {"note": "nothing"}, "(document)"),
    ("/{ref}/hops/H1/requests", {"types": ["mla"]}, "types[0]"),
])
def test_bad_input_is_a_problem_naming_the_field(client: Any, olga: dict[str, str], path: str,
                                                 body: dict[str, Any], field: str) -> None:
    ref = _create(client, olga)["reference"]
    r = client.post(f"/api/v1/traces{path.format(ref=ref)}", headers=olga, json=body)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in r.json()["errors"]]
    assert len(client.get(f"/api/v1/traces/{ref}", headers=olga).json()["hops"]) == 1


def test_others_get_404_or_403(client: Any, node: Node, olga: dict[str, str]) -> None:
    ref = _create(client, olga)["reference"]
    make_user(node, "otto", "officer")
    make_user(node, "aldo", "auditor")
    otto, aldo = auth(make_token(node, "otto")), auth(make_token(node, "aldo"))
    assert client.get(f"/api/v1/traces/{ref}", headers=otto).status_code == 404
    assert client.get(f"/api/v1/traces/{ref}/hops/H1/draft", headers=otto).status_code == 404
    assert client.post(f"/api/v1/traces/{ref}/hops", headers=otto, json=VPN_HIT).status_code == 404
    assert client.get("/api/v1/traces", headers=otto).json() == []
    assert client.post("/api/v1/traces", headers=aldo, json={"title": "x"}).status_code == 403
    assert client.get("/api/v1/traces").status_code == 401
    assert client.get("/api/v1/traces/999999", headers=olga).status_code == 404
