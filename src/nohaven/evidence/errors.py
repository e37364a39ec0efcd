"""The errors of the evidence package, all under `nohaven.errors.NohavenError`.

EvidenceError                   base of this package's errors (CLI exit 1)
├── VerificationError           a bundle, proof or signature does not verify; `where` names the place
│   └── BundleFormatError       the bundle is not a readable bundle (corrupt, truncated, a member missing)
├── StoreError                  the evidence store on disk is missing or damaged
└── HashingError                a file could not be read while hashing
UnknownAlgorithmError           (an InputError, exit 2) a digest algorithm we do not compute
"""

from __future__ import annotations

from typing import Any

from nohaven.errors import InputError, NohavenError

__all__ = [
    "BundleFormatError",
    "EvidenceError",
    "HashingError",
    "StoreError",
    "UnknownAlgorithmError",
    "VerificationError",
]


class EvidenceError(NohavenError):
    title = "Evidence error"
    exit_code = 1


class VerificationError(EvidenceError):
    """A check failed; `where` names the bundle member, item, event or signature, `check` the kind of check."""

    title = "Verification failed"

    def __init__(self, where: str, message: str, check: str = "integrity", **detail: Any) -> None:
        super().__init__(f"{where}: {message}", where=where, check=check, **detail)
        self.where = where
        self.check = check


class BundleFormatError(VerificationError):
    title = "Not a readable evidence bundle"

    def __init__(self, where: str, message: str, **detail: Any) -> None:
        super().__init__(where, message, check="format", **detail)


class StoreError(EvidenceError):
    title = "Evidence store error"


class HashingError(EvidenceError):
    title = "File could not be hashed"


class UnknownAlgorithmError(InputError):
    title = "Unknown digest algorithm"
