"""Signed envelopes: the happy path for every action, each reason for refusal, signed error replies, and that
no single changed byte of what is signed gets through."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta, timezone
from typing import Any

import pytest
from fedtools import NOW, XA, XB, XC, Network, create_payload, envelope_from_xa, make_network
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nohaven.errors import InputError
from nohaven.federation import (
    BadSignatureError,
    ClockSkewError,
    DeliverPayload,
    EnvelopeRefusedError,
    ErrorPayload,
    FutureTimestampError,
    GetPayload,
    InvalidPayloadError,
    KeyExpiredError,
    KeyNotValidError,
    KeyNotYetValidError,
    MalformedEnvelopeError,
    MemoryReplayStore,
    NetworkDirectory,
    ReplayedEnvelopeError,
    StaleTimestampError,
    UnknownKeyError,
    UnknownSenderError,
    UpdatePayload,
    WrongReceiverError,
    error_reply,
    new_envelope,
    parse_json,
    signed_bytes,
    verify_envelope,
)
from nohaven.federation.envelope import DEFAULT_SKEW

NET: Network = make_network()
DIRECTORY: NetworkDirectory = NET.directory()


def verify(envelope: Any, *, now: Any = NOW, me: Any = XB, store: Any = None, **kwargs: Any) -> Any:
    if hasattr(envelope, "to_json"):
        envelope = envelope.to_json()
    return verify_envelope(envelope, DIRECTORY, me, now, store if store is not None else MemoryReplayStore(),
                           **kwargs)


def wire(envelope: Any) -> dict[str, Any]:
    return json.loads(envelope.to_json())


# --- accepted ---------------------------------------------------------------------------------------------------

def test_a_create_envelope_from_xa_is_accepted_by_xb() -> None:
    envelope = envelope_from_xa(NET)
    accepted = verify(envelope)
    assert accepted.sender.endpoint == XA and accepted.key_id == NET.keys["xa"].key_id
    assert accepted.payload.action == "CREATE"
    assert accepted.payload.request.requesting_state == "XA"
    assert accepted.raw == wire(envelope)
    header = wire(envelope)["header"]
    assert header["Version"]["ETSIVersion"] == "V1.23.1" and "InReplyTo" not in header


@pytest.mark.parametrize("payload", [
    UpdatePayload.model_validate({"action": "UPDATE", "object_id": str(uuid.uuid4()),
                                  "update": {"status": "Preserved", "note": "held until 2027-01-27"}}),
    GetPayload(action="GET", object_id=str(uuid.uuid4())),
    DeliverPayload.model_validate({"action": "DELIVER", "object_id": str(uuid.uuid4()), "items": [
        {"name": "subscriber.json", "media_type": "application/json", "size": 812, "sha256": "ab" * 32}]}),
], ids=["UPDATE", "GET", "DELIVER"])
def test_every_action_is_accepted(payload: Any) -> None:
    assert verify(envelope_from_xa(NET, payload=payload)).payload == payload


def test_timestamp_keeps_its_own_offset_and_is_compared_as_an_instant() -> None:
    delhi = NOW.astimezone(timezone(timedelta(hours=5, minutes=30)))
    envelope = envelope_from_xa(NET, now=delhi)
    assert envelope.header.Timestamp == "2026-11-28T08:30:00.000000+05:30"
    assert verify(envelope).header.timestamp == NOW


def test_key_order_whitespace_and_unicode_do_not_change_the_signature() -> None:
    envelope = envelope_from_xa(NET, payload=create_payload(offence="Erpressung – Kraków, 勒索软件 €"))
    value = wire(envelope)
    shuffled = {k: dict(reversed(list(v.items()))) for k, v in reversed(list(value.items()))}
    text = json.dumps(shuffled, indent=3, ensure_ascii=True)  # \\u escapes instead of UTF-8
    assert verify(text).payload.request.offence == "Erpressung – Kraków, 勒索软件 €"


def test_skew_boundaries_are_inclusive() -> None:
    assert verify(envelope_from_xa(NET, now=NOW - DEFAULT_SKEW))
    assert verify(envelope_from_xa(NET, now=NOW + DEFAULT_SKEW))
    assert verify(envelope_from_xa(NET, now=NOW - timedelta(minutes=30)), skew=timedelta(hours=1))


# --- refused ----------------------------------------------------------------------------------------------------

def refused(envelope: Any, error: type[EnvelopeRefusedError], match: str | None = None,
            **kwargs: Any) -> EnvelopeRefusedError:
    with pytest.raises(error, match=match) as caught:
        verify(envelope, **kwargs)
    return caught.value


def test_tampered_header_is_refused() -> None:
    value = wire(envelope_from_xa(NET))
    value["header"]["Timestamp"] = (NOW + timedelta(seconds=1)).isoformat()
    error = refused(json.dumps(value), BadSignatureError, "does not verify")
    assert error.reason == "bad_signature" and error.http_status == 401


def test_tampered_in_reply_to_is_refused() -> None:
    value = wire(envelope_from_xa(NET))
    value["header"]["InReplyTo"] = str(uuid.uuid4())
    refused(json.dumps(value), BadSignatureError)


def test_tampered_payload_is_refused() -> None:
    value = wire(envelope_from_xa(NET))
    value["payload"]["request"]["data_items"][0]["value"] = "203.0.113.9:443"
    refused(json.dumps(value), BadSignatureError)


def test_signed_with_a_key_outside_the_directory_is_refused() -> None:
    error = refused(envelope_from_xa(NET, key="stranger"), UnknownKeyError, "has no key")
    assert error.detail["transaction_id"] and error.detail["sender"] == XA.model_dump()


def test_signed_by_another_key_claiming_the_senders_key_id_is_refused() -> None:
    value = wire(envelope_from_xa(NET, key="stranger"))
    value["signature"]["key_id"] = NET.keys["xa"].key_id
    refused(json.dumps(value), BadSignatureError)


def test_signed_with_another_nodes_key_is_refused() -> None:
    # XB's key is in the directory, but not as a key of XA.
    refused(envelope_from_xa(NET, key="xb", receiver=XB), UnknownKeyError)


def test_expired_key_is_refused() -> None:
    error = refused(envelope_from_xa(NET, key="xa-old"), KeyExpiredError, "expired at")
    assert isinstance(error, KeyNotValidError) and error.reason == "key_expired"


def test_key_not_yet_valid_is_refused() -> None:
    refused(envelope_from_xa(NET, key="xa-next"), KeyNotYetValidError, "is valid from")


def test_unknown_sender_is_refused() -> None:
    envelope = new_envelope(XC, XB, create_payload(), NET.keys["stranger"], now=NOW)
    refused(envelope, UnknownSenderError, "XC/xc-ccu is not a node")


def test_envelope_for_another_node_is_refused() -> None:
    error = refused(envelope_from_xa(NET, receiver=XC), WrongReceiverError, "addressed to XC/xc-ccu; this node is "
                                                                            "XB/xb-bfp")
    assert error.http_status == 421


def test_stale_timestamp_is_refused() -> None:
    error = refused(envelope_from_xa(NET, now=NOW - DEFAULT_SKEW - timedelta(seconds=1)), StaleTimestampError)
    assert isinstance(error, ClockSkewError) and error.reason == "timestamp_too_old"


def test_future_timestamp_is_refused() -> None:
    error = refused(envelope_from_xa(NET, now=NOW + DEFAULT_SKEW + timedelta(seconds=1)), FutureTimestampError)
    assert error.reason == "timestamp_in_future"


def test_replay_of_the_same_envelope_is_refused() -> None:
    store = MemoryReplayStore()
    envelope = envelope_from_xa(NET)
    verify(envelope, store=store)
    error = refused(envelope, ReplayedEnvelopeError, "received before", store=store)
    assert error.http_status == 409
    assert error.detail["transaction_id"] == envelope.header.TransactionIdentifier


def test_refused_envelope_is_not_remembered() -> None:
    store = MemoryReplayStore()
    envelope = envelope_from_xa(NET)
    refused(envelope, WrongReceiverError, store=store, me=XA)
    assert verify(envelope, store=store)


@pytest.mark.parametrize("change, field", [
    (lambda r: r.pop("offence"), "payload.request.offence"),
    (lambda r: r.update(requesting_state="Borvania"), "payload.request.requesting_state"),
    (lambda r: r.update(requesting_state="XC"), "payload.request.requesting_state"),  # not in XA's name
    (lambda r: r.update(requested_state="XC"), "payload.request.requested_state"),
    (lambda r: r.update(unexpected="x"), "payload.request.unexpected"),
    (lambda r: r.update(mla_to_follow=False), "payload.request.mla_to_follow"),  # T-CY rule of preservation
    (lambda r: r["data_items"][0].update(time_from="2026-11-26T10:00:00"), "payload.request.data_items[0].time_from"),
])
def test_malformed_payload_correctly_signed_is_refused_naming_the_field(change: Any, field: str) -> None:
    body = create_payload().model_dump(mode="json")
    change(body["request"])
    envelope = sign_raw(wire(envelope_from_xa(NET))["header"], body)
    error = refused(envelope, InvalidPayloadError)
    assert error.errors[0]["field"] == field and error.http_status == 422
    assert isinstance(error, InputError)


@pytest.mark.parametrize("payload, field", [
    ({"action": "DELETE", "object_id": str(uuid.uuid4())}, "payload.action"),
    ({"object_id": str(uuid.uuid4())}, "payload.action"),
    ({"action": "GET", "object_id": "not-a-uuid"}, "payload.object_id"),
    ({"action": "UPDATE", "object_id": str(uuid.uuid4()), "update": {"status": "Sleeping"}}, "payload.update"),
    ({"action": "UPDATE", "object_id": str(uuid.uuid4()), "update": {}}, "payload.update"),
    ({"action": "DELIVER", "object_id": str(uuid.uuid4()), "items": []}, "payload.items"),
    ([1, 2], "payload"),
])
def test_payloads_of_other_actions_are_validated(payload: Any, field: str) -> None:
    error = refused(sign_raw(wire(envelope_from_xa(NET))["header"], payload), InvalidPayloadError)
    assert error.errors[0]["field"] == field


def sign_raw(header: dict[str, Any], payload: Any, key: str = "xa") -> str:
    signature = NET.keys[key].sign(signed_bytes(header, payload))
    from nohaven.federation.canonical import b64url_encode

    return json.dumps({"header": header, "payload": payload, "signature": {
        "algorithm": "Ed25519", "key_id": NET.keys[key].key_id, "value": b64url_encode(signature)}})


@pytest.mark.parametrize("mutate, match", [
    (lambda v: "{", "not JSON"),
    (lambda v: json.dumps(v)[:-1] + ', "header": {}}', "duplicate key"),
    (lambda v: json.dumps({**v, "extra": 1}), "exactly the members"),
    (lambda v: json.dumps({**v, "header": {**v["header"], "Priority": "high"}}), "header.Priority: unknown field"),
    (lambda v: json.dumps({**v, "header": {**v["header"], "TransactionIdentifier":
                                           v["header"]["TransactionIdentifier"].upper()}}), "TransactionIdentifier"),
    (lambda v: json.dumps({**v, "header": {**v["header"], "Timestamp": "2026-11-28T03:00:00"}}), "no UTC offset"),
    (lambda v: json.dumps({**v, "signature": {**v["signature"], "value": "AAAA"}}), "expected 64 bytes"),
    (lambda v: json.dumps({**v, "payload": {**v["payload"], "big": 2**60}}), "canonicalised"),
])
def test_malformed_envelopes_are_refused(mutate: Any, match: str) -> None:
    refused(mutate(wire(envelope_from_xa(NET))), MalformedEnvelopeError, match)


# --- signed error replies ---------------------------------------------------------------------------------------

def test_refusal_is_answered_with_a_signed_error_the_sender_can_verify() -> None:
    envelope = envelope_from_xa(NET, now=NOW - timedelta(hours=1))
    with pytest.raises(StaleTimestampError) as caught:
        verify(envelope)
    reply = error_reply(caught.value, me=XB, key=NET.keys["xb"], now=NOW)
    assert reply is not None
    accepted = verify_envelope(reply.to_json(), DIRECTORY, XA, NOW, MemoryReplayStore())
    assert isinstance(accepted.payload, ErrorPayload)
    assert accepted.payload.error.reason == "timestamp_too_old"
    assert accepted.payload.error.refused_transaction == envelope.header.TransactionIdentifier
    assert accepted.header.InReplyTo == envelope.header.TransactionIdentifier
    assert accepted.header.ReceiverIdentifier == XA and accepted.sender.endpoint == XB


def test_no_reply_when_the_sender_cannot_be_read() -> None:
    with pytest.raises(MalformedEnvelopeError) as caught:
        verify(b"[]")
    assert error_reply(caught.value, me=XB, key=NET.keys["xb"], now=NOW) is None


# --- no single changed byte gets through -------------------------------------------------------------------------

SIGNED_ENVELOPE = envelope_from_xa(NET, payload=create_payload(offence="Ransomware – Kraków"))
SIGNED_VALUE = wire(SIGNED_ENVELOPE)
SIGNED_BYTES = signed_bytes(SIGNED_VALUE["header"], SIGNED_VALUE["payload"])


def test_the_signature_covers_exactly_the_canonical_bytes() -> None:
    signature = SIGNED_ENVELOPE.signature
    from nohaven.federation.canonical import b64url_decode

    assert NET.keys["xa"].public.verifies(b64url_decode(signature.value, "v", 64), SIGNED_BYTES)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, len(SIGNED_BYTES) - 1), byte=st.integers(0, 255))
def test_any_single_byte_change_of_the_signed_bytes_is_refused(position: int, byte: int) -> None:
    if SIGNED_BYTES[position] == byte:
        byte ^= 0xFF
    changed = SIGNED_BYTES[:position] + bytes([byte]) + SIGNED_BYTES[position + 1:]
    from nohaven.federation.canonical import b64url_decode

    assert not NET.keys["xa"].public.verifies(b64url_decode(SIGNED_ENVELOPE.signature.value, "v", 64), changed)
    try:
        value = parse_json(changed)
    except InputError:
        return  # not even JSON any more: nothing to send
    if not isinstance(value, dict):
        return
    envelope = {**value, "signature": SIGNED_VALUE["signature"]}
    with pytest.raises(EnvelopeRefusedError):
        verify(json.dumps(envelope))
