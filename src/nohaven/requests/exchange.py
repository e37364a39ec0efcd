"""Requests exchanged with another State's node: what changes are told to the peer, written to the outbox in the
same transaction as the change (the federation dispatcher signs, sends and retries them).

Who tells what:
- the requesting node sends the request itself (CREATE) when an outgoing request goes by the `platform` channel
  to another State, and may later withdraw it (status Cancelled);
- the requested node tells every change it makes: acknowledgement, every status, notes, and delivered data.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Subject, visible_requests
from nohaven.requests.models import CooperationRequest, PeerMessage, RequestAttachment

__all__ = ["PLATFORM", "WAKE", "deliver_to_peer", "message_view", "messages_of", "outbox_for", "request_document",
           "start_exchange", "tell_peer"]

PLATFORM = "platform"
WAKE = threading.Event()  # set after a commit that queued a message, so an in-process dispatcher sends at once
_QUEUED = "nohaven.outbox.queued"


@event.listens_for(Session, "after_commit")
def _wake_dispatcher(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        WAKE.set()


@event.listens_for(Session, "after_rollback")
def _nothing_queued(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def _enqueue(session: Session, req: CooperationRequest, action: str, payload: dict[str, Any],
             now: datetime) -> PeerMessage:
    assert req.exchange_id is not None and req.peer_country is not None
    message = PeerMessage(transaction_id=str(uuid.uuid4()), request_id=req.id, receiver_country=req.peer_country,
                          receiver_node_id=req.peer_node_id, action=action, object_id=req.exchange_id,
                          payload=payload, state="queued", attempts=0, created_at=now, next_attempt_at=now,
                          last_error="")
    session.add(message)
    session.info[_QUEUED] = True
    return message


def request_document(req: CooperationRequest) -> dict[str, Any]:
    """The request as the receiving node's RequestIn accepts it; `their_reference` is the sender's reference."""
    template = dict(req.template)
    doc: dict[str, Any] = {
        "type": req.type, "direction": "incoming", "channel": PLATFORM, "priority": req.priority,
        "requesting_state": req.requesting_state, "requested_state": req.requested_state,
        "their_reference": req.reference, "request_date": req.request_date.isoformat(),
        "is_extension": req.is_extension,
        "data_items": [{"identifier_type": d.identifier_type, "value": d.value, "data_category": d.data_category,
                        "time_from": d.time_from_text or None, "time_to": d.time_to_text or None}
                       for d in req.data_items],
    }
    doc.update(template)
    return doc


def start_exchange(session: Session, req: CooperationRequest, own_state: str, now: datetime, *,
                   extends: CooperationRequest | None = None,
                   follows: CooperationRequest | None = None) -> PeerMessage | None:
    """Queue the CREATE of an outgoing platform request to another State (after its reference is set)."""
    if req.direction != "outgoing" or req.channel != PLATFORM or req.requested_state == own_state:
        return None
    req.exchange_id = str(uuid.uuid4())
    req.peer_country = req.requested_state
    payload: dict[str, Any] = {"action": "CREATE", "object_id": req.exchange_id, "request": request_document(req)}
    if extends is not None and extends.exchange_id and extends.peer_country == req.peer_country:
        payload["extends_object_id"] = extends.exchange_id
    if follows is not None and follows.exchange_id and follows.peer_country == req.peer_country:
        payload["follows_object_id"] = follows.exchange_id
    return _enqueue(session, req, "CREATE", payload, now)


def tell_peer(session: Session, req: CooperationRequest, now: datetime, *, status: str | None = None,
              acknowledged_at: datetime | None = None, note: str = "") -> PeerMessage | None:
    """Queue an UPDATE to the peer if this side tells such changes (see the module doc)."""
    if req.exchange_id is None or req.peer_country is None:
        return None
    if req.direction == "outgoing" and status != "Cancelled":
        return None
    update: dict[str, Any] = {"note": note[:5000]}
    if status is not None:
        update["status"] = status
    if acknowledged_at is not None:
        update["acknowledged_at"] = acknowledged_at.isoformat()
    return _enqueue(session, req, "UPDATE", {"action": "UPDATE", "object_id": req.exchange_id, "update": update},
                    now)


def deliver_to_peer(session: Session, req: CooperationRequest, items: list[RequestAttachment],
                    now: datetime) -> PeerMessage | None:
    """Queue a DELIVER of attachments to the requesting node (only the requested side delivers)."""
    if req.exchange_id is None or req.peer_country is None or req.direction != "incoming" or not items:
        return None
    return _enqueue(session, req, "DELIVER", {"action": "DELIVER", "object_id": req.exchange_id, "items": [
        {"name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256} for a in items]}, now)


def outbox_for(session: Session, subject: Subject, *, state: str | None = None,
               limit: int = 500) -> list[dict[str, Any]]:
    """Outbox messages about requests the subject may see, newest first (audited as a read of those requests)."""
    query = (select(PeerMessage, CooperationRequest.reference).join(
        CooperationRequest, PeerMessage.request_id == CooperationRequest.id).where(visible_requests(subject)))
    if state:
        query = query.where(PeerMessage.state == state)
    rows = session.execute(query.order_by(PeerMessage.id.desc()).limit(limit)).all()
    audit.record(session, actor=subject.username, action="federation.outbox.read", object_type="request",
                 detail={"count": len(rows), "state": state})
    return [{"reference": ref, "request_id": m.request_id, **message_view(m)} for m, ref in rows]


def messages_of(session: Session, request_id: int) -> list[PeerMessage]:
    return list(session.execute(select(PeerMessage).where(PeerMessage.request_id == request_id)
                                .order_by(PeerMessage.id)).scalars())


def message_view(message: PeerMessage) -> dict[str, Any]:
    """A message's delivery state as the request detail shows it."""
    return {"transaction_id": message.transaction_id, "action": message.action, "state": message.state,
            "to": f"{message.receiver_country}/{message.receiver_node_id or '?'}", "attempts": message.attempts,
            "created_at": message.created_at.isoformat(),
            "last_attempt_at": message.last_attempt_at.isoformat() if message.last_attempt_at else None,
            "next_attempt_at": message.next_attempt_at.isoformat() if message.state in ("queued", "sent") else None,
            "received_at": message.received_at.isoformat() if message.received_at else None,
            "acknowledged_at": message.acknowledged_at.isoformat() if message.acknowledged_at else None,
            "last_error": message.last_error,
            "receipt_reference": (message.receipt or {}).get("reference", ""),
            "summary": _summary(message.payload)}


def _summary(payload: dict[str, Any]) -> str:
    action = payload.get("action")
    if action == "UPDATE":
        update = payload.get("update", {})
        parts = [f"status {update['status']}" if update.get("status") else "",
                 "acknowledged" if update.get("acknowledged_at") else "", update.get("note", "")]
        return "; ".join(p for p in parts if p)
    if action == "DELIVER":
        return ", ".join(i["name"] for i in payload.get("items", []))
    return "request"
