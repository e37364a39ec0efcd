"""RFC 8785 (JCS) canonical JSON for custody events and manifests, fast for the shapes we write.

Custody events hold only objects, arrays, strings, integers, booleans and null. For such values, with every
string inside the Basic Multilingual Plane below the surrogates, JCS and Python's `json.dumps` with sorted keys,
no spaces and no ASCII escaping produce the same bytes (same escapes, same key order). That path is about seven
times faster than the pure-Python `rfc8785` package, which matters for a log of millions of events; anything
else (a float, a character at or above U+D800) goes through `rfc8785`. A property test holds the two equal.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from nohaven.errors import InputError

__all__ = ["canonical_bytes", "is_canonical", "parse_strict"]

_SAFE_INT = 2**53 - 1
_BEYOND_FAST_PATH = re.compile("[\ud800-\U0010ffff]")


def _plain(value: Any) -> bool:
    """True when the value holds no float and no integer beyond ±2^53 (the fast path's precondition)."""
    if isinstance(value, str) or value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -_SAFE_INT <= value <= _SAFE_INT
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(_plain(v) for v in value)
    return False


def canonical_bytes(value: Any, what: str = "document") -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    if _plain(value):
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        if not _BEYOND_FAST_PATH.search(text):
            return text.encode("utf-8")
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError) as exc:
        raise InputError.field(what, f"cannot be canonicalised (RFC 8785): {exc}") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:  # two readers could disagree about which value counts
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_strict(data: bytes, what: str = "document") -> Any:
    """Parse JSON strictly: UTF-8, no duplicate keys, no NaN or Infinity; raise ValueError naming what is wrong."""
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{what} is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def is_canonical(data: bytes, value: Any) -> bool:
    """True when `data` is exactly the canonical form of the value parsed from it."""
    try:
        return canonical_bytes(value) == data
    except InputError:
        return False
