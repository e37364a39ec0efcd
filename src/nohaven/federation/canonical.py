"""RFC 8785 (JCS) canonical JSON, strict JSON parsing, and the base64url form of bytes in documents.

What is signed is always the canonical form of JSON values as they were received, never a re-serialised model:
a verifier therefore needs nothing but these functions and an Ed25519 implementation.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import rfc8785

from nohaven.errors import InputError

__all__ = ["b64url_decode", "b64url_encode", "canonical_bytes", "parse_json"]


def canonical_bytes(value: Any, what: str = "document") -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value (keys sorted by UTF-16 code units, ES6 numbers)."""
    try:
        return rfc8785.dumps(value)
    except rfc8785.CanonicalizationError as exc:
        raise InputError.field(what, f"cannot be canonicalised (RFC 8785): {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Parsers disagree on which of two equal keys wins; a signed document with duplicates means two things at once.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes | str, what: str = "document") -> Any:
    """Parse strict JSON: UTF-8 only, no duplicate keys, no NaN or Infinity."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise InputError.field(what, f"not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise InputError.field(what, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError.field(what, f"not acceptable JSON: {exc}") from None


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 4648 §5), the form of keys and signatures in our documents."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, field: str, length: int | None = None) -> bytes:
    """Decode base64url without padding, refusing other alphabets, padding and wrong lengths."""
    if not isinstance(text, str) or not text or any(c not in _B64URL for c in text) or len(text) % 4 == 1:
        raise InputError.field(field, "not base64url without padding")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InputError.field(field, "not base64url without padding") from None
    if b64url_encode(raw) != text:  # non-zero trailing bits: a second spelling of the same bytes
        raise InputError.field(field, "not the canonical base64url spelling of its bytes")
    if length is not None and len(raw) != length:
        raise InputError.field(field, f"expected {length} bytes, got {len(raw)}")
    return raw


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
