"""Traces in the node (SQLite and PostgreSQL): hops resolved with the node's IP data, drafts with the time three
ways, filing, policy refusals and audit entries."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tracetools import NOW, VPN_HIT, load_ipdata, open_trace

from conftest import make_user
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Subject
from nohaven.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest
from nohaven.tracing import drafting, service, views


@pytest.fixture
def olga(node: Node) -> Subject:
    load_ipdata(node)
    subject: Subject = make_user(node, "olga", "officer")
    return subject


def _view(node: Node, subject: Subject, ref: str) -> dict[str, Any]:
    with node.work() as session:
        return views.trace_view(session, service.get_trace(session, subject, ref), NOW)


def test_a_trace_opens_a_case_and_its_first_hop_is_resolved_to_the_vpn_in_borvania(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    view = _view(node, olga, ref)
    assert ref.startswith("XA-TR-2026-")
    assert view["case"].startswith("CASE-2026-") and view["status"] == "open"
    [hop] = view["hops"]
    assert hop["label"] == "H1" and hop["endpoint"] == "198.51.100.23:51515" and hop["status"] == "resolved"
    assert hop["time"]["source_text"] == "2026-11-27 03:14:07 CET" and hop["time"]["offset"] == "+01:00"
    assert hop["time"]["instant"] == "2026-11-27T02:14:07+00:00"
    assert hop["time"]["window_start"] == "2026-11-27T02:14:05+00:00"
    assert hop["responsible_state"] == "XB" and hop["domestic"] is False
    assert hop["resolution"]["record"]["holder"] == "Borvania VPN Services (fictional)"
    assert hop["resolution"]["record"]["rir_snapshot"] == "2026-10-01"
    assert hop["resolution"]["point_of_contact"]["contact_key"] == "xb-desk"
    # XB keeps traffic data 90 days: counted from the earliest instant the hop may be.
    assert hop["likely_deleted_after"] == "2027-02-25T02:14:05+00:00"
    assert hop["urgency"] == "ok"
    assert [n["label"] for n in view["graph"]["nodes"]] == ["H1"] and view["graph"]["edges"] == []
    assert view["timeline"][0]["kind"] == "observed" and view["timeline"][0]["hop"] == "H1"


def test_urgency_follows_the_retention_deadline(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    with node.work() as session:
        hop = service.find_hop(service.get_trace(session, olga, ref), "H1")
        assert hop.likely_deleted_after is not None
        deadline = hop.likely_deleted_after
        assert service.urgency(hop, deadline - timedelta(days=40)) == "ok"
        assert service.urgency(hop, deadline - timedelta(days=20)) == "soon"
        assert service.urgency(hop, deadline - timedelta(days=3)) == "critical"
        assert service.urgency(hop, deadline + timedelta(seconds=1)) == "overdue"


def test_a_time_that_names_no_instant_is_refused_and_nothing_is_stored(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    with pytest.raises(InputError) as refused, node.work() as session:
        service.add_hop(session, olga, ref, {**VPN_HIT, "time_text": "2026-11-27 03:14:07 IST"},
                        settings=node.settings, now=NOW)
    assert refused.value.errors[0]["field"] == "time_text"
    assert "India Standard Time" in refused.value.errors[0]["message"]
    with pytest.raises(InputError) as no_ip, node.work() as session:
        service.add_hop(session, olga, ref, {**VPN_HIT, "ip": "198.51.100.300"}, settings=node.settings, now=NOW)
    assert no_ip.value.errors[0]["field"] == "ip"
    assert len(_view(node, olga, ref)["hops"]) == 1


def test_a_repeated_hour_is_kept_as_two_instants(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    with node.work() as session:
        hop = service.add_hop(session, olga, ref, {**VPN_HIT, "time_text": "2026-10-25 02:30:00",
                                                   "time_zone": "Europe/Berlin", "parent": "H1"},
                              settings=node.settings, now=NOW)
        label = hop.label
    [h2] = [h for h in _view(node, olga, ref)["hops"] if h["label"] == label]
    assert h2["time"]["ambiguous"] is True and h2["time"]["instant"] is None
    assert h2["time"]["candidates"] == ["2026-10-25T00:30:00+00:00", "2026-10-25T01:30:00+00:00"]
    assert h2["time"]["offset"] == "+02:00 or +01:00"


def test_drafts_go_to_the_borvanian_desk_with_the_time_three_ways(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    with node.work() as session:
        draft = drafting.draft_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
    assert [d["kind"] for d in draft["drafts"]] == ["preservation", "traffic_disclosure"]
    assert draft["time"]["source_text"] == "2026-11-27 03:14:07 CET"
    assert draft["time"]["utc"] == ["2026-11-27T02:14:07+00:00"]
    assert draft["time"]["requested_time_zone"] == "Europe/Berlin"
    assert draft["time"]["requested_local"] == ["2026-11-27T03:14:07+01:00"]
    preservation = draft["drafts"][0]["request"]
    assert preservation["requested_state"] == "XB" and preservation["requesting_state"] == "XA"
    assert preservation["requested_authority"].startswith("Borvanian Federal Police")
    assert preservation["requesting_authority"]["organisation"].startswith("Aldorian National Cybercrime Unit")
    assert preservation["data_items"] == [{"identifier_type": "ip_port", "value": "198.51.100.23:51515",
                                           "data_category": "traffic", "time_from": "2026-11-27T03:14:05+01:00",
                                           "time_to": "2026-11-27T03:14:09+01:00"}]
    for text in ("2026-11-27 03:14:07 CET", "2026-11-27T02:14:07+00:00", "Europe/Berlin: 2026-11-27T03:14:07+01:00"):
        assert text in preservation["link_to_offence"]
    assert preservation["channel"] == "email"  # no federation on this node: XB is reached by e-mail
    assert draft["drafts"][0]["problems"] == [] and draft["drafts"][1]["problems"] == []


def test_an_address_of_our_own_state_gets_a_domestic_order(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga, {**VPN_HIT, "ip": "192.0.2.10", "time_text": "27/Nov/2026:03:14:07 +0100"})
    with node.work() as session:
        draft = drafting.draft_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
    assert draft["domestic"] is True
    [order] = draft["drafts"]
    assert order["kind"] == "domestic_order" and order["request"]["requested_state"] == "XA"
    assert order["request"]["requested_authority"] == "Aldoria Telecom (fictional)"
    assert draft["time"]["requested_local"] == ["2026-11-27T03:14:07+01:00"]  # Europe/Paris


def test_an_unknown_offset_is_drafted_over_the_whole_window(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga, {**VPN_HIT, "time_text": "2026-11-27 03:14:07", "offset_unknown": True})
    with node.work() as session:
        draft = drafting.draft_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
    assert draft["time"]["utc"] == [] and draft["time"]["offset"] == "unknown"
    assert draft["time"]["window_utc"] == ["2026-11-26T13:14:05+00:00", "2026-11-27T15:14:09+00:00"]
    text = draft["drafts"][1]["request"]["link_to_offence"]
    assert "AMBIGUOUS" in text and "UTC-12 to UTC+14" in text


def test_filing_creates_outgoing_requests_in_the_case_linked_to_the_hop(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    with node.work() as session:
        filed = drafting.file_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
        ids = [r.id for r in filed]
    with node.work() as session:
        rows = [requests.get_request(session, olga, i) for i in ids]
        assert [(r.type, r.direction, r.requested_state) for r in rows] == [
            ("preservation", "outgoing", "XB"), ("traffic_disclosure", "outgoing", "XB")]
        case_ids = {r.case_id for r in rows}
        trace = service.get_trace(session, olga, ref)
        assert case_ids == {trace.case_id}
        assert rows[0].data_items[0].time_from_text == "2026-11-27T03:14:05+01:00"
    view = _view(node, olga, ref)
    [hop] = view["hops"]
    assert hop["status"] == "requested"
    assert [(r["kind"], r["status"]) for r in hop["requests"]] == [("preservation", "AwaitingPreservation"),
                                                                   ("traffic_disclosure", "AwaitingApproval")]
    assert hop["requests"][0]["next_clock"]["kind"] == "acknowledge_by"  # XB must acknowledge within 2 h
    assert hop["requests"][0]["delivery"] is None  # by e-mail: nothing goes through the outbox
    with pytest.raises(ConflictError), node.work() as session:
        drafting.file_requests(session, olga, ref, "H1", {"types": ["preservation"]}, settings=node.settings,
                               now=NOW)
    with node.work() as session:
        actions = [a for a in session.execute(select(AuditEntry.action).where(
            AuditEntry.object_id == ref)).scalars()]
        assert {"trace.create", "trace.read", "trace.requests.file"} <= set(actions)
        assert session.execute(select(CooperationRequest).where(CooperationRequest.id.in_(ids))).scalars().all()


def test_an_officer_of_another_case_sees_nothing_and_changes_nothing(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    otto = make_user(node, "otto", "officer")
    aldo = make_user(node, "aldo", "auditor")
    with pytest.raises(NotFoundError), node.work() as session:
        service.get_trace(session, otto, ref)
    with pytest.raises(NotFoundError), node.work() as session:
        service.add_hop(session, otto, ref, VPN_HIT, settings=node.settings, now=NOW)
    with pytest.raises(PermissionDeniedError), node.work() as session:
        service.create_trace(session, aldo, {"title": "x"}, settings=node.settings, now=NOW)
    with node.work() as session:
        assert service.list_traces(session, otto) == []
        assert [t.reference for t in service.list_traces(session, olga)] == [ref]
        denied = list(session.execute(select(AuditEntry).where(AuditEntry.outcome == "denied",
                                                               AuditEntry.actor == "otto")).scalars())
        assert {d.action for d in denied} == {"trace.read"}
    sam = make_user(node, "sam", "supervisor")
    assert _view(node, sam, ref)["reference"] == ref


def test_an_address_no_ip_data_covers_is_kept_unresolved_and_cannot_be_drafted(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga, {**VPN_HIT, "ip": "100.64.1.1"})
    [hop] = _view(node, olga, ref)["hops"]
    assert hop["status"] == "new" and hop["responsible_state"] is None
    assert hop["resolution"]["problems"] and hop["urgency"] == "unknown"
    with pytest.raises(ConflictError) as refused, node.work() as session:
        drafting.draft_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
    assert "not resolved to a State" in refused.value.message


def test_a_trace_in_an_existing_case_needs_its_membership(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    case = _view(node, olga, ref)["case"]
    second = open_trace(node, olga, case_reference=case)
    assert _view(node, olga, second)["case"] == case
    otto = make_user(node, "otto", "officer")
    with pytest.raises(NotFoundError) as hidden, node.work() as session:
        service.create_trace(session, otto, {"title": "x", "case_reference": case}, settings=node.settings, now=NOW)
    assert case in hidden.value.message
    with pytest.raises(InputError) as unknown, node.work() as session:
        service.create_trace(session, olga, {"title": "x", "case_reference": "CASE-1999-00001"},
                             settings=node.settings, now=NOW)
    assert unknown.value.errors[0]["field"] == "case_reference"


def test_a_time_without_offset_in_a_given_zone_is_drafted_in_the_requested_zone(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga, {**VPN_HIT, "time_text": "2026-11-27 09:14:07", "time_zone": "Asia/Tokyo"})
    with node.work() as session:
        draft = drafting.draft_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
    assert draft["time"]["offset"] == "+09:00" and draft["time"]["time_zone_given"] == "Asia/Tokyo"
    assert draft["time"]["utc"] == ["2026-11-27T00:14:07+00:00"]
    assert draft["time"]["requested_local"] == ["2026-11-27T01:14:07+01:00"]


def test_a_repeated_hour_is_drafted_with_both_instants(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga, {**VPN_HIT, "time_text": "2026-10-25 02:30:00", "time_zone": "Europe/Paris"})
    with node.work() as session:
        draft = drafting.draft_requests(session, olga, ref, "H1", settings=node.settings, now=NOW)
    assert draft["time"]["requested_local"] == ["2026-10-25T02:30:00+02:00", "2026-10-25T02:30:00+01:00"]
    text = draft["drafts"][0]["request"]["link_to_offence"]
    assert "2026-10-25T00:30:00+00:00 or 2026-10-25T01:30:00+00:00" in text and "AMBIGUOUS" in text
    assert draft["drafts"][0]["request"]["data_items"][0]["time_from"] == "2026-10-25T02:29:58+02:00"
    assert draft["drafts"][0]["request"]["data_items"][0]["time_to"] == "2026-10-25T02:30:02+01:00"


def test_a_closed_trace_takes_no_hop_until_reopened(node: Node, olga: Subject) -> None:
    ref = open_trace(node, olga)
    with node.work() as session:
        assert service.close_trace(session, olga, ref, "case closed by the prosecutor", now=NOW).status == "closed"
    with pytest.raises(ConflictError), node.work() as session:
        service.add_hop(session, olga, ref, VPN_HIT, settings=node.settings, now=NOW)
    with pytest.raises(ConflictError), node.work() as session:
        service.close_trace(session, olga, ref, now=NOW)
    with node.work() as session:
        assert service.close_trace(session, olga, ref, reopen=True, now=NOW).status == "open"
        service.add_hop(session, olga, ref, VPN_HIT, settings=node.settings, now=NOW)
    kinds = [t["kind"] for t in _view(node, olga, ref)["timeline"]]
    assert "closed" in kinds and "reopened" in kinds
