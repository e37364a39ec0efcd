"""Requests exchanged with another State's node, on SQLite and PostgreSQL: the outbox is written with the change,
peer actions go through the policy, incoming requests wait on the desk, nothing echoes back."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conftest import request_body
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Decision, Exchange, Peer, PeerAction, Subject, decide_peer
from nohaven.errors import ConflictError, NotFoundError, PermissionDeniedError
from nohaven.federation.envelope import PAYLOAD
from nohaven.federation.payload import CreatePayload
from nohaven.node import Node
from nohaven.requests import exchange, peer
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest, PeerMessage, RequestAttachment
from nohaven.requests.schema import RequestIn
from nohaven.timeutil import utcnow

XB = Peer("XB", "xb-bfp")


def outgoing(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"direction": "outgoing", "channel": "platform", "requesting_state": "XA",
                              "requested_state": "XB", "their_reference": "", **overrides}
    return request_body(**fields)


def messages(node: Node, request_id: int) -> list[PeerMessage]:
    with node.db.session() as session:
        rows = exchange.messages_of(session, request_id)
        session.expunge_all()
        return rows


def test_an_outgoing_platform_request_queues_its_create_in_the_same_transaction(
        node: Node, people: dict[str, Subject]) -> None:
    with node.work() as session:
        req = requests.create_request(session, people["olga"], outgoing())
        rid, ref, object_id = req.id, req.reference, req.exchange_id
    [message] = messages(node, rid)
    assert (message.action, message.state, message.receiver_country, message.object_id) == (
        "CREATE", "queued", "XB", object_id)
    payload = PAYLOAD.validate_python(message.payload)
    assert isinstance(payload, CreatePayload)
    assert payload.request.their_reference == ref  # the receiver's "their reference" is ours
    assert payload.request.data_items[0].value == "198.51.100.23:51515"
    assert payload.request.requesting_state == "XA" and payload.request.requested_state == "XB"

    # A request that fails rolls back with its message: nothing is queued for it.
    with pytest.raises(NotFoundError), node.work() as session:
        requests.create_request(session, people["olga"], outgoing())
        raise NotFoundError("simulated failure after the request was built")
    with node.db.session() as session:
        assert len(session.execute(select(PeerMessage)).all()) == 1


@pytest.mark.parametrize("change", [{"channel": "email"}, {"direction": "incoming", "requesting_state": "XB",
                                                           "requested_state": None, "their_reference": "x"}])
def test_requests_not_sent_by_the_platform_queue_nothing(node: Node, people: dict[str, Subject],
                                                         change: dict[str, Any]) -> None:
    with node.work() as session:
        req = requests.create_request(session, people["olga"], outgoing(**change))
        assert req.exchange_id is None
        rid = req.id
    assert messages(node, rid) == []


def test_the_requesting_side_may_only_withdraw(node: Node, people: dict[str, Subject]) -> None:
    with node.work() as session:
        rid = requests.create_request(session, people["olga"], outgoing()).id
    with pytest.raises(ConflictError, match="only be withdrawn"), node.work() as session:
        requests.transition(session, people["olga"], rid, "Preserved")
    with pytest.raises(ConflictError, match="acknowledged by XB's node"), node.work() as session:
        requests.acknowledge(session, people["olga"], rid)
    with node.work() as session:
        requests.transition(session, people["olga"], rid, "Cancelled", "no longer needed")
    assert [(m.action, m.payload.get("update", {}).get("status")) for m in messages(node, rid)] == [
        ("CREATE", None), ("UPDATE", "Cancelled")]


def receive(node: Node, object_id: str | None = None, **overrides: Any) -> tuple[int, str]:
    fields: dict[str, Any] = {"channel": "platform", "requesting_state": "XB", "their_reference": "XB-2026-000042",
                              **overrides}
    data = RequestIn.model_validate(request_body(**fields))
    object_id = object_id or str(uuid.uuid4())
    with node.work() as session:
        req = peer.receive_request(session, XB, object_id, data, utcnow())
        return req.id, object_id


def test_a_received_request_waits_unassigned_on_the_desk_until_an_officer_takes_it(
        node: Node, people: dict[str, Subject]) -> None:
    rid, object_id = receive(node)
    with node.work() as session:
        req = session.get(CooperationRequest, rid)
        assert req is not None
        assert (req.direction, req.channel, req.peer_country, req.peer_node_id, req.exchange_id) == (
            "incoming", "platform", "XB", "xb-bfp", object_id)
        assert {c.kind for c in req.clocks} >= {"acknowledge_by", "response_due"}
        # Every officer of the desk sees it while nobody has it; the auditor does not.
        assert rid in [r.id for r in requests.list_requests(session, people["otto"])]
        assert requests.list_requests(session, people["aldo"]) == []
    with node.work() as session:
        requests.acknowledge(session, people["olga"], rid)
    with node.work() as session:
        assert rid not in [r.id for r in requests.list_requests(session, people["otto"])]
        assert rid in [r.id for r in requests.list_requests(session, people["olga"])]
    with pytest.raises(NotFoundError), node.work() as session:
        requests.get_request(session, people["otto"], rid)
    with node.work() as session:  # olga's acknowledgement and status go back to XB's node
        requests.transition(session, people["olga"], rid, "Preserved", "carrier confirmed")
    sent = messages(node, rid)
    assert [m.payload["update"].get("status") for m in sent] == [None, "Preserved"]
    assert sent[0].payload["update"]["acknowledged_at"]
    with node.db.session() as session:
        entry = session.execute(select(AuditEntry).where(AuditEntry.action == "request.receive")).scalar_one()
        assert entry.actor == "node:XB/xb-bfp" and entry.object_id == str(rid)


def test_the_same_object_cannot_be_created_twice(node: Node) -> None:
    _, object_id = receive(node)
    with pytest.raises(ConflictError, match="exists already"):
        receive(node, object_id)


def test_a_node_files_requests_only_for_its_own_state(node: Node) -> None:
    data = RequestIn.model_validate(request_body(channel="platform", requesting_state="XC"))
    with pytest.raises(PermissionDeniedError, match="files requests for State XB"), node.work() as session:
        peer.receive_request(session, XB, str(uuid.uuid4()), data, utcnow())
    with node.db.session() as session:
        denied = session.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalar_one()
        assert (denied.actor, denied.action) == ("node:XB/xb-bfp", "federation.create")


def sent_by_us(node: Node, people: dict[str, Subject]) -> tuple[int, str]:
    with node.work() as session:
        req = requests.create_request(session, people["olga"], outgoing())
        return req.id, str(req.exchange_id)


def test_updates_from_the_requested_node_show_here_and_are_not_echoed(node: Node,
                                                                      people: dict[str, Subject]) -> None:
    rid, object_id = sent_by_us(node, people)
    acked = utcnow() - timedelta(minutes=1)
    with node.work() as session:
        peer.receive_update(session, XB, object_id, status=None, acknowledged_at=acked, note="taken", now=utcnow())
        peer.receive_update(session, XB, object_id, status="Preserved", acknowledged_at=None, note="done",
                            now=utcnow())
    with node.work() as session:
        req = requests.get_request(session, people["olga"], rid)
        assert req.status == "Preserved" and req.acknowledged_at == acked and req.preserved_at is not None
        kinds = [(e.actor, e.kind) for e in req.events]
        assert ("node:XB/xb-bfp", "acknowledged_by_peer") in kinds and ("node:XB/xb-bfp", "status") in kinds
    assert [(m.action, m.state) for m in messages(node, rid)] == [("CREATE", "acknowledged")]


def test_another_node_cannot_touch_a_request_it_is_not_party_to(node: Node, people: dict[str, Subject]) -> None:
    rid, object_id = sent_by_us(node, people)
    with node.work() as session:  # as the dispatcher does when it first sends to the node the directory names
        req = session.get(CooperationRequest, rid)
        assert req is not None
        req.peer_node_id = "xb-bfp"
    with pytest.raises(NotFoundError), node.work() as session:  # XC does not even learn that it exists
        peer.receive_update(session, Peer("XC", "xc-htco"), object_id, status="Rejected", acknowledged_at=None,
                            note="", now=utcnow())
    with pytest.raises(PermissionDeniedError), node.work() as session:  # same State, another node
        peer.receive_update(session, Peer("XB", "xb-other"), object_id, status="Rejected", acknowledged_at=None,
                            note="", now=utcnow())


def test_the_requester_may_withdraw_but_not_answer_its_own_request(node: Node) -> None:
    _, object_id = receive(node)
    with pytest.raises(PermissionDeniedError, match="only withdraw"), node.work() as session:
        peer.receive_update(session, XB, object_id, status="Preserved", acknowledged_at=None, note="",
                            now=utcnow())
    with node.work() as session:
        req = peer.receive_update(session, XB, object_id, status="Cancelled", acknowledged_at=None,
                                  note="withdrawn", now=utcnow())
        assert req.status == "Cancelled"


def test_deliveries_are_accepted_only_from_the_requested_node(node: Node, people: dict[str, Subject]) -> None:
    rid, object_id = sent_by_us(node, people)
    item = {"name": "records.json", "media_type": "application/json", "size": 3, "sha256": "ab" * 32}
    with node.work() as session:
        peer.receive_delivery(session, XB, object_id, [item], utcnow())
    with node.db.session() as session:
        [row] = session.execute(select(RequestAttachment).where(RequestAttachment.request_id == rid)).scalars()
        assert (row.origin, row.added_by, row.sha256) == ("received", "node:XB/xb-bfp", "ab" * 32)
    _, incoming_id = receive(node)
    with pytest.raises(PermissionDeniedError, match="only the requested node delivers"), node.work() as session:
        peer.receive_delivery(session, XB, incoming_id, [item], utcnow())


def test_attaching_to_a_received_request_delivers_it(node: Node, people: dict[str, Subject]) -> None:
    rid, _ = receive(node)
    with node.work() as session:
        requests.acknowledge(session, people["olga"], rid)
        peer.add_attachment(session, people["olga"], rid, name="../etc/answer.csv", media_type="text/csv", size=10,
                            sha256="cd" * 32, now=utcnow())
    deliver = messages(node, rid)[-1]
    assert deliver.action == "DELIVER"
    assert deliver.payload["items"] == [{"name": ".._etc_answer.csv", "media_type": "text/csv", "size": 10,
                                         "sha256": "cd" * 32}]
    with pytest.raises(NotFoundError), node.work() as session:  # otto is not in the case
        peer.add_attachment(session, people["otto"], rid, name="x", media_type="", size=1, sha256="ef" * 32,
                            now=utcnow())


@pytest.mark.parametrize("action, exchange_, allowed", [
    (PeerAction.CREATE, Exchange(requesting_state="XB"), True),
    (PeerAction.CREATE, Exchange(requesting_state="XA"), False),
    (PeerAction.UPDATE, Exchange(peer_state="XB", peer_node_id="xb-bfp", direction="outgoing", status="Rejected"),
     True),
    (PeerAction.UPDATE, Exchange(peer_state="XB", peer_node_id=None, direction="outgoing", acknowledges=True), True),
    (PeerAction.UPDATE, Exchange(peer_state="XC", peer_node_id=None, direction="outgoing"), False),
    (PeerAction.UPDATE, Exchange(peer_state="XB", peer_node_id="xb-bfp", direction="incoming", status="Cancelled"),
     True),
    (PeerAction.UPDATE, Exchange(peer_state="XB", peer_node_id="xb-bfp", direction="incoming", acknowledges=True),
     False),
    (PeerAction.DELIVER, Exchange(peer_state="XB", peer_node_id="xb-bfp", direction="outgoing"), True),
    (PeerAction.DELIVER, Exchange(peer_state="XB", peer_node_id="xb-bfp", direction="incoming"), False),
    (PeerAction.GET, Exchange(peer_state="XB", peer_node_id="xb-bfp", direction="incoming"), True),
    (PeerAction.GET, Exchange(peer_state="XB", peer_node_id="xb-zzz", direction="incoming"), False),
])
def test_peer_policy(action: PeerAction, exchange_: Exchange, allowed: bool) -> None:
    decision: Decision = decide_peer(XB, action, exchange_)
    assert decision.allowed is allowed, decision.reason
    assert decision.reason


def test_a_follow_up_joins_the_case_of_what_it_follows_on_both_sides(node: Node, people: dict[str, Subject]) -> None:
    rid, object_id = receive(node)
    with node.work() as session:
        requests.acknowledge(session, people["olga"], rid)
    mla = RequestIn.model_validate(request_body(channel="platform", requesting_state="XB", type="mla",
                                                data_items=[], their_reference="XB-2026-000043"))
    with node.work() as session:
        follow_up = peer.receive_request(session, XB, str(uuid.uuid4()), mla, utcnow(), follows_object_id=object_id)
        preservation = session.get(CooperationRequest, rid)
        assert preservation is not None and preservation.follow_up_mla_id == follow_up.id
        assert follow_up.case_id == preservation.case_id  # olga, who handles the case, sees the follow-up
        assert follow_up.id in [r.id for r in requests.list_requests(session, people["olga"])]
    with node.work() as session:  # our own MLA follow-up of an outgoing preservation also joins its case
        sent = requests.create_request(session, people["olga"], outgoing())
        ours = requests.create_request(session, people["olga"], outgoing(
            type="mla", data_items=[], follows_preservation_id=sent.id))
        assert ours.case_id == sent.case_id
        queued = exchange.messages_of(session, ours.id)[0]
        assert queued.payload["follows_object_id"] == sent.exchange_id
