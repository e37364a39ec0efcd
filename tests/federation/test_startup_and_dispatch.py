"""A node's federation start-up and its dispatcher's bookkeeping, on SQLite and PostgreSQL: what it refuses to
start with, which messages it claims (in order, crash-safe), how it backs off and records failures."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fedtools import Network, make_network
from sqlalchemy import select

from conftest import request_body
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Subject
from nohaven.errors import ConfigError
from nohaven.federation import DirectoryKey, NetworkDirectory, NodeEntry, sign_directory
from nohaven.federation.context import FederationContext, load_context
from nohaven.federation.dispatcher import Dispatcher
from nohaven.federation.keys import write_key_pair
from nohaven.federation.models import InstalledDirectory
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest, PeerMessage
from nohaven.timeutil import utcnow


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _directory(net: Network, inbox: str, serial: int = 1) -> NetworkDirectory:
    now = utcnow()
    return NetworkDirectory(format="nohaven-network-directory/1", serial=serial, issued_at=now, nodes=[
        NodeEntry(state="XA", agency="Aldorian NCU", node_id="xa-ncu", inbox_url="http://127.0.0.1:1/x",
                  keys=[DirectoryKey.for_key(net.keys["xa"].public, now - timedelta(days=1), now + timedelta(days=9))]),
        NodeEntry(state="XB", agency="Borvanian FP", node_id="xb-bfp", inbox_url=inbox,
                  keys=[DirectoryKey.for_key(net.keys["xb"].public, now - timedelta(days=1), now + timedelta(days=9))]),
    ])


def federated(node: Node, tmp_path: Path, net: Network, *, inbox: str | None = None, **settings: Any) -> Node:
    """The test node as XA's node of the network: key file, pinned authority key, directory file."""
    keys = tmp_path / "keys"
    if not (keys / "xa.key").exists():
        write_key_pair(keys, "xa", net.keys["xa"])
        write_key_pair(keys, "authority", net.authority)
    directory_file = tmp_path / "directory.json"
    directory_file.write_bytes(sign_directory(_directory(
        net, inbox or f"http://127.0.0.1:{_closed_port()}/federation/v1/inbox"), net.authority))
    values: dict[str, Any] = {"federation_node_id": "xa-ncu", "federation_key_file": keys / "xa.key",
                              "federation_authority_keys": str(keys / "authority.pub"),
                              "federation_directory_file": directory_file, "federation_allow_loopback_http": True,
                              "federation_retry_base_seconds": 2.0, "federation_retry_max_seconds": 60.0, **settings}
    return Node(node.settings.model_copy(update=values), db=node.db)


def context(node: Node) -> FederationContext:
    ctx = load_context(node)
    assert ctx is not None
    return ctx


def test_federation_is_off_without_a_node_id(node: Node) -> None:
    assert load_context(node) is None


def test_start_up_refuses_what_is_missing_and_names_the_setting(node: Node, tmp_path: Path) -> None:
    net = make_network()
    with pytest.raises(ConfigError, match="federation keygen"):
        load_context(federated(node, tmp_path, net, federation_key_file=tmp_path / "nope.key"))
    with pytest.raises(ConfigError, match="NOHAVEN_FEDERATION_AUTHORITY_KEYS"):
        load_context(federated(node, tmp_path, net, federation_authority_keys=""))
    with pytest.raises(ConfigError, match="no network directory is installed"):
        load_context(federated(node, tmp_path, net, federation_directory_file=None))
    with pytest.raises(ConfigError, match="is not in the network directory"):
        load_context(federated(node, tmp_path, net, federation_node_id="xa-other"))
    write_key_pair(tmp_path / "keys", "stranger", net.keys["stranger"])
    with pytest.raises(ConfigError, match="is not one of XA/xa-ncu's keys"):
        load_context(federated(node, tmp_path, net, federation_key_file=tmp_path / "keys" / "stranger.key"))


def test_a_refused_directory_file_keeps_the_last_good_one(node: Node, tmp_path: Path) -> None:
    net = make_network()
    ctx = context(federated(node, tmp_path, net))
    assert ctx.me.UniqueIdentifier == "xa-ncu" and ctx.directory().serial == 1
    tampered = federated(node, tmp_path, net)
    path = tampered.settings.federation_directory_file
    assert path is not None
    path.write_bytes(path.read_bytes().replace(b"Borvanian FP", b"Borvanian XX"))
    assert context(tampered).directory().serial == 1  # started, with the last good directory
    with node.db.session() as session:
        assert session.execute(select(InstalledDirectory.serial)).scalars().all() == [1]
        denied = session.execute(select(AuditEntry).where(AuditEntry.outcome == "denied")).scalar_one()
        assert denied.action == "federation.directory.install" and "signature" in denied.detail["reason"]


def _outgoing(node: Node, subject: Subject, count: int) -> list[int]:
    with node.work() as session:
        return [requests.create_request(session, subject, request_body(
            direction="outgoing", channel="platform", requesting_state="XA", requested_state="XB",
            their_reference="")).id for _ in range(count)]


def test_claims_follow_object_order_and_survive_a_crash(node: Node, tmp_path: Path,
                                                        people: dict[str, Subject]) -> None:
    ctx = context(federated(node, tmp_path, make_network()))
    first, second = _outgoing(node, people["olga"], 2)
    with node.work() as session:  # XB answers the first request quickly; its updates queue behind the CREATE
        req = session.get(CooperationRequest, first)
        assert req is not None
        req.direction = "incoming"  # as if we were the requested side, so our changes are told
        requests.transition(session, people["sam"], first, "Rejected", "no such data")
    dispatcher = Dispatcher(ctx)
    try:
        claimed = dispatcher._claim(50)
        with node.db.session() as session:
            rows = {m.id: m for m in session.execute(select(PeerMessage)).scalars()}
        by_request = sorted((rows[i].request_id, rows[i].action) for i in claimed)
        assert by_request == [(first, "CREATE"), (second, "CREATE")]  # the UPDATE waits for its CREATE
        now = utcnow()
        for i in claimed:  # claimed = sent, attempt counted, due again only after timeout + backoff
            assert rows[i].state == "sent" and rows[i].attempts == 1
            assert rows[i].next_attempt_at > now + timedelta(seconds=29)
        assert dispatcher._claim(50) == []  # nothing is claimed twice, nothing else is due
    finally:
        dispatcher.stop()


def test_an_unreachable_node_is_retried_with_backoff(node: Node, tmp_path: Path,
                                                      people: dict[str, Subject]) -> None:
    ctx = context(federated(node, tmp_path, make_network()))
    [rid] = _outgoing(node, people["olga"], 1)
    dispatcher = Dispatcher(ctx)
    try:
        before = utcnow()
        assert dispatcher.run_once().as_dict() == {"received": 0, "retrying": 1, "failed": 0}
        with node.db.session() as session:
            message = session.execute(select(PeerMessage).where(PeerMessage.request_id == rid)).scalar_one()
            assert message.state == "queued" and message.attempts == 1
            assert "ConnectError" in message.last_error
            # First retry: between half and all of the base (2 s).
            assert before + timedelta(seconds=1) <= message.next_attempt_at <= utcnow() + timedelta(seconds=2)
            req = session.get(CooperationRequest, rid)
            assert req is not None and req.peer_node_id == "xb-bfp"  # pinned at the first attempt
        for attempts, ceiling in ((1, 2.0), (3, 8.0), (10, 60.0)):
            delays = [dispatcher._backoff(attempts).total_seconds() for _ in range(200)]
            assert ceiling / 2 <= min(delays) and max(delays) <= ceiling
    finally:
        dispatcher.stop()


def test_plain_http_is_refused_outside_demo_and_test_mode(node: Node, tmp_path: Path,
                                                          people: dict[str, Subject]) -> None:
    ctx = context(federated(node, tmp_path, make_network(), federation_allow_loopback_http=False))
    _outgoing(node, people["olga"], 1)
    dispatcher = Dispatcher(ctx)
    try:
        dispatcher.run_once()
    finally:
        dispatcher.stop()
    with node.db.session() as session:
        message = session.execute(select(PeerMessage)).scalar_one()
        assert message.state == "queued" and "plain HTTP" in message.last_error
