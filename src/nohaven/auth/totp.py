"""TOTP second factor (RFC 6238) and single-use recovery codes."""

from __future__ import annotations

import hashlib
import secrets
import time

import pyotp

__all__ = ["hash_recovery_code", "new_recovery_codes", "new_secret", "provisioning_uri", "verify_code"]

ISSUER = "nohaven"


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, node_label: str) -> str:
    """The otpauth:// URI an authenticator app imports."""
    return pyotp.TOTP(secret).provisioning_uri(name=f"{username}@{node_label}", issuer_name=ISSUER)


def verify_code(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step the code belongs to (±1 step of drift), or None; a step at or before last_step is refused."""
    code = code.strip().replace(" ", "")
    if not code.isdigit() or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    at = time.time() if now is None else now
    current = int(at // totp.interval)
    for step in (current - 1, current, current + 1):
        if step > last_step and secrets.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def new_recovery_codes(count: int = 10) -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return ["-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2)) for _ in range(count)]


def hash_recovery_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().encode()).hexdigest()
