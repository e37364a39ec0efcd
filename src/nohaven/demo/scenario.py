"""`nohaven demo --scenario preservation`: a full exchange between two demo nodes, driven through their HTTP APIs
as two officers would drive it through the web UI, printing each step.

XA's officer files a preservation request to XB; XB's node receipts it; XB's officer acknowledges it, marks the
data preserved and attaches the carrier's confirmation; XA sees each change and the attachment (its SHA-256
checked on arrival); XA files the follow-up MLA request, which XB's node links to the preservation.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx

from nohaven.auth import service as users
from nohaven.demo.network import DemoNode
from nohaven.errors import ConflictError
from nohaven.node import Node
from nohaven.timeutil import utcnow

__all__ = ["run_preservation"]

Say = Callable[[str], None]


class _Officer:
    """One demo officer on one node, with an API token made for the scenario."""

    def __init__(self, node: DemoNode, username: str) -> None:
        handle = Node(node.settings())
        try:
            with handle.work() as session:
                token = users.create_token(session, users.get_user(session, username), actor="demo-scenario",
                                           label="demo scenario")
        finally:
            handle.close()
        self.node = node
        self.client = httpx.Client(base_url=f"{node.url}/api/v1", timeout=30,
                                   headers={"authorization": f"Bearer {token}"})

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ConflictError(f"{method} {self.node.url}/api/v1{path} answered {response.status_code}: "
                                f"{response.text[:500]}")
        return response.json()

    def close(self) -> None:
        self.client.close()


def _wait(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ConflictError(f"gave up waiting {timeout:.0f} s for: {what}")
        time.sleep(0.25)


def _preservation(a: DemoNode, b: DemoNode) -> dict[str, Any]:
    now = utcnow()
    return {
        "type": "preservation", "direction": "outgoing", "channel": "platform", "priority": "urgent",
        "requesting_state": a.state, "requested_state": b.state, "case_title": "Demo: ransomware at a hospital",
        "requested_authority": b.agency,
        "requesting_authority": {"organisation": a.agency, "officer": "Olga Varga", "phones": ["+15555550100"],
                                 "email": "olga@node.xa.example", "time_zone": "Europe/Paris",
                                 "preferred_channel": "platform", "office_hours": "24/7"},
        "investigating_authority": a.agency, "offence": "Ransomware attack on a hospital",
        "summary_of_facts": "Illustrative demo case: the hospital's servers were encrypted; the intruder came "
                            "in from an address of a carrier in the requested State.",
        "data_items": [{"identifier_type": "ip_port", "value": "198.51.100.23:51515", "data_category": "traffic",
                        "time_from": "2026-11-27T03:14:07+01:00", "time_to": "2026-11-27T03:15:07+01:00"}],
        "link_to_offence": "The intrusion came from this address and port.",
        "custodian": "Examplenet ISP (fictional)", "preservation_reason": "Traffic data is deleted after the "
        "carrier's retention period.", "mla_to_follow": True,
        "request_date": now.isoformat(),
    }


def run_preservation(a: DemoNode, b: DemoNode, say: Say) -> dict[str, Any]:
    """Drive the exchange; returns what each side ended up with."""
    olga_a, olga_b = _Officer(a, "olga"), _Officer(b, "olga")
    try:
        return _drive(a, b, olga_a, olga_b, say)
    finally:
        olga_a.close()
        olga_b.close()


def _drive(a: DemoNode, b: DemoNode, olga_a: _Officer, olga_b: _Officer, say: Say) -> dict[str, Any]:
    say(f"1. {a.state}'s officer files an urgent preservation request to {b.state} (channel: platform) at {a.url}")
    req = olga_a.call("POST", "/requests", json=_preservation(a, b))
    rid, ref = req["id"], req["reference"]
    say(f"   {ref} created; its CREATE waits in {a.state}'s outbox, committed with the request")

    def delivered() -> Any:
        view = olga_a.call("GET", f"/requests/{rid}")
        msg = view["messages"][0]
        return view if msg["state"] in ("received", "acknowledged") else None
    view = _wait(f"{b.state}'s signed receipt for {ref}", delivered)
    their = view["their_reference"]
    say(f"2. {b.state}'s node verified the signature and answered with a signed receipt: it holds the request "
        f"as {their}")

    def incoming() -> Any:
        rows = olga_b.call("GET", "/requests", params={"open": "true"})
        return next((r for r in rows if r["reference"] == their), None)
    b_req = _wait(f"{their} on {b.state}'s desk", incoming)
    bid = b_req["id"]
    say(f"3. {b.state}'s officer sees {their} on the 24/7 desk ({b_req['status']}; clocks from {b.state}'s law: "
        + ", ".join(sorted(b_req["clocks"])) + ")")
    olga_b.call("POST", f"/requests/{bid}/acknowledge")
    say(f"4. {b.state}'s officer acknowledges it (and so takes it)")
    _wait(f"{a.state} to see the acknowledgement",
          lambda: olga_a.call("GET", f"/requests/{rid}")["acknowledged_at"])
    say(f"   {a.state} sees it acknowledged; its CREATE message is now 'acknowledged'")
    olga_b.call("POST", f"/requests/{bid}/transitions",
                json={"to": "Preserved", "note": "Examplenet ISP confirmed the preservation"})
    record = json.dumps({"carrier": "Examplenet ISP (fictional)", "identifier": "198.51.100.23:51515",
                         "preserved": True, "records": 42}, indent=2).encode()
    olga_b.call("POST", f"/requests/{bid}/attachments", params={"name": "preservation-confirmation.json"},
                content=record, headers={"content-type": "application/json"})
    say(f"5. {b.state}'s officer marks it Preserved and attaches the carrier's confirmation")

    def preserved() -> Any:
        view = olga_a.call("GET", f"/requests/{rid}")
        return view if view["status"] == "Preserved" and view["attachments"] else None
    view = _wait(f"{a.state} to see Preserved and the attachment", preserved)
    att = view["attachments"][0]
    say(f"6. {a.state} sees {ref} Preserved, and {att['name']} ({att['size']} bytes, SHA-256 "
        f"{att['sha256'][:16]}…, checked on arrival); the preservation clock now runs to "
        + (view["clocks"].get("preservation_expires_at", {}).get("due_at") or "?"))
    mla = {**_preservation(a, b), "type": "mla", "priority": "normal", "follows_preservation_id": rid,
           "data_items": [], "preservation_reason": "", "custodian": "", "mla_to_follow": False,
           "summary_of_facts": "Formal request for the preserved traffic data (demo)."}
    mla_view = olga_a.call("POST", "/requests", json=mla)
    say(f"7. {a.state} files the follow-up MLA request {mla_view['reference']}, linked to {ref}")

    def linked() -> Any:
        view = olga_b.call("GET", f"/requests/{bid}")
        return view if view["follow_up_mla_id"] else None
    b_view = _wait(f"{b.state} to link the MLA request to {their}", linked)
    say(f"8. {b.state}'s node received the MLA request and linked it to {their} (the MLA follow-up clock stops)")
    return {"requesting": {"id": rid, "reference": ref, "status": "Preserved", "mla": mla_view["reference"]},
            "requested": {"id": bid, "reference": their, "follow_up_mla_id": b_view["follow_up_mla_id"]}}
