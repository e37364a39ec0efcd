"""The issue's chain through three real node processes: XA's trace of an intrusion, XB's VPN answering with a
nohaven-disclosure/1 document over the federation, XC's CGNAT carrier answering with the carrier toolkit's real
lookup over Celestia Mobile's logs, and XA's trace ending at the subscriber, each step checked as an officer of
each State sees it through their node's API. Then the same scenario through `nohaven demo --scenario intrusion`."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "e2e"))
from browsertools import serving_demo_network

from conftest import free_ports
from nohaven.demo.intrusion import IntrusionWalk
from nohaven.demo.network import DemoNode
from nohaven.demo.scenario import _Officer, _wait
from nohaven.timeutil import utcnow

NOHAVEN = Path(sys.executable).with_name("nohaven")

pytestmark = pytest.mark.xdist_group("demo-network")


@pytest.fixture
def network(tmp_path: Path) -> Iterator[list[DemoNode]]:
    """XA's, XB's and XC's demo nodes: own database and key each, one signed directory, serving on loopback."""
    with serving_demo_network(tmp_path / "network", 3) as specs:
        yield specs


def _by_type(views: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {v["type"]: v for v in views}


def test_an_intrusion_traced_through_three_states(network: list[DemoNode], tmp_path: Path) -> None:
    said: list[str] = []
    walk = IntrusionWalk(network, said.append)
    xa = walk.officers["XA"]
    try:
        # 1. XA's officer opens the trace: the VPN exit resolves to XB with its point of contact and retention
        view = walk.open_trace()
        [h1] = view["hops"]
        assert (h1["endpoint"], h1["responsible_state"], h1["status"]) == ("198.51.100.23:51515", "XB", "resolved")
        assert h1["time"]["source_text"].endswith(f"03:14:07 {walk.local.tzname()}")  # kept as written
        assert datetime.fromisoformat(h1["time"]["instant"]) == walk.instant
        assert walk.instant < utcnow() - timedelta(days=3)  # four days before the run, on the victim's clock
        res = h1["resolution"]
        assert res["record"]["holder"] == "Borvania VPN Services (fictional)" and res["record"]["asn"] == 64510
        assert res["point_of_contact"]["agency"] == network[1].agency and res["traffic_retention"] == "P90D"
        deleted = datetime.fromisoformat(h1["likely_deleted_after"])
        assert deleted > utcnow() and abs(deleted - (walk.instant + timedelta(days=90))) < timedelta(seconds=2)
        assert h1["urgency"] in ("ok", "soon", "critical")

        # 2. H1's requests drafted and filed to XB by the platform; XB's node receipts them
        to_b = _by_type(walk.file_requests("H1", walk.b, 2))
        assert set(to_b) == {"preservation", "traffic_disclosure"}
        assert all((v["direction"], v["channel"], v["requested_state"]) == ("outgoing", "platform", "XB")
                   and v["their_reference"].startswith("XB-") for v in to_b.values())
        h1 = xa.call("GET", f"/traces/{walk.reference}")["hops"][0]
        assert h1["status"] == "requested"
        assert {r["reference"] for r in h1["requests"]} == {v["reference"] for v in to_b.values()}
        assert all(r["delivery"] in ("received", "acknowledged") for r in h1["requests"])

        # 3-4. XB's officer takes, preserves and discloses, with the nohaven-disclosure/1 document
        document = walk.vpn_answers(list(to_b.values()))
        xb = walk.officers["XB"]
        theirs = {r["reference"]: r for r in xb.call("GET", "/requests")}
        b_disclosure = theirs[to_b["traffic_disclosure"]["their_reference"]]
        assert b_disclosure["status"] == "Disclosed" and b_disclosure["acknowledged_at"]
        assert theirs[to_b["preservation"]["their_reference"]]["status"] == "Preserved"

        # 5. the delivery made H2 in XA's trace, under H1, from XB's document; it resolves to XC
        h2 = walk.next_hop_arrives()
        trace = xa.call("GET", f"/traces/{walk.reference}")
        h1 = trace["hops"][0]
        assert h1["status"] == "answered" and h1["answer"]["request"] == to_b["traffic_disclosure"]["reference"]
        assert h2["parent_id"] == h1["id"] and h2["source_request"] == to_b["traffic_disclosure"]["reference"]
        assert h2["source_attachment"]["name"] == "xb-disclosure.json"
        assert h2["source_attachment"]["sha256"] == hashlib.sha256(json.dumps(document, indent=2).encode()
                                                                   ).hexdigest()
        assert (h2["endpoint"], h2["responsible_state"]) == ("203.0.113.77:4431", "XC")
        assert datetime.fromisoformat(h2["time"]["instant"]) == walk.instant
        assert h2["resolution"]["record"]["holder"] == "Celestia Mobile CGNAT (fictional)"
        assert trace["graph"]["edges"] == [{"from": h1["id"], "to": h2["id"], "via": h2["source"]}]
        def statuses() -> Any:  # XB's status changes travel as their own messages, after or before the document
            hop = xa.call("GET", f"/traces/{walk.reference}")["hops"][0]
            found = {r["kind"]: r["status"] for r in hop["requests"]}
            return found if found == {"preservation": "Preserved", "traffic_disclosure": "Disclosed"} else None
        assert _wait("XB's statuses on XA's requests", statuses)

        # 6. H2's requests to XC, with the time in XC's zone (Pacific/Auckland)
        to_c = _by_type(walk.file_requests("H2", walk.c, 6))
        assert {v["requested_state"] for v in to_c.values()} == {"XC"}
        assert any("Pacific/Auckland" in line for line in said)

        # 7. XC's officer runs the carrier toolkit: one candidate, one subscriber, with its provenance
        answer = walk.carrier_answers(list(to_c.values()), tmp_path / "carrier")
        assert answer["ambiguous"] is False and len(answer["candidates"]) == 1
        [candidate] = answer["candidates"]
        assert (candidate["private_ip"], candidate["public_port"]) == ("100.64.7.12", 4431)
        assert candidate["source"]["format"] == "a10" and candidate["source"]["line"] == 3
        assert [s["subscriber"] for s in candidate["subscribers"]] == ["celestia-sub-0815"]
        assert candidate["source"]["file"].endswith(f"celestia-cgn-a10-{walk.instant:%Y%m%d}.log")

        # 8. XA's trace ends at the origin; every hop shows its requests and evidence
        final = walk.origin_found()
    finally:
        walk.close()
    assert final["status"] == "origin_found"
    h1, h2 = final["hops"]
    assert h2["status"] == "origin" and h2["subscriber"]["identity"] == "celestia-sub-0815"
    assert h2["subscriber"]["private_ip"] == "100.64.7.12"
    assert [e["name"] for e in h1["evidence"]] == ["xb-disclosure.json"]
    assert [e["name"] for e in h2["evidence"]] == ["xc-carrier-lookup.json"]
    assert {r["status"] for r in h2["requests"]} == {"Preserved", "Disclosed"}
    officer = _Officer(network[0], "olga")
    try:
        rid = next(r["id"] for r in h2["requests"] if r["kind"] == "traffic_disclosure")
        got = officer.client.get(f"/requests/{rid}/attachments/{h2['evidence'][0]['id']}")
        assert got.status_code == 200 and json.loads(got.content) == answer  # the lookup as XC ran it
    finally:
        officer.close()
    steps = [line.split(".")[0] for line in said if re.match(r"^\d\. ", line)]
    assert steps == [str(n) for n in range(1, 9)], said


def test_the_demo_command_walks_the_intrusion(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
    env.update({"NOHAVEN_FEDERATION_POLL_SECONDS": "0.2", "COLUMNS": "250"})
    process = subprocess.Popen([str(NOHAVEN), "--data-dir", str(tmp_path / "demo"), "demo", "--port",
                                str(free_ports(3)), "--scenario", "intrusion", "--exit"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        out, err = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        pytest.fail(f"the demo did not finish:\n{out}\n{err}")
    assert process.returncode == 0, out + err
    assert "Traceback" not in out + err
    assert re.findall(r"^(\d)\. ", out, flags=re.MULTILINE) == [str(n) for n in range(1, 9)], out
    assert re.search(r"^8\. XA's trace marks H2 the origin: subscriber celestia-sub-0815 of XC", out, re.MULTILINE)
    assert re.search(r"H1 198\.51\.100\.23:51515 XB answered: .*evidence xb-disclosure\.json", out)
    assert re.search(r"H2 203\.0\.113\.77:4431 XC origin: .*evidence xc-carrier-lookup\.json", out)
    assert (tmp_path / "demo" / "xc-carrier" / "store" / "tables" / "BUILD.json").exists()
