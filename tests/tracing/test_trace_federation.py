"""A hop's answer arriving by the federation, between two real node processes over HTTP.

XA's officer opens a trace from the victim's log line; the address resolves to a VPN provider in XB, which has a
node in the network directory, so the drafted requests go by the platform. XA files them; XB's node receives
them; XB's officer takes the disclosure request and attaches a `nohaven-disclosure/1` answer naming the VPN
session's source. XB's node delivers it, and XA's trace gains the next hop by itself — resolved to XC when XA's
officer drafts from it — with the answer as its evidence.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "federation"))
from nettools import NetNode, Network, build_network, running, wait_for
from tracetools import VPN_HIT, load_ipdata

from nohaven.auth import service as users
from nohaven.requests import service as requests

ANSWER = {"format": "nohaven-disclosure/1", "request": "", "note": "198.51.100.23 is a VPN exit node",
          "next_hops": [{"ip": "203.0.113.77", "port": 4431, "protocol": "tcp", "time": "2026-11-27T02:14:07Z",
                         "uncertainty": "PT1S", "note": "VPN session source"}]}


@pytest.fixture
def net(tmp_path: Path, db_url: str) -> Iterator[Network]:
    """XA (the side with the trace) on the `db_url` database: SQLite, or PostgreSQL (in CI a missing one fails)."""
    network = build_network(tmp_path / "net", database_urls={"XA": db_url})
    load_ipdata(network["XA"].node)
    with running(network) as started:
        yield started


def _api(node: NetNode) -> httpx.Client:
    with node.node.work() as session:
        token = users.create_token(session, users.get_user(session, "olga"), actor="test")
    return httpx.Client(base_url=node.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_xb_answers_and_xa_trace_gains_the_next_hop_by_itself(net: Network, db_url: str) -> None:
    a, b = net["XA"], net["XB"]
    assert a.node.db.engine.dialect.name == db_url.split(":")[0].split("+")[0]
    xa, xb = _api(a), _api(b)
    r = xa.post("/api/v1/traces", json={"title": "Hospital intrusion", "offence": "Illegal access (Art. 2)",
                                        "summary": "Patient records copied.", "observations": [VPN_HIT]})
    assert r.status_code == 201, r.text
    ref = r.json()["reference"]
    draft = xa.get(f"/api/v1/traces/{ref}/hops/H1/draft").json()
    assert [d["request"]["channel"] for d in draft["drafts"]] == ["platform", "platform"]
    r = xa.post(f"/api/v1/traces/{ref}/hops/H1/requests", json={"types": ["traffic_disclosure"]})
    assert r.status_code == 201, r.text
    [filed] = r.json()["requests"]
    assert filed["exchange"] is not None

    def arrived() -> list[Any]:
        return [x for x in b.incoming() if x.their_reference == filed["reference"]]

    incoming = wait_for(arrived, 60, "XB to receive the disclosure request", a, b)[0]
    with b.node.work() as session:
        requests.acknowledge(session, b.subject(), incoming.id)
    shown = xb.get(f"/api/v1/requests/{incoming.id}").json()
    item = shown["data_items"][0]
    assert item["value"] == "198.51.100.23:51515" and item["time_from"] == "2026-11-27T03:14:05+01:00"
    assert "2026-11-27 03:14:07 CET" in shown["template"]["link_to_offence"]  # XB's officer sees it as written
    body = json.dumps({**ANSWER, "request": shown["their_reference"]}).encode()
    r = xb.post(f"/api/v1/requests/{incoming.id}/attachments", params={"name": "disclosure-answer.json"},
                content=body, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text

    def next_hop() -> dict[str, Any] | None:
        view = xa.get(f"/api/v1/traces/{ref}").json()
        return view if len(view["hops"]) == 2 else None

    view = wait_for(next_hop, 60, "XA's trace to gain the next hop", a, b)
    h1, h2 = view["hops"]
    assert h1["status"] == "answered"
    assert h2["parent_id"] == h1["id"] and h2["endpoint"] == "203.0.113.77:4431"
    assert h2["source"] == f"disclosure answer of request {filed['reference']}"
    assert h2["source_attachment"]["name"] == "disclosure-answer.json"
    assert h2["time"]["instant"] == "2026-11-27T02:14:07+00:00"
    assert h2["responsible_state"] == "XC"  # resolved when XA's officer opened the trace
    assert any(t["kind"] == "answer" and "delivered by node:XB/" in t["note"] for t in view["timeline"])
    assert [e["name"] for e in h1["evidence"]] == ["disclosure-answer.json"]
    onward = xa.get(f"/api/v1/traces/{ref}/hops/H2/draft").json()
    assert onward["requested_state"] == "XC"  # no XC node in this network: by e-mail
    assert [d["request"]["channel"] for d in onward["drafts"]] == ["email", "email"]
