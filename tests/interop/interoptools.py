"""Shared by the interop tests: where the ETSI material is, and requests of every type to export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import request_body
from nohaven.auth.policy import Subject
from nohaven.node import Node
from nohaven.requests import service as requests

ROOT = Path(__file__).resolve().parents[2]
STANDARDS = ROOT / ".." / "shared" / "standards" / "etsi-ts-103120"
SCHEMA_DIR = STANDARDS / "schema" / "xsd"
EXAMPLES = STANDARDS / "examples" / "xml"
JSON_SCHEMAS = STANDARDS / "schema" / "json"
DATA = ROOT / "tests" / "_data" / "interop"

AUTHORITY = {
    "organisation": "Borvanian Federal Police", "officer": "Insp. K. Adler",
    "phones": ["+15555550200", "+15555550201"], "email": "adler@police.xb.example", "fax": "+15555550299",
    "time_zone": "Europe/Berlin", "preferred_channel": "voice", "office_hours": "24/7", "address": "1 Example Street",
}


def bodies() -> dict[str, dict[str, Any]]:
    """One complete incoming request per type, every timestamp in whole seconds with its own offset."""
    common = {"request_date": "2026-11-27T09:15:00+01:00", "requesting_authority": AUTHORITY}
    return {
        "preservation": request_body(**common, data_items=[
            {"identifier_type": "ip_port", "value": "198.51.100.23:51515", "data_category": "traffic",
             "time_from": "2026-11-25T03:14:07+01:00", "time_to": "2026-11-25T04:14:07+01:00"},
            {"identifier_type": "email", "value": "ransom@mail.example", "data_category": "content",
             "time_from": "2026-11-20T00:00:00Z", "time_to": "2026-11-27T00:00:00Z"}]),
        "traffic_disclosure": request_body(**common, type="traffic_disclosure", priority="normal",
                                           channel="platform", their_reference="XB-247-0002", data_items=[
            {"identifier_type": "ip_address", "value": "203.0.113.7", "data_category": "traffic",
             "time_from": "2026-11-25T03:00:00+01:00", "time_to": "2026-11-25T05:00:00+01:00"}],
            previous_reference="XB-247-0001"),
        "subscriber": request_body(**common, type="subscriber", priority="normal", channel="email",
                                   their_reference="XB-247-0003", mla_to_follow=False, preservation_reason="",
                                   data_items=[
            {"identifier_type": "phone", "value": "+442079460223", "data_category": "subscriber"},
            {"identifier_type": "account", "value": "user-81723", "data_category": "subscriber"}]),
        "emergency": request_body(**common, type="emergency", channel="voice", their_reference="XB-247-0004",
                                  data_items=[
            {"identifier_type": "ip_address", "value": "2001:db8::17", "data_category": "subscriber",
             "time_from": "2026-11-27T08:00:00-05:00"}]),
        "mla": request_body(**common, type="mla", priority="normal", channel="platform",
                            their_reference="XB-MLA-2026-11", data_items=[]),
    }


def create(node: Node, subject: Subject, body: dict[str, Any]) -> dict[str, Any]:
    """Create the request, then read it back in a transaction of its own, as `request export` does."""
    with node.work() as session:
        request_id = requests.create_request(session, subject, body).id
    with node.work() as session:
        return requests.request_view(requests.get_request(session, subject, request_id))
