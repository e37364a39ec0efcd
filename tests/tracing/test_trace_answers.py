"""Answers becoming the trace's next step (SQLite and PostgreSQL): by hand, from a nohaven-disclosure/1 document
or a carrier lookup answer, and delivered by another State's node through the delivery hook."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tracetools import NOW, load_ipdata, open_trace

from conftest import make_user
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Peer, Subject
from nohaven.blobs import BlobStore
from nohaven.errors import ConflictError, InputError
from nohaven.node import Node
from nohaven.requests import peer
from nohaven.requests.models import CooperationRequest
from nohaven.tracing import answers, drafting, service, views

DATA = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "traces"
DISCLOSURE = {"format": "nohaven-disclosure/1", "request": "XA-2026-000001",
              "next_hops": [{"ip": "203.0.113.77", "port": 4431, "protocol": "tcp", "time": "2026-11-27T02:14:07Z",
                             "uncertainty": "PT1S", "note": "VPN session source"},
                            {"ip": "2001:db8:c::15", "port": 443, "time": "2026-11-27T02:14:09Z"}],
              "subscriber": None, "note": "198.51.100.23 is a VPN exit; two sessions matched"}


@pytest.fixture
def olga(node: Node) -> Subject:
    load_ipdata(node)
    subject: Subject = make_user(node, "olga", "officer")
    return subject


def _hops(node: Node, subject: Subject, ref: str) -> dict[str, dict[str, Any]]:
    with node.work() as session:
        view = views.trace_view(session, service.get_trace(session, subject, ref), NOW)
    return {h["label"]: {**h, "trace_status": view["status"], "timeline": view["timeline"]} for h in view["hops"]}


def _filed(node: Node, subject: Subject, **choice: Any) -> tuple[str, list[int]]:
    ref = open_trace(node, subject)
    with node.work() as session:
        filed = drafting.file_requests(session, subject, ref, "H1", choice, settings=node.settings, now=NOW)
        return ref, [r.id for r in filed]


def _answered_by_lookup(node: Node, subject: Subject, lookup: str) -> tuple[str, dict[str, Any]]:
    """A trace whose H1 requests were filed and answered with the carrier lookup document `lookup` of the test
    data: its reference, and H1 as it then is."""
    ref, _ = _filed(node, subject)
    with node.work() as session:
        answers.record_answer(session, subject, ref, "H1", document=(DATA / lookup).read_bytes(),
                              settings=node.settings, now=NOW)
    return ref, _hops(node, subject, ref)["H1"]


def test_next_endpoints_entered_by_hand_become_child_hops(node: Node, olga: Subject) -> None:
    ref, _ = _filed(node, olga)
    with node.work() as session:
        new = answers.record_answer(session, olga, ref, "H1", {"next_hops": DISCLOSURE["next_hops"]},
                                    settings=node.settings, now=NOW)
        assert [h.label for h in new] == ["H2", "H3"]
    hops = _hops(node, olga, ref)
    assert hops["H1"]["status"] == "answered"
    assert hops["H2"]["parent_id"] == hops["H1"]["id"] == hops["H3"]["parent_id"]
    assert hops["H2"]["source"].startswith("disclosure answer of request XA-2026-")
    assert hops["H2"]["responsible_state"] == "XC" and hops["H3"]["responsible_state"] == "XC"
    assert hops["H2"]["time"]["instant"] == "2026-11-27T02:14:07+00:00"
    assert hops["H3"]["endpoint"] == "[2001:db8:c::15]:443"
    with node.work() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "trace.answer")).scalar_one()
        assert entry.detail["new_hops"] == ["H2", "H3"] and entry.actor == "olga"


def test_a_disclosure_document_is_read_and_a_bad_one_refused_by_name(node: Node, olga: Subject) -> None:
    ref, _ = _filed(node, olga)
    bad = {**DISCLOSURE, "next_hops": [{"ip": "203.0.113.77", "port": 4431, "time": "2026-11-27 3:14:07"}]}
    with pytest.raises(InputError) as refused, node.work() as session:
        answers.record_answer(session, olga, ref, "H1", document=json.dumps(bad).encode(),
                              settings=node.settings, now=NOW)
    assert refused.value.errors[0]["field"] == "next_hops[0].time_text"
    assert "12-hour clock" in refused.value.errors[0]["message"]
    with pytest.raises(InputError) as not_one, node.work() as session:
        answers.record_answer(session, olga, ref, "H1", document=b"%PDF-1.7 scanned letter",
                              settings=node.settings, now=NOW)
    assert "not JSON" in not_one.value.diagnostics()
    assert _hops(node, olga, ref)["H1"]["status"] == "requested"  # nothing was kept of the refused answers
    with node.work() as session:
        answers.record_answer(session, olga, ref, "H1", document=json.dumps(DISCLOSURE).encode(),
                              settings=node.settings, now=NOW)
    assert set(_hops(node, olga, ref)) == {"H1", "H2", "H3"}


def test_a_carrier_lookup_with_one_subscriber_makes_the_hop_the_origin(node: Node, olga: Subject) -> None:
    ref, h1 = _answered_by_lookup(node, olga, "lookup-one-subscriber.json")
    assert h1["status"] == "origin" and h1["trace_status"] == "origin_found"
    assert h1["subscriber"]["identity"] == "subscriber-0042" and h1["subscriber"]["private_ip"] == "100.64.0.7"
    with pytest.raises(ConflictError), node.work() as session:
        answers.record_answer(session, olga, ref, "H1", {"dead_end": "too late"}, settings=node.settings,
                              now=NOW)


def test_an_ambiguous_carrier_lookup_keeps_every_candidate_and_picks_none(node: Node, olga: Subject) -> None:
    _, h1 = _answered_by_lookup(node, olga, "lookup-ambiguous.json")
    assert h1["status"] == "answered" and h1["trace_status"] == "open"
    assert h1["subscriber"]["ambiguous"] is True
    assert sorted({c["private_ip"] for c in h1["subscriber"]["candidates"]}) == ["100.64.0.7", "100.64.23.122"]
    assert any("AMBIGUOUS" in t["note"] and "2 private addresses" in t["note"] for t in h1["timeline"])


def test_no_record_is_a_dead_end_and_breaks_the_chain(node: Node, olga: Subject) -> None:
    _, h1 = _answered_by_lookup(node, olga, "lookup-no-record.json")
    assert h1["status"] == "dead_end" and h1["trace_status"] == "chain_broken"
    assert h1["outcome"].startswith("carrier lookup: no record of 203.0.113.10:48900")


def _deliver(node: Node, request_id: int, name: str, content: bytes) -> None:
    digest, size = BlobStore(node.settings.blob_dir).put_chunks([content])
    with node.work() as session:
        req = session.get(CooperationRequest, request_id)
        assert req is not None and req.exchange_id is not None
        peer.receive_delivery(session, Peer("XB", "xb-bfp"), req.exchange_id,
                              [{"name": name, "media_type": "application/json", "size": size, "sha256": digest}],
                              NOW, arrival=peer.Arrival(node.settings))


def test_a_delivered_disclosure_answer_adds_the_next_hops_by_itself(node: Node, olga: Subject) -> None:
    ref, ids = _filed(node, olga, overrides={"channel": "platform"})
    disclosure_id = ids[1]
    _deliver(node, disclosure_id, "scan.pdf", b"%PDF-1.7 not an answer")
    _deliver(node, disclosure_id, "answer.json", json.dumps(DISCLOSURE).encode())
    hops = _hops(node, olga, ref)
    assert set(hops) == {"H1", "H2", "H3"} and hops["H1"]["status"] == "answered"
    assert hops["H2"]["source_attachment"]["name"] == "answer.json"
    # resolved on arrival by the node itself, before any officer opened the trace
    assert hops["H2"]["status"] == "resolved" and hops["H2"]["responsible_state"] == "XC"
    assert hops["H2"]["resolution"]["record"]["asn"] == 64520
    notes = [t["note"] for t in hops["H1"]["timeline"]]
    assert any("scan.pdf" in n and "not JSON" in n for n in notes)
    assert any("nohaven-disclosure/1 delivered by node:XB/" in n and "H2 203.0.113.77:4431" in n for n in notes)
    evidence = {e["name"] for e in hops["H1"]["evidence"]}
    assert evidence == {"scan.pdf", "answer.json"}
    with node.work() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "trace.answer")).scalar_one()
        assert entry.actor.startswith("node:XB/") and entry.detail["new_hops"] == ["H2", "H3"]
        drafted = drafting.draft_requests(session, olga, ref, "H2", settings=node.settings, now=NOW)
    assert drafted["requested_state"] == "XC" and drafted["time"]["requested_time_zone"] == "Pacific/Auckland"
    assert drafted["time"]["requested_local"] == ["2026-11-27T15:14:07+13:00"]


def test_hops_a_delivered_answer_names_are_resolved_on_arrival_by_the_node(node: Node, olga: Subject) -> None:
    ref, ids = _filed(node, olga, overrides={"channel": "platform"})
    _deliver(node, ids[1], "answer.json", json.dumps(DISCLOSURE).encode())
    hops = _hops(node, olga, ref)  # a pure read: nothing is resolved by opening the trace here
    assert [(label, hops[label]["responsible_state"], hops[label]["status"]) for label in ("H2", "H3")] == [
        ("H2", "XC", "resolved"), ("H3", "XC", "resolved")]
    assert hops["H2"]["likely_deleted_after"] is not None
    with node.work() as session:
        resolved_by = [e.actor for e in session.execute(
            select(AuditEntry).where(AuditEntry.action == "trace.resolve")).scalars()]
    assert resolved_by.count("system:arrival") == 2  # H2 and H3; H1 was resolved by olga
    assert any(t.get("actor") == "system:arrival" and t["note"].startswith("H2 203.0.113.77:4431 → XC")
               for t in hops["H2"]["timeline"])


def test_a_delivered_answer_that_does_not_validate_is_noted_not_recorded(node: Node, olga: Subject) -> None:
    ref, ids = _filed(node, olga, overrides={"channel": "platform"})
    broken = {**DISCLOSURE, "next_hops": [{"ip": "not-an-ip", "time": "2026-11-27T02:14:07Z"}]}
    _deliver(node, ids[1], "answer.json", json.dumps(broken).encode())
    hops = _hops(node, olga, ref)
    assert set(hops) == {"H1"} and hops["H1"]["status"] == "requested"
    assert any("does not validate" in t["note"] and "next_hops[0].ip" in t["note"] for t in hops["H1"]["timeline"])
    with node.work() as session:
        req = session.get(CooperationRequest, ids[1])
        assert req is not None
        assert [a.name for a in peer.attachments_of(session, req.id)] == ["answer.json"]  # the delivery is kept


def test_a_delivered_carrier_lookup_answer_makes_the_hop_the_origin(node: Node, olga: Subject) -> None:
    ref, ids = _filed(node, olga, overrides={"channel": "platform"})
    _deliver(node, ids[1], "lookup.json", (DATA / "lookup-one-subscriber.json").read_bytes())
    h1 = _hops(node, olga, ref)["H1"]
    assert h1["status"] == "origin" and h1["trace_status"] == "origin_found"
    assert h1["subscriber"]["identity"] == "subscriber-0042"
    assert h1["answer"]["attachment"]["name"] == "lookup.json"
