"""Turn pydantic validation failures into InputErrors that name each bad field by its path."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from nohaven.errors import InputError

__all__ = ["errors_of", "field_path", "parse_model"]

M = TypeVar("M", bound=BaseModel)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def field_path(loc: tuple[int | str, ...]) -> str:
    """('states', 0, 'legal_profile', 'x') -> 'states[0].legal_profile.x'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.match(part):
            out += ("." if out else "") + part
        # else: pydantic's internal tags such as 'function-after[...]' say nothing to a user
    return out or "(document)"


def errors_of(exc: ValidationError, drop_prefix: int = 0) -> list[dict[str, str]]:
    out = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required"
        out.append({"field": field_path(tuple(error["loc"])[drop_prefix:]), "message": message})
    return out


def parse_model(model: type[M], data: Any, what: str) -> M:
    """Validate `data` as `model`, or raise one InputError listing every bad field."""
    if not isinstance(data, dict):
        raise InputError(f"{what}: expected an object with named fields",
                         errors=[{"field": "(document)", "message": "expected an object"}])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = errors_of(exc)
        first = errors[0]
        summary = f"{what}: {first['field']}: {first['message']}"
        if len(errors) > 1:
            summary += f" (and {len(errors) - 1} more)"
        raise InputError(summary, errors=errors) from None
