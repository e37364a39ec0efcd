"""GET /api/v1/ipdata/resolve through the real application, with bearer tokens (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import auth, make_token, make_user
from nohaven.demo.ipdata import load_sample
from nohaven.node import Node
from nohaven.tracing.ipdata import IpDataStore

URL = "/api/v1/ipdata/resolve"


@pytest.fixture
def officer_token(node: Node) -> str:
    load_sample(IpDataStore(node.settings.ipdata_dir))
    make_user(node, "olga", "officer")
    token: str = make_token(node, "olga")
    return token


def test_resolves_with_a_token(client: Any, officer_token: str) -> None:
    answer = client.get(URL, params={"ip": "203.0.113.77", "at": "2026-11-27T02:14:07Z"},
                        headers=auth(officer_token))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["record"]["asn"] == 64520 and body["record"]["holder"] == "Celestia Mobile CGNAT (fictional)"
    assert body["state"]["code"] == "XC" and body["point_of_contact"]["contact_key"] == "xc-desk"
    assert body["traffic_retention"] == "P365D"
    assert body["likely_deleted_after"] == "2027-11-27T02:14:07+00:00"
    assert body["domestic"] is False and body["problems"] == []


def test_old_instant_and_missing_time(client: Any, officer_token: str) -> None:
    old = client.get(URL, params={"ip": "198.51.100.23", "at": "2026-01-15T10:00:00+01:00"},
                     headers=auth(officer_token)).json()
    assert old["state"]["code"] == "XA" and old["record"]["asn_snapshot"] == "2025-06-01"
    latest = client.get(URL, params={"ip": "198.51.100.23"}, headers=auth(officer_token)).json()
    assert latest["state"]["code"] == "XB" and latest["likely_deleted_after"] is None
    assert any("no instant given" in p for p in latest["problems"])


def test_refusals_are_problems(client: Any, node: Node, officer_token: str) -> None:
    make_user(node, "aldo", "auditor")
    auditor = make_token(node, "aldo")
    cases = [
        ({"ip": "198.51.100.23"}, {}, 401, "needs an API token"),
        ({"ip": "198.51.100.23"}, auth(auditor), 403, "trace.resolve"),
        ({"ip": "198.51.100.999"}, auth(officer_token), 422, "is not an IPv4 or IPv6 address"),
        ({"ip": "198.51.100.23", "at": "2026-11-27T03:14:07"}, auth(officer_token), 422, "no UTC offset"),
        ({"ip": "198.51.100.23", "at": "2026-11-27T03:14:07 01:00"}, auth(officer_token), 422, "%2B"),
        ({"ip": "198.51.100.23", "at": "yesterday"}, auth(officer_token), 422, "not an ISO 8601 timestamp"),
        ({}, auth(officer_token), 422, "ip"),
    ]
    for params, headers, status, text in cases:
        answer = client.get(URL, params=params, headers=headers)
        assert answer.status_code == status, (params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert text in answer.text, (params, answer.text)


def test_odd_input_never_gives_a_500(client: Any, officer_token: str) -> None:
    for params in [{"ip": "\x00"}, {"ip": "1" * 100}, {"ip": "::ffff:999.1.1.1"}, {"ip": "fe80::1%eth0"},
                   {"ip": "198.51.100.23", "at": "9999-12-31T23:00:00Z"},
                   {"ip": "198.51.100.23", "at": "0001-01-01T00:00:00+14:00"},
                   {"ip": "198.51.100.23", "at": "2026-02-30T00:00:00Z"}]:
        answer = client.get(URL, params=params, headers=auth(officer_token))
        assert answer.status_code in (200, 422), (params, answer.text)
    late = client.get(URL, params={"ip": "198.51.100.23", "at": "9999-12-31T23:00:00Z"},
                      headers=auth(officer_token)).json()
    assert late["likely_deleted_after"] is None and any("past the year 9999" in p for p in late["problems"])
