"""The sending end: takes due messages from the outbox (`peer_messages`), signs each with a fresh timestamp under its
own transaction id, posts it to the receiving node's inbox, and records the signed receipt or the reason it failed.

- Claiming is one short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite serialises writers): a claimed
  message is `sent` with its next attempt already scheduled, so one lost by a crash mid-dispatch goes again.
- Messages about one request object go in order: a message is due only when no earlier one to the same node
  about the same object is still waiting.
- Backoff: after the n-th failed attempt, the next waits a random time between half and all of
  min(retry_max, retry_base × 2^(n−1)) ("equal jitter"), so that nodes coming back are not hit all at once.
- A signed refusal that retrying cannot cure (bad signature, unknown key, forbidden, invalid payload, …) fails the
  message with the receiver's reason; anything else (no answer, 5xx, unknown object yet, clock skew) is retried.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import aliased

from nohaven.blobs import BlobStore
from nohaven.errors import NohavenError
from nohaven.federation.context import FederationContext
from nohaven.federation.envelope import PAYLOAD, Envelope, new_envelope, verify_envelope
from nohaven.federation.network_directory import NodeEntry
from nohaven.federation.payload import ErrorPayload, ReceiptPayload
from nohaven.federation.replay import DatabaseReplayStore
from nohaven.requests import exchange
from nohaven.requests.models import CooperationRequest, PeerMessage, RequestEvent
from nohaven.timeutil import utcnow

__all__ = ["DELIVER_MEDIA_TYPE", "DispatchResult", "Dispatcher", "deliver_body"]

log = logging.getLogger(__name__)
DELIVER_MEDIA_TYPE = "application/vnd.nohaven.deliver"
PENDING = ("queued", "sent")
# Refusals that the same message cannot overcome by being sent again.
PERMANENT = frozenset({"malformed_envelope", "invalid_payload", "unknown_sender", "unknown_key", "key_expired",
                       "key_not_yet_valid", "bad_signature", "wrong_receiver", "forbidden", "conflict"})
ACTOR = "federation-dispatcher"
PRUNE_EVERY = timedelta(minutes=10)


@dataclass
class DispatchResult:
    received: int = 0
    retrying: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "retrying": self.retrying, "failed": self.failed}


class _Transient(Exception):
    """The attempt failed in a way a later attempt may not."""


class _Unreachable(_Transient):
    """The receiving node could not be reached: no connection, or no answer in time."""


class _Permanent(Exception):
    """The receiver refused the message for a reason sending it again cannot cure."""


def deliver_body(envelope: bytes, blobs: BlobStore, items: list[dict[str, Any]]) -> Iterator[bytes]:
    """A DELIVER on the wire: the envelope's length in decimal and a newline, the envelope, then each item's
    bytes in the order the envelope lists them (their sizes say where one ends)."""
    yield f"{len(envelope)}\n".encode("ascii")
    yield envelope
    for item in items:
        yield from blobs.chunks(item["sha256"])


class Dispatcher:
    def __init__(self, ctx: FederationContext, client: httpx.Client | None = None) -> None:
        self.ctx = ctx
        settings = ctx.settings
        verify: ssl.SSLContext | bool = True
        if settings.federation_ca_file:
            verify = ssl.create_default_context(cafile=str(settings.federation_ca_file))
        self.client = client or httpx.Client(timeout=settings.federation_timeout_seconds, verify=verify)
        self.blobs = BlobStore(settings.blob_dir)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_prune: datetime | None = None

    # -- the loop ------------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="nohaven-federation-dispatcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        exchange.WAKE.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.client.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            exchange.WAKE.clear()
            try:
                result = self.run_once()
            except Exception:  # the dispatcher must outlive one bad pass; the next pass retries
                log.exception("federation dispatch pass failed")
                result = DispatchResult()
            if result.received or result.retrying or result.failed:
                continue  # more may be due (the next message about the same object, say)
            exchange.WAKE.wait(self.ctx.settings.federation_poll_seconds)

    def run_once(self, limit: int = 50) -> DispatchResult:
        """Claim the due messages and send each once."""
        self._forget_old_transactions()
        result = DispatchResult()
        unreachable: dict[str, str] = {}
        for message_id in self._claim(limit):
            outcome = self.send(message_id, unreachable)
            setattr(result, outcome, getattr(result, outcome) + 1)
        return result

    def _forget_old_transactions(self) -> None:
        """Replay records older than the allowed skew protect nothing (such envelopes are refused for their
        timestamp): drop them every few minutes, keeping a margin."""
        now = utcnow()
        if self._last_prune is not None and now - self._last_prune < PRUNE_EVERY:
            return
        self._last_prune = now
        with self.ctx.node.db.session() as session:
            DatabaseReplayStore(session).forget_before(now - 2 * self.ctx.skew - PRUNE_EVERY)

    # -- claiming ------------------------------------------------------------------------------------------------
    def _backoff(self, attempts: int) -> timedelta:
        s = self.ctx.settings
        ceiling = min(s.federation_retry_max_seconds, s.federation_retry_base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 - jitter, not a secret

    def _claim(self, limit: int) -> list[int]:
        now = utcnow()
        earlier = aliased(PeerMessage)
        waiting_before = select(earlier.id).where(
            earlier.object_id == PeerMessage.object_id, earlier.receiver_country == PeerMessage.receiver_country,
            earlier.id < PeerMessage.id, earlier.state.in_(PENDING)).exists()
        with self.ctx.node.db.session() as session:
            rows = session.execute(
                select(PeerMessage).where(PeerMessage.state.in_(PENDING), PeerMessage.next_attempt_at <= now,
                                          ~waiting_before)
                .order_by(PeerMessage.id).limit(limit).with_for_update(skip_locked=True, of=PeerMessage)
            ).scalars().all()
            timeout = timedelta(seconds=self.ctx.settings.federation_timeout_seconds)
            for message in rows:
                message.state = "sent"
                message.attempts += 1
                message.last_attempt_at = now
                # If this process dies before the answer is recorded, the message is due again after this.
                message.next_attempt_at = now + timeout + self._backoff(message.attempts)
            return [m.id for m in rows]

    # -- one message ---------------------------------------------------------------------------------------------
    def send(self, message_id: int, unreachable: dict[str, str] | None = None) -> str:
        """Send one claimed message; record and return 'received', 'retrying' or 'failed'.

        `unreachable`: inbox URLs that could not be reached earlier in this pass, and why. Their other messages
        wait for a later pass instead of each waiting out its own timeout, which would hold up every message
        to every other node behind them."""
        with self.ctx.node.db.session() as session:
            message = session.get(PeerMessage, message_id)
            if message is None:
                return "failed"
            tid, country, node_id = message.transaction_id, message.receiver_country, message.receiver_node_id
            payload, attempts = dict(message.payload), message.attempts
        try:
            entry = self.ctx.node_of_state(country, node_id)
            if entry is None:
                raise _Transient(f"the network directory (serial {self.ctx.directory().serial}) lists no node of "
                                 f"State {country}" + (f" named {node_id}" if node_id else ""))
            if node_id is None:
                self._pin_node(message_id, entry)
            if unreachable is not None and entry.inbox_url in unreachable:
                raise _Transient(f"not sent: {unreachable[entry.inbox_url]} (an earlier message of this pass)")
            envelope = self._sign(entry, tid, payload)
            try:
                response = self._post(entry, envelope, payload)
            except _Unreachable as exc:
                if unreachable is not None:
                    unreachable[entry.inbox_url] = str(exc)
                raise
            receipt = self._verify_answer(entry, tid, response)
        except _Transient as exc:
            self._record_failure(message_id, str(exc), permanent=False, attempts=attempts)
            return "retrying"
        except _Permanent as exc:
            self._record_failure(message_id, str(exc), permanent=True, attempts=attempts)
            return "failed"
        self._record_receipt(message_id, entry, receipt)
        return "received"

    def _pin_node(self, message_id: int, entry: NodeEntry) -> None:
        """From the first message on, the request is exchanged with this node only (the policy holds other nodes,
        even of the same State, to that)."""
        with self.ctx.node.db.session() as session:
            message = session.get(PeerMessage, message_id)
            if message is None:
                return
            message.receiver_node_id = entry.node_id
            req = session.get(CooperationRequest, message.request_id)
            if req is not None and req.peer_node_id is None:
                req.peer_node_id = entry.node_id

    def _sign(self, entry: NodeEntry, tid: str, payload: dict[str, Any]) -> Envelope:
        try:
            parsed = PAYLOAD.validate_python(payload)
        except ValueError as exc:
            raise _Permanent(f"the queued payload does not validate: {exc}") from None
        return new_envelope(self.ctx.me, entry.endpoint, parsed, self.ctx.key, now=utcnow(), transaction_id=tid)

    def _post(self, entry: NodeEntry, envelope: Envelope, payload: dict[str, Any]) -> httpx.Response:
        url = entry.inbox_url
        if urlsplit(url).scheme == "http" and not self.ctx.settings.loopback_http_allowed:
            raise _Transient(f"{url} is plain HTTP; allowed only on loopback in demo and test mode "
                             "(NOHAVEN_FEDERATION_ALLOW_LOOPBACK_HTTP)")
        body = envelope.to_json()
        try:
            if payload["action"] == "DELIVER":
                return self.client.post(url, content=deliver_body(body, self.blobs, payload["items"]),
                                        headers={"content-type": DELIVER_MEDIA_TYPE})
            return self.client.post(url, content=body, headers={"content-type": "application/json"})
        except (httpx.ConnectError, httpx.TimeoutException) as exc:
            raise _Unreachable(f"{type(exc).__name__} posting to {url}: {exc}"[:500]) from None
        except httpx.HTTPError as exc:
            raise _Transient(f"{type(exc).__name__} posting to {url}: {exc}"[:500]) from None
        except NohavenError as exc:  # an attachment missing from the blob store
            raise _Permanent(exc.message) from None

    def _verify_answer(self, entry: NodeEntry, tid: str, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        try:
            value = json.loads(response.content)
        except ValueError:
            raise _Transient(f"HTTP {status} from {entry.inbox_url} without a JSON answer") from None
        if not (isinstance(value, dict) and set(value) == {"header", "payload", "signature"}):
            detail = value.get("detail") if isinstance(value, dict) else None
            raise _Transient(f"HTTP {status} from {entry.inbox_url}, unsigned: {detail or 'no detail'}"[:500])
        try:
            with self.ctx.node.db.session() as session:
                answer = verify_envelope(value, self.ctx.directory(), self.ctx.me, utcnow(),
                                         DatabaseReplayStore(session), self.ctx.skew)
        except NohavenError as exc:
            raise _Transient(f"the answer from {entry.endpoint} was refused here: {exc.message}"[:500]) from None
        if answer.header.SenderIdentifier != entry.endpoint or answer.header.InReplyTo != tid:
            raise _Transient(f"the answer from {entry.endpoint} does not answer transaction {tid}")
        if isinstance(answer.payload, ErrorPayload):
            error = answer.payload.error
            text = f"{entry.endpoint} refused it: {error.reason}: {error.description}"[:2000]
            if error.reason in PERMANENT:
                raise _Permanent(text)
            raise _Transient(text)
        if not isinstance(answer.payload, ReceiptPayload) or answer.payload.receipt.transaction != tid:
            raise _Transient(f"the answer from {entry.endpoint} is not a receipt for transaction {tid}")
        return answer.payload.receipt.model_dump(mode="json")

    # -- recording -----------------------------------------------------------------------------------------------
    def _record_receipt(self, message_id: int, entry: NodeEntry, receipt: dict[str, Any]) -> None:
        now = utcnow()
        with self.ctx.node.db.session() as session:
            message = session.get(PeerMessage, message_id)
            if message is None or message.state not in PENDING:
                return
            message.state, message.received_at, message.receipt, message.last_error = "received", now, receipt, ""
            message.receiver_node_id = entry.node_id
            req = session.get(CooperationRequest, message.request_id)
            if req is None:
                return
            req.peer_node_id = req.peer_node_id or entry.node_id
            if message.action == "CREATE":
                if not req.their_reference and receipt.get("reference"):
                    req.their_reference = receipt["reference"]
                session.add(RequestEvent(request_id=req.id, at=now, actor=ACTOR, kind="received_by_peer",
                                         note=f"received by {entry.endpoint} as {receipt.get('reference') or '?'}"))

    def _record_failure(self, message_id: int, reason: str, *, permanent: bool, attempts: int) -> None:
        now = utcnow()
        with self.ctx.node.db.session() as session:
            message = session.get(PeerMessage, message_id)
            if message is None or message.state not in PENDING:
                return
            message.last_error = reason
            if permanent:
                message.state = "failed"
                session.add(RequestEvent(request_id=message.request_id, at=now, actor=ACTOR, kind="delivery_failed",
                                         note=f"{message.action} not delivered: {reason}"[:2000]))
                log.warning("message %s failed: %s", message.transaction_id, reason)
            else:
                message.state = "queued"
                message.next_attempt_at = now + self._backoff(attempts)

