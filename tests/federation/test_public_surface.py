"""The public names of nohaven.federation change only on purpose."""

from __future__ import annotations

import nohaven.federation as federation

EXPECTED = {
    "BadSignatureError", "ClockSkewError", "CreatePayload", "DEFAULT_SKEW", "DatabaseReplayStore", "DeliverPayload",
    "DirectoryKey", "DirectoryRefusedError", "DirectoryRollbackError", "DirectorySignatureError", "EndpointID",
    "Envelope", "EnvelopeRefusedError", "ErrorPayload", "FederationError", "FutureTimestampError", "GetPayload",
    "Header", "InvalidPayloadError", "KeyExpiredError", "KeyFileError", "KeyNotValidError", "KeyNotYetValidError",
    "MalformedDirectoryError", "MalformedEnvelopeError", "MemoryReplayStore", "NetworkDirectory", "NodeEntry",
    "Payload", "ReplayStore", "ReplayedEnvelopeError", "SignedDirectory", "SigningKey", "StaleTimestampError",
    "UnknownAuthorityKeyError", "UnknownKeyError", "UnknownSenderError", "UpdatePayload", "VerifiedEnvelope",
    "VerifyKey", "WrongReceiverError", "canonical_bytes", "current_directory", "error_reply", "install_directory",
    "key_id_of", "load_public_key", "load_signing_key", "new_envelope", "parse_json", "sign_directory",
    "signed_bytes", "verify_directory", "verify_envelope",
}


def test_all_is_pinned_and_importable() -> None:
    assert set(federation.__all__) == EXPECTED
    assert all(hasattr(federation, name) for name in federation.__all__)


def test_every_refusal_is_a_nohaven_error_with_a_reason() -> None:
    from nohaven.errors import NohavenError

    errors = [getattr(federation, n) for n in federation.__all__ if n.endswith("Error")]
    reasons = [e.reason for e in errors if e not in (federation.FederationError,)]
    assert all(issubclass(e, NohavenError) for e in errors)
    assert len(reasons) == len(set(reasons)), "each refusal has its own reason code"
