"""The receiving end: verify an incoming envelope, act on it once, answer with a signed receipt or a signed error.

Idempotent by transaction id: the envelope's effect, its replay record and its inbox row (with the receipt's
content) commit in one transaction. A sender's re-signed retry of a transaction accepted before is answered with a
fresh receipt of the same content and changes nothing; the same signed bytes again are a replay and refused.
Every refusal is audited with its reason (Node.work() records it after the rollback).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Peer
from nohaven.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NohavenError,
    NotFoundError,
    PermissionDeniedError,
)
from nohaven.federation.context import FederationContext
from nohaven.federation.envelope import Envelope, VerifiedEnvelope, error_reply, new_envelope, verify_envelope
from nohaven.federation.errors import EnvelopeRefusedError, FederationError, ReplayedEnvelopeError
from nohaven.federation.models import InboxMessage
from nohaven.federation.network_directory import EndpointID
from nohaven.federation.payload import (
    CreatePayload,
    DeliverPayload,
    ErrorInformation,
    ErrorPayload,
    GetPayload,
    ReceiptInformation,
    ReceiptPayload,
    UpdatePayload,
)
from nohaven.federation.replay import DatabaseReplayStore
from nohaven.requests import peer as peer_requests
from nohaven.requests.models import CooperationRequest
from nohaven.timeutil import utcnow

__all__ = ["Answer", "receive", "refuse"]

ACTOR = "federation-inbox"
T = TypeVar("T")


@dataclass(frozen=True)
class Answer:
    """What the inbox answers: an HTTP status and a body (a signed envelope, or a problem document when the
    refused envelope did not say who sent it)."""

    status: int
    body: bytes
    media_type: str = "application/json"


def _reason(error: NohavenError) -> str:
    if isinstance(error, FederationError):
        return error.reason
    if isinstance(error, PermissionDeniedError):
        return "forbidden"
    if isinstance(error, NotFoundError):
        return "unknown_object"
    if isinstance(error, ConflictError):
        return "conflict"
    if isinstance(error, InputError):
        return "invalid_payload"
    if isinstance(error, AuthenticationError):
        return "not_authenticated"
    return "refused"


def _signed_error(ctx: FederationContext, error: NohavenError, to: EndpointID | None, refused: str | None) -> Answer:
    if isinstance(error, EnvelopeRefusedError):
        reply = error_reply(error, me=ctx.me, key=ctx.key, now=utcnow())
    elif to is not None:
        reply = new_envelope(ctx.me, to, ErrorPayload(action="ERROR", error=ErrorInformation(
            reason=_reason(error), description=error.message[:2000], refused_transaction=refused)),
            ctx.key, now=utcnow(), in_reply_to=refused)
    else:
        reply = None
    if reply is None:
        problem = {"type": "about:blank", "title": error.title, "status": error.http_status, "detail": error.message,
                   "reason": _reason(error)}
        return Answer(error.http_status, json.dumps(problem).encode(), "application/problem+json")
    return Answer(error.http_status, reply.to_json())


def _receipt(ctx: FederationContext, verified: VerifiedEnvelope, content: dict[str, Any]) -> Answer:
    tid = verified.header.TransactionIdentifier
    payload = ReceiptPayload(action="RECEIPT", receipt=ReceiptInformation.model_validate(content))
    envelope: Envelope = new_envelope(ctx.me, verified.header.SenderIdentifier, payload, ctx.key, now=utcnow(),
                                      in_reply_to=tid)
    return Answer(200, envelope.to_json())


def _content(verified: VerifiedEnvelope, req: CooperationRequest | None) -> dict[str, Any]:
    return {"transaction": verified.header.TransactionIdentifier,
            "object_id": req.exchange_id if req is not None else None,
            "reference": req.reference if req is not None else "", "status": req.status if req is not None else None}


def _act(session: Session, verified: VerifiedEnvelope, now: datetime,
         delivered: list[dict[str, Any]] | None, arrival: peer_requests.Arrival | None = None) -> CooperationRequest:
    payload = verified.payload
    sender = verified.header.SenderIdentifier
    peer = Peer(sender.CountryCode, sender.UniqueIdentifier)
    if isinstance(payload, CreatePayload):
        return peer_requests.receive_request(session, peer, payload.object_id, payload.request, now,
                                             extends_object_id=payload.extends_object_id,
                                             follows_object_id=payload.follows_object_id)
    if isinstance(payload, UpdatePayload):
        update = payload.update
        return peer_requests.receive_update(session, peer, payload.object_id, status=update.status,
                                            acknowledged_at=update.acknowledged_at, note=update.note, now=now)
    if isinstance(payload, GetPayload):
        return peer_requests.state_for_peer(session, peer, payload.object_id)
    if isinstance(payload, DeliverPayload):
        if delivered is None:
            raise InputError.field("payload.action", "a DELIVER comes with its content: post it as "
                                   "application/vnd.nohaven.deliver (envelope, then each item's bytes)")
        return peer_requests.receive_delivery(session, peer, payload.object_id, delivered, now, arrival=arrival)
    raise InputError.field("payload.action", f"a {payload.action} answers an envelope; it is not posted to an inbox")


def deliver(ctx: FederationContext, body: bytes, verified: VerifiedEnvelope,
            delivered: list[dict[str, Any]]) -> Answer:
    """Act on a DELIVER whose envelope was checked (`receive(..., check_only=True)`) and whose content is stored:
    the slow checks of that content (`peer.prepare_delivery`: a sealed bundle's digests and signatures) run
    first, outside the database transaction, at the same instant the delivery is then recorded at."""
    now = utcnow()
    sender = verified.header.SenderIdentifier
    arrival = peer_requests.Arrival(ctx.settings, ctx.directory)
    peer_requests.prepare_delivery(arrival, Peer(sender.CountryCode, sender.UniqueIdentifier), delivered, now)
    return _receive(ctx, body, now, delivered, False, arrival)[0]


def receive(ctx: FederationContext, body: bytes, *, delivered: list[dict[str, Any]] | None = None,
            check_only: bool = False) -> tuple[Answer, VerifiedEnvelope | None]:
    """Verify and act on one envelope; never raises for what the sender got wrong.

    `delivered`: for a DELIVER, its items whose content has already been checked and stored.
    `check_only`: verify without acting or remembering (the first step of a DELIVER, before its content is read);
    returns no answer (status 0) when the envelope may proceed, its `retry` set when it was received before. A
    DELIVER is also checked for its object and by the policy, so that a refused one is refused unread."""
    return _receive(ctx, body, utcnow(), delivered, check_only, None)


def _receive(ctx: FederationContext, body: bytes, now: datetime, delivered: list[dict[str, Any]] | None,
             check_only: bool, arrival: peer_requests.Arrival | None) -> tuple[Answer, VerifiedEnvelope | None]:
    node = ctx.node
    to: EndpointID | None = None
    tid: str | None = None
    try:
        with node.work() as session:
            store = _CheckOnly(DatabaseReplayStore(session)) if check_only else DatabaseReplayStore(session)
            verified = verify_envelope(body, ctx.directory(), ctx.me, now, store, ctx.skew)
            to, tid = verified.header.SenderIdentifier, verified.header.TransactionIdentifier
            # Looked up whether or not the replay store still knows the transaction: its records are pruned once
            # older than the skew, but a sender may retry long after (it got no answer and was down meanwhile).
            row = session.get(InboxMessage, tid)
            if row is not None and (row.sender_country, row.sender_id) != (to.CountryCode, to.UniqueIdentifier):
                raise _used_by_another_node(verified)
            if check_only:
                if row is not None:
                    return Answer(0, b""), replace(verified, retry=True)
                if isinstance(verified.payload, DeliverPayload):
                    _processing(verified, _may_deliver, session, verified, now)
                return Answer(0, b""), verified
            if row is not None:
                return _receipt(ctx, verified, row.receipt), verified
            arrival = arrival or peer_requests.Arrival(ctx.settings, ctx.directory)
            req = _processing(verified, _act, session, verified, now, delivered, arrival)
            content = _content(verified, req)
            session.add(InboxMessage(transaction_id=tid, sender_country=to.CountryCode, sender_id=to.UniqueIdentifier,
                                     action=verified.payload.action, object_id=content["object_id"],
                                     request_id=req.id, received_at=now, receipt=content, envelope=dict(verified.raw)))
            return _receipt(ctx, verified, content), verified
    except NohavenError as exc:
        return _signed_error(ctx, exc, to, tid), None


def _processing(verified: VerifiedEnvelope, step: Callable[..., T], *args: Any) -> T:
    """Run one step of processing a verified envelope; a refusal leaves an audit trail naming the sender."""
    try:
        return step(*args)
    except NohavenError as exc:
        if exc.audit is None:
            exc.audit = {"actor": f"node:{verified.header.SenderIdentifier}", "action": "federation.envelope.process",
                         "object_type": "envelope", "object_id": verified.header.TransactionIdentifier,
                         "reason": f"{_reason(exc)}: {exc.message}"}
        raise


def _may_deliver(session: Session, verified: VerifiedEnvelope, now: datetime) -> None:
    """Refuse a delivery for its object or by the policy before its content is read (content read first and
    refused afterwards would stay in the blob store, which nothing refers to): the steps of recording it, with no
    items, undone."""
    with session.begin_nested() as savepoint:
        _act(session, verified, now, [])
        session.flush()  # so that the rollback undoes the audit head's move too, not only the new rows
        savepoint.rollback()


def _used_by_another_node(verified: VerifiedEnvelope) -> ReplayedEnvelopeError:
    sender, tid = verified.header.SenderIdentifier, verified.header.TransactionIdentifier
    message = f"transaction {tid}: this transaction id was used by another node; a replay does nothing"
    error = ReplayedEnvelopeError(message, transaction_id=tid, sender=sender.model_dump())
    error.audit = {"actor": ACTOR, "action": "federation.envelope.receive", "object_type": "envelope",
                   "object_id": tid, "reason": f"{error.reason}: {message} (claimed sender {sender})"}
    return error


class _CheckOnly:
    """A replay store that refuses what the real one would refuse, and remembers nothing."""

    def __init__(self, store: DatabaseReplayStore) -> None:
        self.store = store

    def remember(self, transaction_id: str, sender: EndpointID, timestamp: datetime, now: datetime,
                 signature: bytes) -> bool:
        with self.store.session.begin_nested() as savepoint:
            first = self.store.remember(transaction_id, sender, timestamp, now, signature)
            savepoint.rollback()
        return first


def refuse(ctx: FederationContext, verified: VerifiedEnvelope, error: NohavenError) -> Answer:
    """Refuse a verified envelope for what came with it (a delivery whose content does not match): audited,
    answered with a signed error; nothing of it is kept, so the sender may send it again."""
    sender, tid = verified.header.SenderIdentifier, verified.header.TransactionIdentifier
    with ctx.node.work() as session:
        audit.record(session, actor=f"node:{sender}", action="federation.envelope.process", object_type="envelope",
                     object_id=tid, outcome="denied", detail={"reason": f"{_reason(error)}: {error.message}"})
    return _signed_error(ctx, error, sender, tid)
