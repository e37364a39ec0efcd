"""The refusals of federation, each a subclass of the matching nohaven error.

FederationError (mixin)                   every federation refusal carries a machine-readable `reason`
├── KeyFileError(InputError)              a key file that cannot be read or is not an Ed25519 key (exit 2)
├── DirectoryRefusedError(NohavenError)   a signed network directory refused (CLI exit 1)
│   ├── MalformedDirectoryError           not a signed directory document, or its content does not validate
│   ├── UnknownAuthorityKeyError          signed by a key that is not pinned
│   ├── DirectorySignatureError           the signature does not verify with the pinned key
│   └── DirectoryRollbackError            an older serial than the last good one (or the same serial, other content)
└── EnvelopeRefusedError                  an incoming envelope refused; `reason` goes into the signed error reply
    ├── MalformedEnvelopeError(InputError)            not an envelope: missing or unknown fields, bad JSON
    │   └── InvalidPayloadError                       signed correctly, but the payload does not validate
    ├── UnknownSenderError(AuthenticationError)       the sender is not a node of the directory
    ├── UnknownKeyError(AuthenticationError)          the sender has no key with the envelope's key id
    ├── KeyNotValidError(AuthenticationError)         the key is outside its validity at the envelope's timestamp
    │   ├── KeyExpiredError
    │   └── KeyNotYetValidError
    ├── BadSignatureError(AuthenticationError)        the signature does not verify
    ├── WrongReceiverError(PermissionDeniedError)     addressed to another node (HTTP 421)
    ├── ClockSkewError(AuthenticationError)           the timestamp is outside the allowed skew
    │   ├── StaleTimestampError
    │   └── FutureTimestampError
    └── ReplayedEnvelopeError(ConflictError)          the transaction id was seen before
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nohaven.errors import (
    AuthenticationError,
    ConflictError,
    InputError,
    NohavenError,
    PermissionDeniedError,
)

__all__ = [
    "BadSignatureError",
    "ClockSkewError",
    "DirectoryRefusedError",
    "DirectoryRollbackError",
    "DirectorySignatureError",
    "EnvelopeRefusedError",
    "FederationError",
    "FutureTimestampError",
    "InvalidPayloadError",
    "KeyExpiredError",
    "KeyFileError",
    "KeyNotValidError",
    "KeyNotYetValidError",
    "MalformedDirectoryError",
    "MalformedEnvelopeError",
    "ReplayedEnvelopeError",
    "StaleTimestampError",
    "UnknownAuthorityKeyError",
    "UnknownKeyError",
    "UnknownSenderError",
    "WrongReceiverError",
]


class FederationError(NohavenError):
    """Mixin root of federation refusals; `reason` is a stable code for machines and audit entries."""

    reason = "federation_error"

    def diagnostics(self) -> str:
        return f"{self.reason}: {super().diagnostics()}"


class KeyFileError(FederationError, InputError):
    reason = "key_file"
    title = "Key file refused"


# --- the signed network directory -------------------------------------------------------------------------------

class DirectoryRefusedError(FederationError):
    reason = "directory_refused"
    title = "Network directory refused"
    exit_code = 1


class MalformedDirectoryError(DirectoryRefusedError):
    """Not a signed directory, or content that does not validate; `errors` names each bad field."""

    reason = "malformed"

    def __init__(self, message: str, errors: Sequence[dict[str, str]] | None = None, **detail: Any) -> None:
        self.errors = list(errors or [])
        super().__init__(message, errors=self.errors or None, **detail)

    def diagnostics(self) -> str:
        lines = [super().diagnostics()] + [f"  {e['field']}: {e['message']}" for e in self.errors[1:]]
        return "\n".join(lines)


class UnknownAuthorityKeyError(DirectoryRefusedError):
    reason = "unknown_authority_key"


class DirectorySignatureError(DirectoryRefusedError):
    reason = "signature"


class DirectoryRollbackError(DirectoryRefusedError):
    reason = "rollback"


# --- envelopes ------------------------------------------------------------------------------------------------------

class EnvelopeRefusedError(FederationError):
    """An incoming envelope refused. `detail` carries `transaction_id` and `sender` when they could be read,
    so that a signed error reply can be addressed (see `envelope.error_reply`)."""

    reason = "refused"
    title = "Envelope refused"


class MalformedEnvelopeError(EnvelopeRefusedError, InputError):
    reason = "malformed_envelope"
    title = "Envelope malformed"


class InvalidPayloadError(MalformedEnvelopeError):
    reason = "invalid_payload"
    title = "Envelope payload invalid"


class UnknownSenderError(EnvelopeRefusedError, AuthenticationError):
    reason = "unknown_sender"


class UnknownKeyError(EnvelopeRefusedError, AuthenticationError):
    reason = "unknown_key"


class KeyNotValidError(EnvelopeRefusedError, AuthenticationError):
    reason = "key_not_valid"


class KeyExpiredError(KeyNotValidError):
    reason = "key_expired"


class KeyNotYetValidError(KeyNotValidError):
    reason = "key_not_yet_valid"


class BadSignatureError(EnvelopeRefusedError, AuthenticationError):
    reason = "bad_signature"


class WrongReceiverError(EnvelopeRefusedError, PermissionDeniedError):
    reason = "wrong_receiver"
    http_status = 421  # Misdirected Request
    title = "Envelope addressed to another node"


class ClockSkewError(EnvelopeRefusedError, AuthenticationError):
    reason = "clock_skew"


class StaleTimestampError(ClockSkewError):
    reason = "timestamp_too_old"


class FutureTimestampError(ClockSkewError):
    reason = "timestamp_in_future"


class ReplayedEnvelopeError(EnvelopeRefusedError, ConflictError):
    reason = "replayed"
    title = "Envelope replayed"
