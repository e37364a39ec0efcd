"""Password hashing with argon2id, and the minimum a password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from nohaven.errors import InputError

__all__ = ["MIN_LENGTH", "check_strength", "hash_password", "verify_password"]

MIN_LENGTH = 12
_hasher = PasswordHasher()
# Verifying against this keeps the time of a log-in with an unknown user name like that of a known one.
_DUMMY_HASH = _hasher.hash("nohaven-timing-equaliser")


def check_strength(password: str, field: str = "password") -> None:
    """Refuse passwords that are too short or all one character class."""
    if len(password) < MIN_LENGTH:
        raise InputError.field(field, f"must be at least {MIN_LENGTH} characters long")
    if password.strip() != password or not password.strip():
        raise InputError.field(field, "must not start or end with spaces")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; unknown users (None) cost the same time and fail."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
