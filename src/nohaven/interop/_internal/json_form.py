"""The JSON form of an HI1Message, as ETSI's JSON schemas for TS 103 120 describe it.

Elements become keys, named with ETSI's prefixes for every namespace but Core ("task:Status", "common:Owner");
elements that may repeat become arrays; integers and booleans are JSON numbers and booleans; attributes are
"@"-keys, and "@xsi:type" names the object type in Clark notation ("{namespace}LPTaskObject"), as the JSON
schemas' enumerations spell it. The conversion is the schema's own: the XSDs decide what is an array or a number.
"""

from __future__ import annotations

import json
from typing import Any

from nohaven.errors import InputError
from nohaven.interop._internal.names import NS, PREFIX_OF, split

__all__ = ["JSON_NAMESPACES", "from_json_text", "object_types", "to_clark_types", "to_prefixed_types"]

JSON_NAMESPACES = {("" if prefix == "core" else prefix): uri for prefix, uri in NS.items()
                   if prefix not in ("config", "destination", "encryption", "iripolicy", "dictionaries")}


def _walk_types(data: Any, convert: Any) -> Any:
    if isinstance(data, dict):
        return {key: (convert(value) if key == "@xsi:type" and isinstance(value, str) else _walk_types(value, convert))
                for key, value in data.items()}
    if isinstance(data, list):
        return [_walk_types(item, convert) for item in data]
    return data


def to_clark_types(data: Any, namespaces: dict[str, str]) -> Any:
    """'task:LPTaskObject' -> '{http://uri.etsi.org/03120/common/2020/09/Task}LPTaskObject'."""
    def convert(value: str) -> str:
        prefix, _, local = value.rpartition(":")
        return f"{{{namespaces.get(prefix, '')}}}{local}" if prefix in namespaces else value
    return _walk_types(data, convert)


def to_prefixed_types(data: Any) -> Any:
    """The reverse, with ETSI's prefixes; a type already written with a prefix is left as it is."""
    def convert(value: str) -> str:
        if not value.startswith("{"):
            return value
        uri, local = split(value)
        prefix = PREFIX_OF.get(uri)
        if prefix is None:
            raise InputError.field("@xsi:type", f"{value!r} is not an object type of a TS 103 120 namespace")
        return f"{prefix}:{local}"
    return _walk_types(data, convert)


def object_types(data: Any, path: str = "") -> list[tuple[str, str]]:
    """Every "@xsi:type" value with where it is ('Payload.RequestPayload....HI1Object.@xsi:type')."""
    found: list[tuple[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else key
            if key == "@xsi:type" and isinstance(value, str):
                found.append((where, value))
            else:
                found += object_types(value, where)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += object_types(item, f"{path}[{index}]")
    return found


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise InputError.field(key, "this key appears twice in one object; which one counts is ambiguous")
        seen[key] = value
    return seen


def from_json_text(data: str | bytes) -> Any:
    """Parse JSON strictly: UTF-8, no duplicate keys, no NaN or Infinity."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise InputError.field("(document)", "the JSON is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise InputError.field(f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}") from None


def _refuse_constant(name: str) -> Any:
    raise InputError.field("(document)", f"{name} is not a JSON number")
