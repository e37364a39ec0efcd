"""TOTP second factor (RFC 6238) and single-use recovery codes."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from nohaven.errors import ConfigError

__all__ = [
    "hash_recovery_code",
    "new_recovery_codes",
    "new_secret",
    "provisioning_uri",
    "seal",
    "unseal",
    "verify_code",
]

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


SEALED_PREFIX = "aesgcm1:"


def _key(node_secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"nohaven totp secrets").derive(
        node_secret.encode())


def seal(secret: str, node_secret: str) -> str:
    """Encrypt a TOTP secret for storage (AES-256-GCM under a key derived from the node's secret key), so that a
    copy of the database alone does not yield anyone's second factor."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_key(node_secret)).encrypt(nonce, secret.encode(), b"totp")
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(value: str, node_secret: str) -> str:
    """The TOTP secret from its stored form; refuses anything not sealed under this node's secret key."""
    if not value.startswith(SEALED_PREFIX):
        raise ConfigError("a stored TOTP secret is not encrypted; the user must enrol again")
    raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX):])
    try:
        return AESGCM(_key(node_secret)).decrypt(raw[:12], raw[12:], b"totp").decode()
    except (InvalidTag, ValueError):
        raise ConfigError("a stored TOTP secret cannot be decrypted with this node's secret key (was the key "
                          "changed?); the user must enrol again") from None
