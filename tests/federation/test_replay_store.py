"""The replay store in the node's database, on SQLite and PostgreSQL: a transaction id is accepted once, in the
caller's transaction; refusals are audited with their reason."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fedtools import NOW, XB, Network, envelope_from_xa, make_network
from sqlalchemy import func, select

from nohaven.audit.models import AuditEntry
from nohaven.federation import (
    BadSignatureError,
    DatabaseReplayStore,
    ReplayedEnvelopeError,
    verify_envelope,
)
from nohaven.federation.models import SeenTransaction
from nohaven.node import Node

NET: Network = make_network()


def receive(node: Node, envelope: bytes) -> None:
    with node.work() as session:
        verify_envelope(envelope, NET.directory(), XB, NOW, DatabaseReplayStore(session))


def test_second_delivery_of_a_committed_envelope_is_refused_and_audited(node: Node) -> None:
    envelope = envelope_from_xa(NET)
    receive(node, envelope.to_json())
    with pytest.raises(ReplayedEnvelopeError):
        receive(node, envelope.to_json())
    with node.db.session() as session:
        row = session.get(SeenTransaction, envelope.header.TransactionIdentifier)
        assert row is not None and (row.sender_country, row.sender_id) == ("XA", "xa-ncu")
        assert row.envelope_timestamp == NOW
        denied = session.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalars().one()
        assert (denied.action, denied.object_id) == ("federation.envelope.receive",
                                                     envelope.header.TransactionIdentifier)
        assert denied.detail["reason"].startswith("replayed:") and "XA/xa-ncu" in denied.detail["reason"]


def test_an_envelope_whose_processing_rolled_back_may_come_again(node: Node) -> None:
    envelope = envelope_from_xa(NET)
    with pytest.raises(RuntimeError), node.work() as session:
        verify_envelope(envelope.to_json(), NET.directory(), XB, NOW, DatabaseReplayStore(session))
        raise RuntimeError("the request could not be stored")
    receive(node, envelope.to_json())
    with node.db.session() as session:
        assert session.execute(select(func.count()).select_from(SeenTransaction)).scalar_one() == 1


def test_losing_a_race_on_the_same_id_is_a_replay_and_the_transaction_stays_usable(
        node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    envelope = envelope_from_xa(NET)
    receive(node, envelope.to_json())
    # Another process committed the id between our look-up and our insert: only the primary key can tell.
    monkeypatch.setattr(DatabaseReplayStore, "seen", lambda self, tid: False)
    with node.db.session() as session:
        with pytest.raises(ReplayedEnvelopeError):
            verify_envelope(envelope.to_json(), NET.directory(), XB, NOW, DatabaseReplayStore(session))
        assert session.execute(select(func.count()).select_from(SeenTransaction)).scalar_one() == 1


def test_refused_signature_is_audited_and_nothing_is_remembered(node: Node) -> None:
    envelope = envelope_from_xa(NET, key="stranger")
    value = envelope.wire()
    value["signature"]["key_id"] = NET.keys["xa"].key_id
    with pytest.raises(BadSignatureError):
        receive(node, json.dumps(value).encode())
    with node.db.session() as session:
        assert session.execute(select(func.count()).select_from(SeenTransaction)).scalar_one() == 0
        reason = session.execute(select(AuditEntry.detail).where(AuditEntry.outcome == "denied")).scalar_one()
        assert reason["reason"].startswith("bad_signature:")


def test_old_ids_can_be_forgotten(node: Node) -> None:
    old, new = envelope_from_xa(NET, now=NOW - timedelta(minutes=4)), envelope_from_xa(NET)
    receive(node, old.to_json())
    receive(node, new.to_json())
    with node.work() as session:
        assert DatabaseReplayStore(session).forget_before(NOW - timedelta(minutes=1)) == 1
    with node.db.session() as session:
        store = DatabaseReplayStore(session)
        assert not store.seen(old.header.TransactionIdentifier) and store.seen(new.header.TransactionIdentifier)
