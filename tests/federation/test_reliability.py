"""Reliability of the federation over real node processes on loopback: requests sent while the receiving node
and the sending node itself are killed (SIGKILL) and restarted arrive exactly once, every receipt comes back, and
the receiving node's status changes flow back in order. Node B runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import socket
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nettools import DONE, NetNode, Network, build_network, outgoing_preservation, running, wait_for
from sqlalchemy import func, select

from nohaven.audit import log as audit_log
from nohaven.audit.models import AuditEntry
from nohaven.federation.models import SeenSignature
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest, PeerMessage, RequestEvent

pytestmark = pytest.mark.xdist_group("federation-processes")

TOTAL = 1000
BATCH = 250


def _create(a: NetNode, first: int, count: int) -> list[int]:
    """`count` outgoing platform requests to XB, created at A in one transaction; their ids."""
    olga = a.subject()
    with a.node.work() as session:
        return [requests.create_request(session, olga, outgoing_preservation(n)).id
                for n in range(first, first + count)]


def _received(a: NetNode) -> int:
    return sum(count for state, count in a.message_states().items() if state in DONE)


def _kill_a_mid_dispatch(a: NetNode, attempts: int = 5) -> int:
    """Kill A while it holds claimed messages whose answers it has not recorded; how many it held."""
    for _ in range(attempts):
        wait_for(lambda: a.message_states().get("sent", 0) > 0, 30, "A to claim messages", a, interval=0.02)
        a.kill()
        in_flight = a.message_states().get("sent", 0)
        a.start()
        if in_flight:
            return in_flight
    raise AssertionError(f"A never died holding claimed messages in {attempts} tries")


def _check_exactly_once(net: Network, ids: list[int]) -> None:
    """Every request of A arrived once at B, B's receipt is recorded at A once, B's inbox holds each once."""
    a, b = net["XA"], net["XB"]
    creates = [m for m in a.messages() if m.action == "CREATE"]
    assert len(creates) == len(ids)
    assert Counter(m.state for m in creates) == Counter({"received": len(ids)})
    assert all(m.receipt and m.receipt["transaction"] == m.transaction_id for m in creates)

    incoming = b.incoming()
    by_object = Counter(r.exchange_id for r in incoming)
    assert len(incoming) == len(ids), f"B holds {len(incoming)} incoming requests for {len(ids)} sent"
    assert max(by_object.values()) == 1, [k for k, v in by_object.items() if v > 1][:5]
    assert set(by_object) == {m.object_id for m in creates}

    reference_at_b = {r.exchange_id: r.reference for r in incoming}
    with a.node.db.read_session() as session:
        sent = {r.id: (r.exchange_id, r.their_reference) for r in session.execute(
            select(CooperationRequest).where(CooperationRequest.id.in_(ids))).scalars()}
        receipts = Counter(session.execute(select(RequestEvent.request_id).where(
            RequestEvent.request_id.in_(ids), RequestEvent.kind == "received_by_peer")).scalars())
    assert all(their == reference_at_b[exchange_id] for exchange_id, their in sent.values())
    assert receipts == Counter({request_id: 1 for request_id in ids}), "a receipt was recorded twice or never"

    inbox = b.inbox_rows()
    assert len(inbox) == len(ids)
    assert {row.transaction_id: row.object_id for row in inbox} == {m.transaction_id: m.object_id for m in creates}
    with b.node.db.read_session() as session:
        filed = session.execute(select(func.count()).select_from(AuditEntry)
                                .where(AuditEntry.action == "request.receive")).scalar_one()
        chain = audit_log.verify(session)
    assert filed == len(ids)
    assert chain.ok, chain.reason


def _failed_since(a: NetNode, since: datetime) -> int:
    """Messages at A whose attempt begun after `since` failed."""
    with a.node.db.read_session() as session:
        return session.execute(select(func.count()).select_from(PeerMessage).where(
            PeerMessage.last_error != "", PeerMessage.last_attempt_at >= since)).scalar_one()


def _outage(a: NetNode, b: NetNode) -> None:
    """Kill B under load; restart it on the same port once A has met the outage."""
    b.kill()
    killed = datetime.now(UTC)
    assert not b.running
    wait_for(lambda: _failed_since(a, killed) > 0, 30, "A to meet the outage", a, b, interval=0.05)
    b.start()


def test_a_thousand_requests_arrive_exactly_once_while_both_nodes_crash(tmp_path: Path) -> None:
    """1000 requests created at A in four batches while B is killed twice under load and restarted on its port,
    A is killed holding claimed messages, B is frozen past A's timeout, and both are killed at once."""
    net = build_network(tmp_path / "net")
    with running(net):
        a, b = net["XA"], net["XB"]
        ids = _create(a, 0, BATCH)
        wait_for(lambda: _received(a) >= 50, 60, "the first receipts", a, b)
        _outage(a, b)
        ids += _create(a, BATCH, BATCH)
        wait_for(lambda: _received(a) >= 150, 60, "150 receipts", a, b)
        in_flight = _kill_a_mid_dispatch(a)
        ids += _create(a, 2 * BATCH, BATCH)
        wait_for(lambda: _received(a) >= 300, 60, "300 receipts", a, b)
        _outage(a, b)
        ids += _create(a, 3 * BATCH, BATCH)
        wait_for(lambda: _received(a) >= 450, 60, "450 receipts", a, b)
        # Frozen for longer than A's 2 s timeout: what A sent meanwhile waits in B's socket, A gives up on it, B
        # files it once it runs again, and A's retry must be answered from B's inbox.
        b.freeze(3.5)
        wait_for(lambda: _received(a) >= 700, 90, "700 receipts", a, b)
        assert _received(a) < TOTAL, "the last crash should fall while messages are still pending"
        b.kill()  # both at once
        a.kill()
        b.start(wait=False)
        a.start()
        b.wait_up()
        wait_for(lambda: _received(a) == TOTAL, 120, f"all {TOTAL} receipts at A", a, b, interval=0.5)

        _check_exactly_once(net, ids)
        attempts = sum(m.attempts for m in a.messages())
        with b.node.db.read_session() as session:
            accepted = session.execute(select(func.count()).select_from(SeenSignature)).scalar_one()
        print(f"3 outages and a freeze of B, 2 crashes of A (the first with {in_flight} claimed messages in hand), "
              f"{attempts} attempts for {TOTAL} messages, {accepted - TOTAL} retries of accepted transactions "
              "answered from B's inbox")
        assert attempts > TOTAL, "no message was ever retried: the outages did not happen during dispatch"
        assert accepted > TOTAL, "no retry of a transaction B had accepted was answered from its inbox"


def _statuses_flow_back(net: Network, count: int) -> None:
    a, b = net["XA"], net["XB"]
    ids = _create(a, 0, count)
    wait_for(lambda: _received(a) >= 3, 60, "the first receipts", a, b)
    b.restart()
    wait_for(lambda: _received(a) == count, 90, f"{count} receipts", a, b, interval=0.2)
    _check_exactly_once(net, ids)

    request_id = ids[0]
    with a.node.db.read_session() as session:
        exchange_id = session.get(CooperationRequest, request_id).exchange_id
    at_b = next(r for r in b.incoming() if r.exchange_id == exchange_id)
    olga_b = b.subject()
    with b.node.work() as session:
        acknowledged_at = requests.acknowledge(session, olga_b, at_b.id).acknowledged_at
    path = [("Error", "custodian's system down"), ("AwaitingPreservation", "custodian back"),
            ("Preserved", "preserved by the custodian")]
    for status, note in path:
        with b.node.work() as session:
            requests.transition(session, olga_b, at_b.id, status, note)

    def told() -> bool:
        return all(m.state == "received" for m in b.messages()) and len(b.messages()) == 1 + len(path)

    wait_for(told, 60, "B's updates to reach A", a, b)
    with a.node.db.read_session() as session:
        req = session.get(CooperationRequest, request_id)
        events = list(session.execute(select(RequestEvent).where(RequestEvent.request_id == request_id,
                                                                 RequestEvent.actor == "node:XB/xb-bfp")
                                      .order_by(RequestEvent.id)).scalars())
        assert req.acknowledged_at == acknowledged_at
        assert req.status == "Preserved"
        assert req.preserved_at is not None
    assert [e.kind for e in events] == ["acknowledged_by_peer", "status", "status", "status"]
    assert [(e.from_status, e.to_status, e.note) for e in events[1:]] == [
        ("AwaitingPreservation", "Error", "custodian's system down"),
        ("Error", "AwaitingPreservation", "custodian back"),
        ("AwaitingPreservation", "Preserved", "preserved by the custodian")]
    create = next(m for m in a.messages() if m.request_id == request_id)
    assert (create.state, create.acknowledged_at) == ("acknowledged", acknowledged_at)
    others = [m.state for m in a.messages() if m.request_id != request_id]
    assert set(others) == {"received"}, "only the acknowledged request's CREATE becomes acknowledged"


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_statuses_flow_back_and_b_restarts_on_either_database(tmp_path: Path, db_url: str) -> None:
    """B's database is the `db_url` one: a fresh SQLite file, or a fresh PostgreSQL database dropped afterwards
    (in CI a missing PostgreSQL fails this test)."""
    net = build_network(tmp_path / "net", database_urls={"XB": db_url})
    with running(net):
        assert net["XB"].node.db.engine.dialect.name == db_url.split(":")[0].split("+")[0]
        _statuses_flow_back(net, count=30)


def test_a_node_that_does_not_answer_does_not_hold_up_the_others(tmp_path: Path) -> None:
    """XC's host takes connections and never answers; A's messages to XB must not wait behind XC's timeouts."""
    net = build_network(tmp_path / "net", states=("XA", "XB", "XC"))
    with socket.socket() as black_hole, running(net, "XA", "XB"):
        black_hole.bind(("127.0.0.1", net["XC"].demo.port))
        black_hole.listen(1)  # never accepted: connections hang, then the backlog is full and they time out
        a, b = net["XA"], net["XB"]
        olga = a.subject()
        with a.node.work() as session:
            for n in range(15):
                requests.create_request(session, olga, outgoing_preservation(n, receiver="XC"))
            requests.create_request(session, olga, outgoing_preservation(15))
        started = time.monotonic()
        wait_for(lambda: any(m.state == "received" for m in a.messages()), 60, "the message to XB", a, b)
        waited = time.monotonic() - started
        to_xc = [m for m in a.messages() if m.receiver_country == "XC"]
        assert {m.state for m in to_xc} <= {"queued", "sent"}
        assert any("Timeout" in m.last_error for m in to_xc), [m.last_error for m in to_xc]
        # Each of the 15 messages to XC takes the 2 s timeout when tried; one is enough to know XC is away.
        assert waited < 12, f"the message to XB waited {waited:.1f} s behind those to XC"
