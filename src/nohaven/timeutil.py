"""Aware datetimes only: parsing with explicit offsets, ISO 8601 durations, formatting."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from nohaven.errors import InputError

__all__ = ["format_duration", "parse_aware", "parse_duration", "require_aware", "utcnow", "zone"]

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def utcnow() -> datetime:
    """The current instant, in UTC, aware."""
    return datetime.now(UTC)


def require_aware(value: datetime, field: str = "timestamp") -> datetime:
    """Refuse a naive datetime; an instant without an offset is not an instant."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise InputError.field(field, "timestamp has no UTC offset; write it with one, e.g. 2026-11-27T03:14:07+01:00")
    return value


def parse_aware(text: str, field: str = "timestamp") -> datetime:
    """Parse ISO 8601 text that must carry an offset (Z or ±hh:mm)."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InputError.field(
            field, f"{raw!r} is not an ISO 8601 timestamp (e.g. 2026-11-27T03:14:07+01:00)") from None
    return require_aware(value, field)


def as_utc(value: datetime) -> datetime:
    """Normalise an aware datetime to UTC; databases without zone support hand back naive UTC values."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_duration(text: str, field: str = "duration") -> timedelta:
    """Parse an ISO 8601 duration of weeks, days, hours, minutes and seconds (no months or years)."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() in ("P", "PT"):
        raise InputError.field(field, f"{text!r} is not an ISO 8601 duration such as P60D, PT8H or P1DT12H")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(**parts)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta as an ISO 8601 duration (days, hours, minutes, seconds)."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    out = f"{sign}P"
    if days:
        out += f"{days}D"
    if hours or minutes or seconds or not days:
        out += "T"
        if hours:
            out += f"{hours}H"
        if minutes:
            out += f"{minutes}M"
        if seconds or not (hours or minutes):
            out += f"{seconds}S"
    return out


@cache
def zone_names() -> frozenset[str]:
    # available_timezones() walks the tz database on disk at every call; once per process is enough.
    return frozenset(available_timezones())


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """An IANA time zone by name, with a clear error for an unknown one."""
    if name not in zone_names():
        raise InputError.field(field, f"{name!r} is not an IANA time zone name (e.g. Europe/Berlin)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError.field(field, f"{name!r} is not an IANA time zone name") from None


def humanize_delta(delta: timedelta) -> str:
    """'in 3 h 20 min' / '2 d 4 h ago', for people looking at clocks."""
    seconds = int(delta.total_seconds())
    future = seconds >= 0
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        text = f"{days} d {hours} h"
    elif hours:
        text = f"{hours} h {minutes} min"
    else:
        text = f"{minutes} min"
    return f"in {text}" if future else f"{text} ago"
