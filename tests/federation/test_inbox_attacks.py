"""Attacks on a running node's inbox (`nohaven serve` on loopback, node XB), sent as XA or as a stranger.

Each refusal must come back with the right HTTP status and a signed ERROR envelope naming the reason (its
signature checked with B's key from the directory), be audited at B as `denied` with that reason, leave nothing
behind, and B must go on accepting valid envelopes.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from nettools import Network, build_network, outgoing_preservation, running
from sqlalchemy import func, select

from nohaven.audit import log as audit_log
from nohaven.audit.models import AuditEntry
from nohaven.federation import (
    CreatePayload,
    DeliverPayload,
    EndpointID,
    SigningKey,
    new_envelope,
    signed_bytes,
)
from nohaven.federation.canonical import b64url_decode, b64url_encode
from nohaven.federation.dispatcher import DELIVER_MEDIA_TYPE
from nohaven.federation.models import InboxMessage, SeenTransaction
from nohaven.federation.replay import DatabaseReplayStore
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest, RequestAttachment

pytestmark = pytest.mark.xdist_group("federation-processes")

XA = EndpointID(CountryCode="XA", UniqueIdentifier="xa-ncu")
XB = EndpointID(CountryCode="XB", UniqueIdentifier="xb-bfp")
XC = EndpointID(CountryCode="XC", UniqueIdentifier="xc-htco")


@dataclass
class Target:
    """Node B running, and what the attacker holds: XA's real key, an expired XA key, and a key nobody listed."""

    net: Network
    xa_key: SigningKey
    expired_key: SigningKey
    stranger_key: SigningKey
    client: httpx.Client

    @property
    def inbox(self) -> str:
        return self.net["XB"].inbox_url

    def post(self, body: bytes, media_type: str = "application/json") -> httpx.Response:
        return self.client.post(self.inbox, content=body, headers={"content-type": media_type})


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    net = build_network(tmp_path_factory.mktemp("attacks") / "net", states=("XA", "XB", "XC"))
    now = datetime.now(UTC)
    expired = SigningKey.generate()
    net.add_key("XA", expired, now - timedelta(days=400), now - timedelta(days=1))
    net.publish()
    with running(net, "XB"), httpx.Client(timeout=30) as client:
        yield Target(net, net["XA"].key, expired, SigningKey.generate(), client)


def _now() -> datetime:
    return datetime.now(UTC)


def _create(n: int = 0) -> CreatePayload:
    request = {**outgoing_preservation(n), "direction": "incoming", "their_reference": f"XA-ATTACK-{n}"}
    return CreatePayload.model_validate({"action": "CREATE", "object_id": str(uuid.uuid4()), "request": request})


def _signed(key: SigningKey, payload: dict[str, Any], *, sender: EndpointID = XA, receiver: EndpointID = XB,
            at: datetime | None = None, transaction_id: str | None = None, key_id: str | None = None) -> bytes:
    """An envelope signed over whatever payload it is given (valid or not), as an attacker would build it."""
    header = {"SenderIdentifier": sender.model_dump(), "ReceiverIdentifier": receiver.model_dump(),
              "TransactionIdentifier": transaction_id or str(uuid.uuid4()),
              "Timestamp": (at or _now()).isoformat(timespec="microseconds"),
              "Version": {"ETSIVersion": "V1.23.1", "NationalProfileOwner": "nohaven", "NationalProfileVersion": "1"}}
    signature = {"algorithm": "Ed25519", "key_id": key_id or key.key_id,
                 "value": b64url_encode(key.sign(signed_bytes(header, payload)))}
    return json.dumps({"header": header, "payload": payload, "signature": signature}).encode()


def _b_answer(t: Target, response: httpx.Response, to: EndpointID) -> dict[str, Any]:
    """The answer's payload, after checking it is an envelope from B to `to` signed by B's key in the
    directory."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    value = json.loads(response.content)
    header, payload, signature = value["header"], value["payload"], value["signature"]
    assert header["SenderIdentifier"] == XB.model_dump()
    assert header["ReceiverIdentifier"] == to.model_dump()
    listed = t.net.directory().nodes
    b_entry = next(n for n in listed if n.node_id == XB.UniqueIdentifier)
    key = b_entry.key(signature["key_id"])
    assert key is not None, "the answer is signed by a key B does not have in the directory"
    assert key.verify_key().verifies(b64url_decode(signature["value"], "value", 64),
                                     signed_bytes(header, payload)), "B's signature does not verify"
    return {"header": header, **payload}


def _refused(t: Target, response: httpx.Response, status: int, reason: str, *, to: EndpointID = XA,
             refused: str | None = None) -> str:
    assert response.status_code == status, response.text
    answer = _b_answer(t, response, to)
    assert answer["action"] == "ERROR"
    assert answer["error"]["reason"] == reason
    if refused is not None:
        assert answer["error"]["refused_transaction"] == refused
        assert answer["header"]["InReplyTo"] == refused
    return str(answer["error"]["description"])


def _receipt(t: Target, response: httpx.Response, transaction_id: str) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    answer = _b_answer(t, response, XA)
    assert answer["action"] == "RECEIPT"
    assert answer["header"]["InReplyTo"] == transaction_id == answer["receipt"]["transaction"]
    return dict(answer["receipt"])


def _valid(t: Target, n: int = 0) -> tuple[bytes, str, str]:
    """A valid CREATE from XA: its bytes, transaction id and object id."""
    envelope = new_envelope(XA, XB, _create(n), t.xa_key, now=_now())
    return envelope.to_json(), envelope.header.TransactionIdentifier, envelope.payload.object_id


@dataclass(frozen=True)
class Counts:
    requests: int
    inbox: int
    seen: int
    attachments: int
    last_audit: int


def _counts(t: Target) -> Counts:
    with t.net["XB"].node.db.read_session() as session:
        def count(model: Any) -> int:
            return int(session.execute(select(func.count()).select_from(model)).scalar_one())
        return Counts(count(CooperationRequest), count(InboxMessage), count(SeenTransaction),
                      count(RequestAttachment),
                      session.execute(select(func.max(AuditEntry.seq))).scalar_one())


def _audited(t: Target, since: int, reason: str, action: str = "federation.envelope.receive") -> AuditEntry:
    with t.net["XB"].node.db.read_session() as session:
        entries = list(session.execute(select(AuditEntry).where(AuditEntry.seq > since)).scalars())
    denied = [e for e in entries if e.outcome == "denied"]
    assert len(denied) == 1 and denied[0].action == action and denied[0].detail["reason"].startswith(reason), \
        [(e.action, e.outcome, e.detail) for e in entries]
    return denied[0]


def _still_serving(t: Target) -> None:
    body, tid, object_id = _valid(t, 99)
    assert _receipt(t, t.post(body), tid)["object_id"] == object_id


def _after_refusal(t: Target, before: Counts, reason: str, action: str = "federation.envelope.receive",
                   audited_reason: str | None = None) -> None:
    """Audited once (the reason code first, unless the policy words it), nothing kept, and B still serves."""
    _audited(t, before.last_audit, audited_reason or f"{reason}: ", action)
    with t.net["XB"].node.db.read_session() as session:
        chain = audit_log.verify(session)
    assert chain.ok, chain.reason
    after = _counts(t)
    assert (after.requests, after.inbox, after.seen, after.attachments) == (
        before.requests, before.inbox, before.seen, before.attachments)
    _still_serving(t)


def _forged(t: Target) -> bytes:  # another key's signature, under XA's key id
    return _signed(t.stranger_key, _create().model_dump(mode="json"), key_id=t.xa_key.key_id)


def _altered(t: Target) -> bytes:  # XA's genuine signature, then a byte of the payload changed
    value = json.loads(_valid(t)[0])
    value["payload"]["request"]["offence"] += "."
    return json.dumps(value).encode()


ATTACKS: dict[str, tuple[Callable[[Target], bytes], int, str]] = {
    "forged signature": (_forged, 401, "bad_signature"),
    "payload altered after signing": (_altered, 401, "bad_signature"),
    "unknown key": (lambda t: _signed(t.stranger_key, _create().model_dump(mode="json")), 401, "unknown_key"),
    "expired key": (lambda t: _signed(t.expired_key, _create().model_dump(mode="json")), 401, "key_expired"),
    "wrong receiver": (lambda t: _signed(t.xa_key, _create().model_dump(mode="json"), receiver=XC), 421,
                       "wrong_receiver"),
    "stale timestamp": (lambda t: _signed(t.xa_key, _create().model_dump(mode="json"),
                                          at=_now() - timedelta(minutes=6)), 401, "timestamp_too_old"),
    "timestamp in the future": (lambda t: _signed(t.xa_key, _create().model_dump(mode="json"),
                                                  at=_now() + timedelta(minutes=6)), 401, "timestamp_in_future"),
    "malformed payload": (lambda t: _signed(t.xa_key, {**_create().model_dump(mode="json"), "request": {
        **_create().request.model_dump(mode="json"), "data_items": []}}), 422, "invalid_payload"),
    "unknown action": (lambda t: _signed(t.xa_key, {"action": "DELETE", "object_id": str(uuid.uuid4())}), 422,
                       "invalid_payload"),
    "request in another State's name": (lambda t: _signed(t.xa_key, {**_create().model_dump(mode="json"), "request": {
        **_create().request.model_dump(mode="json"), "requesting_state": "XC"}}), 422, "invalid_payload"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_refused_signed_audited_and_b_keeps_serving(target: Target, attack: str) -> None:
    build, status, reason = ATTACKS[attack]
    body = build(target)
    tid = json.loads(body)["header"]["TransactionIdentifier"]
    before = _counts(target)
    _refused(target, target.post(body), status, reason, refused=tid)
    _after_refusal(target, before, reason)


def test_an_unknown_sender_is_answered_at_the_address_it_claims(target: Target) -> None:
    stranger = EndpointID(CountryCode="XD", UniqueIdentifier="xd-nobody")
    body = _signed(target.stranger_key, _create().model_dump(mode="json"), sender=stranger)
    before = _counts(target)
    description = _refused(target, target.post(body), 401, "unknown_sender", to=stranger)
    assert "XD/xd-nobody" in description
    _after_refusal(target, before, "unknown_sender")


def test_what_is_not_an_envelope_gets_a_problem_document(target: Target) -> None:
    before = _counts(target)
    response = target.post(b'{"header": {}, "payload": {}}')
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "malformed_envelope"
    _after_refusal(target, before, "malformed_envelope")


def test_the_same_bytes_twice_are_a_replay(target: Target) -> None:
    body, tid, object_id = _valid(target, 1)
    first = _receipt(target, target.post(body), tid)
    before = _counts(target)
    _refused(target, target.post(body), 409, "replayed", refused=tid)
    _after_refusal(target, before, "replayed")
    with target.net["XB"].node.db.read_session() as session:
        filed = session.execute(select(CooperationRequest).where(CooperationRequest.exchange_id == object_id)
                                ).scalars().all()
    assert [r.reference for r in filed] == [first["reference"]]


def _resigned_retry_is_answered(target: Target, forget: bool) -> None:
    payload = _create(2)
    envelope = new_envelope(XA, XB, payload, target.xa_key, now=_now() - timedelta(seconds=3))
    tid = envelope.header.TransactionIdentifier
    first = _receipt(target, target.post(envelope.to_json()), tid)
    assert first["object_id"] == payload.object_id and first["reference"].startswith("XB-")
    if forget:  # as the dispatcher's pruning does once the first envelope is older than twice the skew
        with target.net["XB"].node.work() as session:
            DatabaseReplayStore(session).forget_before(_now() + timedelta(hours=1))
            assert session.get(SeenTransaction, tid) is None
    before = _counts(target)
    retry = new_envelope(XA, XB, payload, target.xa_key, now=_now(), transaction_id=tid)
    assert retry.to_json() != envelope.to_json()
    again = _receipt(target, target.post(retry.to_json()), tid)
    assert again == first
    after = _counts(target)
    assert (after.requests, after.inbox, after.attachments) == (before.requests, before.inbox, before.attachments)
    with target.net["XB"].node.db.read_session() as session:
        new_entries = session.execute(select(AuditEntry.action).where(AuditEntry.seq > before.last_audit)
                                      ).scalars().all()
    assert "request.receive" not in new_entries
    assert not [e for e in new_entries if e.startswith("federation.envelope")]


def test_a_resigned_retry_of_an_accepted_transaction_gets_the_same_receipt_and_changes_nothing(
        target: Target) -> None:
    _resigned_retry_is_answered(target, forget=False)


def test_a_retry_after_the_replay_records_were_pruned_still_gets_its_receipt(target: Target) -> None:
    _resigned_retry_is_answered(target, forget=True)


def test_a_pruned_transaction_id_reused_by_another_node_is_a_replay(target: Target) -> None:
    body, tid, _ = _valid(target, 4)
    _receipt(target, target.post(body), tid)
    with target.net["XB"].node.work() as session:
        DatabaseReplayStore(session).forget_before(_now() + timedelta(hours=1))
    request = {**outgoing_preservation(5, sender="XC"), "direction": "incoming"}
    theirs = new_envelope(XC, XB, CreatePayload.model_validate(
        {"action": "CREATE", "object_id": str(uuid.uuid4()), "request": request}), target.net["XC"].key,
        now=_now(), transaction_id=tid)
    before = _counts(target)
    response = target.post(theirs.to_json())
    _refused(target, response, 409, "replayed", to=XC, refused=tid)
    _audited(target, before.last_audit, "replayed")
    after = _counts(target)
    assert (after.requests, after.inbox) == (before.requests, before.inbox)


def _deliver(t: Target, object_id: str, content: bytes, announced: bytes) -> tuple[bytes, str]:
    """A DELIVER envelope announcing `announced`, and the wire body carrying `content` instead."""
    payload = DeliverPayload.model_validate({"action": "DELIVER", "object_id": object_id, "items": [
        {"name": "subscriber.csv", "media_type": "text/csv", "size": len(announced),
         "sha256": hashlib.sha256(announced).hexdigest()}]})
    envelope = new_envelope(XA, XB, payload, t.xa_key, now=_now())
    body = envelope.to_json()
    return f"{len(body)}\n".encode() + body + content, envelope.header.TransactionIdentifier


def test_a_delivery_whose_bytes_do_not_match_is_refused_and_can_come_again(target: Target) -> None:
    b = target.net["XB"]
    with b.node.work() as session:  # B asked XA for data; XA delivers
        asked = requests.create_request(session, b.subject(), outgoing_preservation(3, sender="XB", receiver="XA"))
        object_id, request_id = asked.exchange_id, asked.id
    assert object_id
    good = b"msisdn,subscriber\n+15555550123,Example Subscriber\n"
    bad = good.replace(b"Example", b"Exbmple")
    blobs = b.demo.data_dir / "blobs"
    stored_before = sorted(p.name for p in blobs.rglob("*") if p.is_file()) if blobs.exists() else []

    wire, tid = _deliver(target, object_id, bad, announced=good)
    before = _counts(target)
    description = _refused(target, target.post(wire, DELIVER_MEDIA_TYPE), 422, "invalid_payload", refused=tid)
    assert "SHA-256" in description and hashlib.sha256(bad).hexdigest() in description
    _after_refusal(target, before, "invalid_payload", action="federation.envelope.process")
    assert sorted(p.name for p in blobs.rglob("*") if p.is_file()) == stored_before, "refused bytes were kept"

    fixed = wire[: -len(bad)] + good  # the very same envelope, with the bytes it announced
    receipt = _receipt(target, target.post(fixed, DELIVER_MEDIA_TYPE), tid)
    assert receipt["object_id"] == object_id
    with b.node.db.read_session() as session:
        attachments = session.execute(select(RequestAttachment).where(RequestAttachment.request_id == request_id)
                                      ).scalars().all()
        assert [(a.name, a.size, a.sha256, a.origin) for a in attachments] == [
            ("subscriber.csv", len(good), hashlib.sha256(good).hexdigest(), "received")]
    digest = hashlib.sha256(good).hexdigest()
    assert (blobs / digest[:2] / digest).read_bytes() == good


def test_a_delivery_to_an_object_it_may_not_deliver_to_is_refused_before_its_bytes_are_kept(
        target: Target) -> None:
    b = target.net["XB"]
    content = b"call detail records nobody asked this node for\n"
    digest = hashlib.sha256(content).hexdigest()
    blobs = b.demo.data_dir / "blobs"
    # An object B never exchanged with XA, and one XA itself filed with B (XA asked; only B may deliver).
    unknown = str(uuid.uuid4())
    body, tid, filed = _valid(target, 6)
    _receipt(target, target.post(body), tid)
    for object_id, status, reason, action, audited in (
            (unknown, 404, "unknown_object", "federation.envelope.process", None),
            (filed, 403, "forbidden", "federation.deliver", "XA/xa-ncu requested this data")):  # the policy's words
        wire, tid = _deliver(target, object_id, content, announced=content)
        before = _counts(target)
        _refused(target, target.post(wire, DELIVER_MEDIA_TYPE), status, reason, refused=tid)
        _after_refusal(target, before, reason, action=action, audited_reason=audited)
        assert not (blobs / digest[:2] / digest).exists(), f"the bytes of a refused delivery ({reason}) were kept"
