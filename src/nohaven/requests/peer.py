"""What another State's node does to this node's requests, once its signed envelope was verified: file a request,
change the status of one exchanged with it, deliver data. Each step is decided by the policy (`require_peer`),
recorded on the request's timeline and audited under the node's name (`node:XA/xa-ncu`). Nothing here is told
back to the peer: changes that came from it never echo.

Attachments (files and records disclosed with a request) live here too: added by an officer, or received.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Exchange, Peer, PeerAction, Subject
from nohaven.auth.service import require_peer
from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.directory.schema import LegalProfile
from nohaven.errors import ConflictError, InputError, NotFoundError
from nohaven.requests import exchange
from nohaven.requests.lifecycle import RequestType, check_transition
from nohaven.requests.models import Case, CooperationRequest, PeerMessage, RequestAttachment, RequestEvent
from nohaven.requests.schema import RequestIn
from nohaven.requests.service import build_request, refresh_clocks, request_view, visible_request

__all__ = [
    "Arrival",
    "add_attachment",
    "attachment_for",
    "attachment_view",
    "attachments_of",
    "before_delivery",
    "find_exchanged",
    "on_delivery",
    "prepare_delivery",
    "receive_delivery",
    "receive_request",
    "receive_update",
    "request_detail",
    "state_for_peer",
]


log = logging.getLogger("nohaven.requests")

# What other packages do with data a peer delivered (the tracing package turns a disclosure answer into hops,
# the evidence package verifies and cosigns a sealed bundle). Requests know nothing of them: they register here.


@dataclass(frozen=True)
class Arrival:
    """The node a delivery arrived at, as delivery hooks need it: its settings (blob store, IP data) and, on a
    node of a federation, the signed network directory it trusts now (a callable, as it may be replaced)."""

    settings: Settings
    directory: Callable[[], Any] | None = None
    # What `before_delivery` preparers found, by preparer name, for the hook of the same name to use.
    prepared: dict[str, Any] = field(default_factory=dict)

    @property
    def blob_dir(self) -> Path:
        """Where the delivered content is, by SHA-256."""
        return self.settings.blob_dir


DeliveryHook = Callable[[Session, CooperationRequest, list[RequestAttachment], Arrival, datetime], None]
_delivery_hooks: dict[str, DeliveryHook] = {}
# (arrival, sending peer, delivered items as announced: name, sha256, size, ...) -> what it found, or None
DeliveryPreparer = Callable[[Arrival, Peer, list[dict[str, Any]], datetime], Any]
_preparers: dict[str, DeliveryPreparer] = {}


def before_delivery(name: str) -> Callable[[DeliveryPreparer], DeliveryPreparer]:
    """Register `prepare(arrival, peer, items, now)` to run on a delivery's stored content before its
    transaction opens, for work too slow to do while the database is locked (verifying a large sealed bundle).
    What it returns is kept in `arrival.prepared[name]` for the delivery hook of the same name, which must
    not trust it blindly for anything the transaction can contradict; a preparer that raises is logged and
    its hook does the work itself."""

    def register(preparer: DeliveryPreparer) -> DeliveryPreparer:
        _preparers[name] = preparer
        return preparer

    return register


def prepare_delivery(arrival: Arrival, peer: Peer, items: list[dict[str, Any]], now: datetime) -> None:
    """Run the registered preparers on a delivery whose envelope was verified and whose content is stored."""
    for name, preparer in sorted(_preparers.items()):
        try:
            arrival.prepared[name] = preparer(arrival, peer, items, now)
        except Exception as exc:  # the hook will do the work in the transaction instead
            log.warning("delivery preparer %s failed: %s", name, type(exc).__name__)


def on_delivery(name: str) -> Callable[[DeliveryHook], DeliveryHook]:
    """Register `hook(session, request, attachments, arrival, now)` to run on every received delivery.

    It runs in the delivery's transaction, inside a savepoint: whatever it raises is rolled back, logged and noted
    on the request's timeline, and the delivery itself is still kept (the sender must not retry for our sake).
    """

    def register(hook: DeliveryHook) -> DeliveryHook:
        _delivery_hooks[name] = hook
        return hook

    return register


def _run_delivery_hooks(session: Session, req: CooperationRequest, attachments: list[RequestAttachment],
                        arrival: Arrival | None, now: datetime) -> None:
    if arrival is None:
        return
    for name, hook in sorted(_delivery_hooks.items()):
        try:
            with session.begin_nested():
                hook(session, req, attachments, arrival, now)
        except Exception as exc:  # a hook's failure must not lose the delivery
            log.warning("delivery hook %s failed on request %s: %s", name, req.id, type(exc).__name__)
            req.events.append(RequestEvent(at=now, actor="system", kind="note",
                                           note=f"{name}: could not process the delivered data "
                                                f"({type(exc).__name__})"))


def find_exchanged(session: Session, peer_state: str, object_id: str) -> CooperationRequest | None:
    return session.execute(select(CooperationRequest).where(
        CooperationRequest.peer_country == peer_state, CooperationRequest.exchange_id == object_id)
    ).scalar_one_or_none()


def _exchanged(session: Session, peer: Peer, object_id: str) -> CooperationRequest:
    req = find_exchanged(session, peer.state, object_id)
    if req is None:
        raise NotFoundError(f"request object {object_id} is not exchanged between this node and {peer}")
    return req


def _exchange(req: CooperationRequest, **more: Any) -> Exchange:
    return Exchange(peer_state=req.peer_country, peer_node_id=req.peer_node_id, direction=req.direction, **more)


def _event(req: CooperationRequest, peer: Peer, kind: str, now: datetime, **fields: Any) -> None:
    req.events.append(RequestEvent(at=now, actor=f"node:{peer}", kind=kind, **fields))


def receive_request(session: Session, peer: Peer, object_id: str, data: RequestIn, now: datetime, *,
                    extends_object_id: str | None = None, follows_object_id: str | None = None) -> CooperationRequest:
    """File the request another State's node sent: a new incoming request in a case of its own, unassigned
    (the 24/7 desk sees it; the officer who acknowledges it takes it) — or, for an extension or an MLA follow-up,
    in the case of the request it follows, with whoever handles that case."""
    require_peer(peer, PeerAction.CREATE, Exchange(requesting_state=data.requesting_state), object_id=object_id)
    if find_exchanged(session, peer.state, object_id) is not None:
        raise ConflictError(f"request object {object_id} from {peer} exists already")
    problems = data.problems()
    if problems:
        raise InputError(f"request: {problems[0]['field']}: {problems[0]['message']}", errors=problems)
    node = directory.node_identity(session)
    directory.get_state(session, data.requesting_state)
    profile = LegalProfile.model_validate(directory.get_state(session, node.state_code).legal_profile)
    data = data.model_copy(update={"direction": "incoming", "channel": exchange.PLATFORM, "received_at": now,
                                   "requested_state": node.state_code})
    original = find_exchanged(session, peer.state, extends_object_id) if extends_object_id else None
    if original is not None and (original.type != RequestType.PRESERVATION or original.status != "Preserved"):
        original = None
    preservation = find_exchanged(session, peer.state, follows_object_id) if follows_object_id else None
    if preservation is not None and (preservation.type != RequestType.PRESERVATION or data.type != RequestType.MLA
                                     or preservation.follow_up_mla_id is not None):
        preservation = None
    linked = original or preservation  # an extension or MLA follow-up joins the case of what it follows
    case = linked.case if linked is not None else Case(
        reference=f"tmp-{uuid.uuid4()}", title=f"{data.requesting_state} {data.their_reference}: "
        f"{data.offence}"[:300], created_at=now, created_by=None, members=[])
    new_case = linked is None
    actor = f"node:{peer}"
    req = build_request(session, data, case=case, requested_state=node.state_code, actor=actor, user_id=None,
                        profile=profile, original=original, now=now)
    req.exchange_id, req.peer_country, req.peer_node_id = object_id, peer.state, peer.node_id
    session.add(req)
    session.flush()
    if new_case:
        case.reference = f"CASE-{now.year}-{case.id:05d}"
    req.reference = f"{node.state_code}-{now.year}-{req.id:06d}"
    _event(req, peer, "received_from_peer", now, note=f"received from {peer} (their reference "
           f"{data.their_reference or 'none'})")
    if original is not None:
        _event(original, peer, "extension_requested", now, note=f"extended by {req.reference}")
        refresh_clocks(session, original, now)
    if preservation is not None:
        preservation.follow_up_mla_id = req.id
        _event(preservation, peer, "mla_follow_up_linked", now, note=f"MLA request {req.reference}")
        _event(req, peer, "follows_preservation", now, note=f"follows {preservation.reference}")
        refresh_clocks(session, preservation, now)
    audit.record(session, actor=actor, action="request.receive", object_type="request", object_id=req.id,
                 detail={"reference": req.reference, "type": req.type, "object_id": object_id,
                         "their_reference": data.their_reference})
    return req


def receive_update(session: Session, peer: Peer, object_id: str, *, status: str | None,
                   acknowledged_at: datetime | None, note: str, now: datetime) -> CooperationRequest:
    """Apply a change the peer made to a request exchanged with it. The requested node's statuses follow its
    lifecycle; one that does not follow from the status held here is applied and the gap noted."""
    req = _exchanged(session, peer, object_id)
    require_peer(peer, PeerAction.UPDATE, _exchange(req, status=status, acknowledges=acknowledged_at is not None),
                 object_id=req.id)
    if acknowledged_at is not None and req.acknowledged_at is None:
        req.acknowledged_at = acknowledged_at
        _event(req, peer, "acknowledged_by_peer", now, note=note or f"acknowledged by {peer}")
        for message in session.execute(select(PeerMessage).where(
                PeerMessage.request_id == req.id, PeerMessage.action == "CREATE",
                PeerMessage.state.in_(("queued", "sent", "received")))).scalars():
            message.state, message.acknowledged_at = "acknowledged", acknowledged_at
    if status is not None and status != req.status:
        gap = ""
        try:
            check_transition(req.type, req.status, status)
        except (ConflictError, InputError):
            gap = f" (does not follow {req.status} here; {peer}'s status is authoritative)"
        before = req.status
        req.status = status
        if status == "Preserved":
            req.preserved_at = now
        _event(req, peer, "status", now, from_status=before, to_status=status, note=(note + gap).strip())
    elif note and acknowledged_at is None:
        _event(req, peer, "note", now, note=note)
    req.updated_at = now
    audit.record(session, actor=f"node:{peer}", action="request.peer_update", object_type="request",
                 object_id=req.id, detail={"status": status, "acknowledged": acknowledged_at is not None,
                                           "note": note[:500]})
    refresh_clocks(session, req, now)
    return req


def receive_delivery(session: Session, peer: Peer, object_id: str, items: list[dict[str, Any]],
                     now: datetime, *, arrival: Arrival | None = None) -> CooperationRequest:
    """Record data the requested node delivered (its content already checked and stored by digest), then let
    the registered delivery hooks look at it (`arrival`: the receiving node's settings and directory)."""
    req = _exchanged(session, peer, object_id)
    require_peer(peer, PeerAction.DELIVER, _exchange(req), object_id=req.id)
    attachments = [RequestAttachment(request_id=req.id, name=item["name"], media_type=item["media_type"],
                                     size=item["size"], sha256=item["sha256"], origin="received", added_at=now,
                                     added_by=f"node:{peer}") for item in items]
    session.add_all(attachments)
    _event(req, peer, "data_delivered", now, note=", ".join(f"{i['name']} ({i['size']} bytes, SHA-256 "
                                                            f"{i['sha256'][:16]}…)" for i in items))
    req.updated_at = now
    audit.record(session, actor=f"node:{peer}", action="request.delivery", object_type="request", object_id=req.id,
                 detail={"items": [{"name": i["name"], "sha256": i["sha256"], "size": i["size"]} for i in items]})
    session.flush()
    _run_delivery_hooks(session, req, attachments, arrival, now)
    return req


def state_for_peer(session: Session, peer: Peer, object_id: str) -> CooperationRequest:
    """A request exchanged with the peer, for answering its GET."""
    req = _exchanged(session, peer, object_id)
    require_peer(peer, PeerAction.GET, _exchange(req), object_id=req.id)
    return req


def add_attachment(session: Session, subject: Subject, request_id: int, *, name: str, media_type: str, size: int,
                   sha256: str, now: datetime) -> RequestAttachment:
    """Attach stored content to a request; for a request received from another node, it is delivered to it."""
    req = visible_request(session, subject, request_id, Action.REQUEST_TRANSITION)
    name = name.strip().replace("/", "_").replace("\\", "_")
    if not name or len(name) > 255:
        raise InputError.field("name", "give the file a name of 1 to 255 characters")
    attachment = RequestAttachment(request_id=req.id, name=name, media_type=media_type or "application/octet-stream",
                                   size=size, sha256=sha256, origin="added", added_at=now, added_by=subject.username)
    session.add(attachment)
    session.flush()
    req.events.append(RequestEvent(at=now, actor=subject.username, kind="attachment", note=f"{name} ({size} bytes)"))
    req.updated_at = now
    audit.record(session, actor=subject.username, action="request.attach", object_type="request", object_id=req.id,
                 detail={"name": name, "sha256": sha256, "size": size})
    exchange.deliver_to_peer(session, req, [attachment], now)
    return attachment


def attachments_of(session: Session, request_id: int) -> list[RequestAttachment]:
    return list(session.execute(select(RequestAttachment).where(RequestAttachment.request_id == request_id)
                                .order_by(RequestAttachment.id)).scalars())


def attachment_for(session: Session, subject: Subject, request_id: int, attachment_id: int) -> RequestAttachment:
    """An attachment the subject may read (audited)."""
    visible_request(session, subject, request_id, Action.REQUEST_READ)
    attachment = session.get(RequestAttachment, attachment_id)
    if attachment is None or attachment.request_id != request_id:
        raise NotFoundError(f"attachment {attachment_id} of request {request_id} not found")
    audit.record(session, actor=subject.username, action="request.attachment.read", object_type="request",
                 object_id=request_id, detail={"attachment": attachment_id, "sha256": attachment.sha256})
    return attachment


def attachment_view(a: RequestAttachment) -> dict[str, Any]:
    return {"id": a.id, "name": a.name, "media_type": a.media_type, "size": a.size, "sha256": a.sha256,
            "origin": a.origin, "added_at": a.added_at.isoformat(), "added_by": a.added_by}


def request_detail(session: Session, req: CooperationRequest, now: datetime | None = None) -> dict[str, Any]:
    """The request view with its exchange messages (delivery state) and attachments."""
    view = request_view(req, now)
    view["messages"] = [exchange.message_view(m) for m in exchange.messages_of(session, req.id)]
    view["attachments"] = [attachment_view(a) for a in attachments_of(session, req.id)]
    return view
