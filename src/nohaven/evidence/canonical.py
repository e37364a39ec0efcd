"""RFC 8785 (JCS) canonical JSON for custody events and manifests, fast for the shapes we write.

Custody events hold only objects, arrays, strings, integers, booleans and null. For such values, with every
string inside the Basic Multilingual Plane below the surrogates, JCS and Python's `json.dumps` with sorted keys,
no spaces and no ASCII escaping produce the same bytes (same escapes, same key order). Such values go through
json's C encoder (made once); anything else (a float, an integer beyond ±2^53, a character at or above U+D800)
through the pure-Python `rfc8785` package, many times slower, which matters for a log of millions of events.
A property test holds the two equal.
"""

from __future__ import annotations

import json
import re
from typing import Any

import rfc8785

from nohaven.errors import InputError

__all__ = ["beyond_fast_path", "canonical_bytes", "encode_plain", "flat_object_text", "is_canonical",
           "parse_strict", "plain", "quote"]

_SAFE_INT = 2**53 - 1
_BEYOND_FAST_PATH = re.compile("[\ud800-\U0010ffff]")


def _make_encoder() -> Any:
    """One C encoder (sorted keys, no spaces, UTF-8 kept), made once: json.dumps with these options builds a new
    encoder on every call, which costs more than encoding a small event."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    try:
        return make(None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True)
    except TypeError:  # another interpreter's signature: use json.dumps
        return None


_encoder = _make_encoder()

# JSON string quoting with UTF-8 kept (json's C routine where there is one): for a string of the fast path's range,
# the same escapes as RFC 8785 §3.2.2.2 (the two-character escapes, \u00xx in lower case for other controls).
quote: Any = json.encoder.encode_basestring


def plain(value: Any) -> bool:
    """True when the value holds only dicts with string keys, lists, strings, None, booleans and integers within
    ±2^53: the fast path's precondition. Exact types only (a subclass takes the general path); iterative."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is str or v is None or t is bool:
            continue
        if t is dict:
            for k in v:
                if type(k) is not str:
                    return False
            push(v.values())
        elif t is list or t is tuple:
            push(v)
        elif t is int:
            if not -_SAFE_INT <= v <= _SAFE_INT:
                return False
        else:
            return False
    return True


def flat_object_text(value: dict[Any, Any]) -> str | None:
    """The canonical text of a dict with string keys and flat values (strings, None, booleans, integers within
    ±2^53), or None for any other dict (its text still needs `beyond_fast_path` checked, like everything the
    fast path writes)."""
    if not value:
        return "{}"
    for k, v in value.items():
        t = type(v)
        if type(k) is not str or not (t is str or v is None or t is bool
                                      or (t is int and -_SAFE_INT <= v <= _SAFE_INT)):
            return None
    if _encoder is not None:
        return "".join(_encoder(value, 0))
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def beyond_fast_path(text: str) -> bool:
    """True when the text holds a character at or above U+D800, where JCS and json part ways (key order by
    UTF-16 code units, lone surrogates): such a value needs the general encoder."""
    return not text.isascii() and _BEYOND_FAST_PATH.search(text) is not None  # isascii: a C scan, far cheaper


def encode_plain(value: Any) -> bytes | None:
    """The canonical bytes of a value `plain()` accepted, or None when a character beyond the fast path's range
    needs the general encoder."""
    if _encoder is not None:
        text: str = "".join(_encoder(value, 0))
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if beyond_fast_path(text):
        return None
    return text.encode("utf-8")


def canonical_bytes(value: Any, what: str = "document") -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value."""
    if plain(value):
        data = encode_plain(value)
        if data is not None:
            return data
    try:
        return rfc8785.dumps(value)
    # UnicodeEncodeError: rfc8785 sorts keys as UTF-16, which a lone surrogate in a key cannot be.
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, TypeError, RecursionError) as exc:
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
