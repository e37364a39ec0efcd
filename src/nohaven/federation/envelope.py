"""Signed envelopes between nodes, their header modelled on the TS 103 120 HI1Message.

Wire form (JSON):

    {"header": {"SenderIdentifier": {"CountryCode": "XA", "UniqueIdentifier": "xa-ncu"},
                "ReceiverIdentifier": {"CountryCode": "XB", "UniqueIdentifier": "xb-bfp"},
                "TransactionIdentifier": "<lowercase UUID>", "Timestamp": "2026-11-28T03:00:00.000000+01:00",
                "Version": {"ETSIVersion": "V1.23.1", "NationalProfileOwner": "nohaven",
                            "NationalProfileVersion": "1"},
                "InReplyTo": "<UUID>"},                       # optional, our addition to the TS 103 120 header
     "payload": {"action": "CREATE", "object_id": "<UUID>", "request": {...}},   # see payload.py
     "signature": {"algorithm": "Ed25519", "key_id": "<16 hex>", "value": "<base64url>"}}

The signature is Ed25519 over the RFC 8785 canonical JSON of {"header": ..., "payload": ...} as received.
`verify_envelope` checks, in this order, and raises the matching EnvelopeRefusedError: shape, sender known,
key id known for the sender, key valid at the envelope's timestamp, signature, receiver is this node,
timestamp within the skew of now, payload valid (a CREATE names the sender's State as requesting
State), the signed envelope never seen (recorded in the replay store; a re-signed retry of a known transaction
is accepted with `retry` set, so that the receiver answers it again without processing it twice).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from nohaven.errors import InputError
from nohaven.federation.canonical import b64url_decode, b64url_encode, canonical_bytes, parse_json
from nohaven.federation.errors import (
    BadSignatureError,
    EnvelopeRefusedError,
    FutureTimestampError,
    InvalidPayloadError,
    KeyExpiredError,
    KeyNotYetValidError,
    MalformedEnvelopeError,
    StaleTimestampError,
    UnknownKeyError,
    UnknownSenderError,
    WrongReceiverError,
)
from nohaven.federation.keys import ALGORITHM, KEY_ID, SigningKey
from nohaven.federation.network_directory import EndpointID, NetworkDirectory, NodeEntry
from nohaven.federation.payload import ACTIONS, UUID_TEXT, ErrorInformation, ErrorPayload, Payload
from nohaven.federation.replay import ReplayStore
from nohaven.timeutil import parse_aware, require_aware
from nohaven.validation import errors_of

__all__ = [
    "DEFAULT_SKEW",
    "Envelope",
    "Header",
    "MessageVersion",
    "VerifiedEnvelope",
    "error_reply",
    "new_envelope",
    "signed_bytes",
    "verify_envelope",
]

DEFAULT_SKEW = timedelta(minutes=5)
ETSI_VERSION = "V1.23.1"  # the TS 103 120 schema version in ../shared/standards/etsi-ts-103120
PAYLOAD: TypeAdapter[Payload] = TypeAdapter(Payload)
AUDIT_ACTOR = "federation-inbox"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MessageVersion(Strict):
    ETSIVersion: str = Field(default=ETSI_VERSION, pattern=r"^V\d+\.\d+\.\d+$")
    NationalProfileOwner: str = Field(default="nohaven", min_length=1, max_length=255)
    NationalProfileVersion: str = Field(default="1", min_length=1, max_length=255)


class Header(Strict):
    SenderIdentifier: EndpointID
    ReceiverIdentifier: EndpointID
    TransactionIdentifier: str = Field(pattern=UUID_TEXT)
    Timestamp: str = Field(max_length=64, description="ISO 8601 with its UTC offset, kept as written")
    Version: MessageVersion
    InReplyTo: str | None = Field(default=None, pattern=UUID_TEXT)

    @field_validator("Timestamp")
    @classmethod
    def _aware(cls, value: str) -> str:
        try:
            parse_aware(value, "Timestamp")
        except InputError as exc:
            raise ValueError(exc.errors[0]["message"]) from None
        return value

    @property
    def timestamp(self) -> datetime:
        return parse_aware(self.Timestamp, "Timestamp")


class EnvelopeSignature(Strict):
    algorithm: Literal["Ed25519"]
    key_id: str = Field(pattern=KEY_ID.pattern)
    value: str


def _wire_header(header: Header) -> dict[str, Any]:
    return header.model_dump(mode="json", exclude_none=True)


def _wire_payload(payload: Payload) -> dict[str, Any]:
    return payload.model_dump(mode="json")


def signed_bytes(header: Mapping[str, Any], payload: Mapping[str, Any]) -> bytes:
    """The bytes an envelope's signature covers: RFC 8785 canonical JSON of {header, payload}."""
    return canonical_bytes({"header": header, "payload": payload}, "envelope")


class Envelope(Strict):
    """An envelope as built by its sender."""

    header: Header
    payload: Payload
    signature: EnvelopeSignature

    def wire(self) -> dict[str, Any]:
        """The JSON value to send (exactly what the signature covers, plus the signature)."""
        return {"header": _wire_header(self.header), "payload": _wire_payload(self.payload),
                "signature": self.signature.model_dump(mode="json")}

    def to_json(self) -> bytes:
        return json.dumps(self.wire(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def new_envelope(sender: EndpointID, receiver: EndpointID, payload: Payload, key: SigningKey, *, now: datetime,
                 in_reply_to: str | None = None, transaction_id: str | None = None) -> Envelope:
    """Build and sign an envelope; `now` keeps its own UTC offset in the header's Timestamp."""
    require_aware(now, "now")
    header = Header(SenderIdentifier=sender, ReceiverIdentifier=receiver,
                    TransactionIdentifier=transaction_id or str(uuid.uuid4()),
                    Timestamp=now.isoformat(timespec="microseconds"), Version=MessageVersion(), InReplyTo=in_reply_to)
    value = key.sign(signed_bytes(_wire_header(header), _wire_payload(payload)))
    return Envelope(header=header, payload=payload,
                    signature=EnvelopeSignature(algorithm=ALGORITHM, key_id=key.key_id, value=b64url_encode(value)))


@dataclass(frozen=True)
class VerifiedEnvelope:
    """An envelope that passed every check; `raw` is the JSON value as received (keep it: it verifies)."""

    header: Header
    payload: Payload
    key_id: str
    sender: NodeEntry
    raw: Mapping[str, Any]
    retry: bool = False  # the sender's re-signed retry of a transaction accepted before: answer, do not redo


class _Context:
    """What is known of an envelope so far, for naming it in refusals and addressing the error reply."""

    def __init__(self) -> None:
        self.transaction_id: str | None = None
        self.sender: EndpointID | None = None

    def refuse(self, cls: type[EnvelopeRefusedError], message: str,
               errors: list[dict[str, str]] | None = None) -> EnvelopeRefusedError:
        detail: dict[str, Any] = {"transaction_id": self.transaction_id,
                                  "sender": self.sender.model_dump() if self.sender else None}
        if errors:
            detail["errors"] = errors
        error = cls(message, **detail)
        claimed = f" (claimed sender {self.sender})" if self.sender else ""
        # Node.work() audits a refusal carrying a trail, in a transaction of its own.
        error.audit = {"actor": AUDIT_ACTOR, "action": "federation.envelope.receive",
                       "object_type": "envelope", "object_id": self.transaction_id or "",
                       "reason": f"{error.reason}: {message}{claimed}"}
        return error


def _as_value(envelope: bytes | str | Mapping[str, Any], ctx: _Context) -> Mapping[str, Any]:
    if isinstance(envelope, bytes | str):
        try:
            envelope = parse_json(envelope, "envelope")
        except InputError as exc:
            raise ctx.refuse(MalformedEnvelopeError, exc.message, exc.errors) from None
    if not isinstance(envelope, Mapping) or set(envelope) != {"header", "payload", "signature"}:
        raise ctx.refuse(MalformedEnvelopeError, "an envelope is an object with exactly the members 'header', "
                                                 "'payload' and 'signature'")
    return envelope


def _model(model: type[Strict], value: Any, prefix: str, ctx: _Context,
           cls: type[EnvelopeRefusedError] = MalformedEnvelopeError) -> Any:
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        errors = [{"field": f"{prefix}.{e['field']}", "message": e["message"]} for e in errors_of(exc)]
        raise ctx.refuse(cls, f"{errors[0]['field']}: {errors[0]['message']}", errors) from None


def verify_envelope(envelope: bytes | str | Mapping[str, Any], directory: NetworkDirectory, me: EndpointID,
                    now: datetime, replay_store: ReplayStore, skew: timedelta = DEFAULT_SKEW) -> VerifiedEnvelope:
    """Accept an incoming envelope or raise the EnvelopeRefusedError that says why not (see the module doc)."""
    require_aware(now, "now")
    ctx = _Context()
    raw = _as_value(envelope, ctx)
    header_value = raw["header"]
    if isinstance(header_value, Mapping):  # name the envelope in refusals as early as it can be named
        tid = header_value.get("TransactionIdentifier")
        ctx.transaction_id = tid if isinstance(tid, str) and len(tid) <= 64 else None
    header: Header = _model(Header, header_value, "header", ctx)
    ctx.transaction_id, ctx.sender = header.TransactionIdentifier, header.SenderIdentifier
    signature: EnvelopeSignature = _model(EnvelopeSignature, raw["signature"], "signature", ctx)
    try:
        value = b64url_decode(signature.value, "signature.value", length=64)
        signed = signed_bytes(raw["header"], raw["payload"])
    except InputError as exc:
        raise ctx.refuse(MalformedEnvelopeError, exc.message, exc.errors) from None

    sender = directory.node(header.SenderIdentifier)
    if sender is None:
        raise ctx.refuse(UnknownSenderError, f"{header.SenderIdentifier} is not a node of the network directory "
                                             f"(serial {directory.serial})")
    key = sender.key(signature.key_id)
    if key is None:
        raise ctx.refuse(UnknownKeyError, f"{header.SenderIdentifier} has no key {signature.key_id} in the network "
                                          f"directory (serial {directory.serial})")
    at = header.timestamp
    if at < key.not_before:
        raise ctx.refuse(KeyNotYetValidError, f"key {key.key_id} is valid from {key.not_before.isoformat()}; the "
                                              f"envelope is timestamped {header.Timestamp}")
    if at >= key.not_after:
        raise ctx.refuse(KeyExpiredError, f"key {key.key_id} expired at {key.not_after.isoformat()}; the envelope "
                                          f"is timestamped {header.Timestamp}")
    if not key.verify_key().verifies(value, signed):
        raise ctx.refuse(BadSignatureError, f"the signature by key {key.key_id} does not verify: the header or "
                                            "payload was altered, or another key signed it")

    if header.ReceiverIdentifier != me:
        raise ctx.refuse(WrongReceiverError, f"addressed to {header.ReceiverIdentifier}; this node is {me}")
    if at < now - skew:
        raise ctx.refuse(StaleTimestampError, f"timestamp {header.Timestamp} is more than {skew} before this "
                                              f"node's clock ({now.isoformat()})")
    if at > now + skew:
        raise ctx.refuse(FutureTimestampError, f"timestamp {header.Timestamp} is more than {skew} after this "
                                               f"node's clock ({now.isoformat()})")
    payload = _payload(raw["payload"], ctx)
    _speaks_for_its_state(payload, header, ctx)
    try:
        first = replay_store.remember(header.TransactionIdentifier, header.SenderIdentifier, at, now, value)
    except EnvelopeRefusedError as exc:
        raise ctx.refuse(type(exc), exc.message) from None
    return VerifiedEnvelope(header=header, payload=payload, key_id=key.key_id, sender=sender, raw=raw,
                            retry=not first)


def _payload(value: Any, ctx: _Context) -> Payload:
    if not isinstance(value, Mapping):
        raise ctx.refuse(InvalidPayloadError, "payload: expected an object",
                         [{"field": "payload", "message": "expected an object"}])
    action = value.get("action")
    try:
        payload = PAYLOAD.validate_python(value)
    except ValidationError as exc:
        # Errors inside a known action start with its tag (CREATE, ...); the user wrote payload.request.x.
        tagged = isinstance(action, str) and action in (*ACTIONS, "RECEIPT", "ERROR")
        errors = [{"field": "payload.action" if e["field"] == "(document)" else f"payload.{e['field']}",
                   "message": e["message"]} for e in errors_of(exc, drop_prefix=1 if tagged else 0)]
        raise ctx.refuse(InvalidPayloadError, f"{errors[0]['field']}: {errors[0]['message']}", errors) from None
    if payload.action == "CREATE":
        problems = payload.request.problems()
        if problems:
            errors = [{"field": f"payload.request.{p['field']}", "message": p["message"]} for p in problems]
            raise ctx.refuse(InvalidPayloadError, f"{errors[0]['field']}: {errors[0]['message']}", errors)
    return payload


def _speaks_for_its_state(payload: Payload, header: Header, ctx: _Context) -> None:
    """A node files requests in the name of its own State, addressed to the State it sends them to."""
    if payload.action != "CREATE":
        return
    request = payload.request
    sender, receiver = header.SenderIdentifier.CountryCode, header.ReceiverIdentifier.CountryCode
    if request.requesting_state != sender:
        raise ctx.refuse(InvalidPayloadError, f"payload.request.requesting_state: {request.requesting_state} is not "
                         f"the sender's State {sender}", [{"field": "payload.request.requesting_state",
                                                           "message": f"must be the sender's State {sender}"}])
    if request.requested_state is not None and request.requested_state != receiver:
        raise ctx.refuse(InvalidPayloadError, f"payload.request.requested_state: {request.requested_state} is not "
                         f"the receiver's State {receiver}", [{"field": "payload.request.requested_state",
                                                               "message": f"must be the receiver's State {receiver}"}])


def error_reply(error: EnvelopeRefusedError, *, me: EndpointID, key: SigningKey, now: datetime) -> Envelope | None:
    """A signed ERROR envelope answering a refused one, addressed to its claimed sender; None when the refused
    envelope did not say who sent it (answer such a request with a plain problem document)."""
    sender = error.detail.get("sender")
    if not sender:
        return None
    refused = error.detail.get("transaction_id")
    refused = refused if isinstance(refused, str) and _is_uuid(refused) else None
    payload = ErrorPayload(action="ERROR", error=ErrorInformation(
        reason=error.reason, description=error.message[:2000], refused_transaction=refused))
    return new_envelope(me, EndpointID.model_validate(sender), payload, key, now=now, in_reply_to=refused)


def _is_uuid(text: str) -> bool:
    return re.fullmatch(UUID_TEXT, text) is not None
