"""Completing an imported request: defaults under what the message says, `FIELD=VALUE` settings over it.

A message from another system rarely carries every T-CY field nohaven requires (who the requesting authority
is, the offence, the summary of facts...). The officer supplies them: a defaults file fills what the message
left empty, and settings name single fields, overriding the message.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from nohaven.errors import InputError
from nohaven.requests.schema import RequestIn

__all__ = ["apply_setting", "complete", "parse_setting"]

SEGMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$|^\d+$")


class _TextLoader(yaml.SafeLoader):
    """YAML that reads no numbers or timestamps: phone numbers, references and times stay as written."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _under(base: Any, top: Any) -> Any:
    """`top` over `base`: mappings merge key by key; an empty value in `top` lets `base` show through."""
    if isinstance(base, dict) and isinstance(top, dict):
        merged = dict(base)
        for key, value in top.items():
            merged[key] = _under(base.get(key), value)
        return merged
    return base if _empty(top) else top


def parse_setting(text: str) -> tuple[list[str | int], Any]:
    """'requesting_authority.phones=[+15555550100]' -> (['requesting_authority', 'phones'], ['+15555550100']).

    The value stays text except true/false/null and flow lists or mappings ([...], {...}), read as YAML whose
    scalars are text or true/false/null."""
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise InputError.field("--set", f"{text!r} is not FIELD=VALUE (e.g. channel=email)")
    parts = name.strip().split(".")
    if not all(SEGMENT.match(p) for p in parts) or parts[0].isdigit():
        raise InputError.field("--set", f"{name!r} is not a field name (use dots for parts: requesting_authority."
                               "officer, data_items.0.data_category)")
    if parts[0] not in RequestIn.model_fields:
        raise InputError.field("--set", f"{parts[0]!r} is not a request field; fields: "
                               f"{', '.join(RequestIn.model_fields)}")
    value: Any = raw
    stripped = raw.strip()
    if stripped in ("true", "false", "null") or stripped[:1] in ("[", "{"):
        try:
            value = yaml.load(stripped, Loader=_TextLoader)  # noqa: S506 - a SafeLoader with fewer types
        except yaml.YAMLError:
            raise InputError.field("--set", f"the value of {name} is not a valid YAML list or mapping") from None
    return [int(p) if p.isdigit() else p for p in parts], value


def apply_setting(fields: dict[str, Any], path: list[str | int], value: Any) -> None:
    """Set one (possibly nested) field in place; list items are named by their index."""
    node: Any = fields
    for depth, key in enumerate(path[:-1]):
        following = path[depth + 1]
        if isinstance(key, int):
            if not isinstance(node, list) or key >= len(node):
                raise InputError.field("--set", f"{'.'.join(map(str, path))}: there is no item {key}")
            if not isinstance(node[key], dict):
                node[key] = {}
            node = node[key]
            continue
        if not isinstance(node.get(key), dict | list):
            node[key] = [] if isinstance(following, int) else {}
        node = node[key]
    last = path[-1]
    if isinstance(last, int):
        if not isinstance(node, list) or last > len(node):
            raise InputError.field("--set", f"{'.'.join(map(str, path))}: there is no item {last}")
        if last == len(node):
            node.append(value)
        else:
            node[last] = value
    else:
        node[last] = value


def complete(fields: dict[str, Any], defaults: dict[str, Any] | None = None,
             settings: list[str] | None = None) -> dict[str, Any]:
    """The imported `fields` over `defaults`, then each `FIELD=VALUE` of `settings` over both."""
    if defaults is not None:
        unknown = [name for name in defaults if name not in RequestIn.model_fields]
        if unknown:
            raise InputError("--defaults: unknown request fields: " + ", ".join(unknown),
                             errors=[{"field": f"--defaults.{n}", "message": "unknown field"} for n in unknown])
    result = _under(copy.deepcopy(defaults or {}), copy.deepcopy(fields))
    for text in settings or []:
        path, value = parse_setting(text)
        apply_setting(result, path, value)
    return dict(result)
