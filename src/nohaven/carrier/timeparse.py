"""Event times as UTC epoch milliseconds with an uncertainty, never guessed.

A timestamp with an offset is an instant. A local wall-clock time without one is turned into an instant only
when the caller names the IANA zone; a time that falls in a DST gap does not exist and is rejected, and a time
in a repeated hour is kept with the earlier instant, flagged ambiguous and widened by the fold (both instants
stay inside the record's uncertainty, so a lookup finds it under either reading).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nohaven.carrier.errors import LineRejected

__all__ = ["FLAG_END_OPEN", "FLAG_START_UNKNOWN", "FLAG_TIME_AMBIGUOUS", "Stamp", "iso_ms", "local_to_stamp",
           "ms_to_datetime", "utc_fields_to_ms"]

FLAG_TIME_AMBIGUOUS = 1  # a local time in a repeated hour: both readings lie within the slack
FLAG_START_UNKNOWN = 2  # the mapping was seen (interim, close without duration) but its start was not logged
FLAG_END_OPEN = 4  # no close was logged; the end is the last time its log source says anything


@dataclass(frozen=True, slots=True)
class Stamp:
    """An instant in UTC milliseconds, how far after it the true time may lie (resolution, DST fold), flags."""

    ms: int
    slack_ms: int = 0
    flags: int = 0


def utc_fields_to_ms(year: int, month: int, day: int, hour: int, minute: int, second: int, millis: int = 0) -> int:
    """Epoch milliseconds of a UTC wall-clock time."""
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) * 1000 + millis


def local_to_stamp(wall: datetime, zone: ZoneInfo, resolution_ms: int, source_text: str) -> Stamp:
    """Place a wall-clock time read without an offset in `zone`: reject a DST gap, flag and widen a repeated hour."""
    fields = _fields(wall)
    early = wall.replace(tzinfo=zone, fold=0)
    late = wall.replace(tzinfo=zone, fold=1)
    early_utc = early.astimezone(UTC)
    late_utc = late.astimezone(UTC)
    if _fields(early_utc.astimezone(zone)) != fields and _fields(late_utc.astimezone(zone)) != fields:
        raise LineRejected(f"local time {source_text!r} does not exist in {zone.key} (skipped by a DST change)")
    first, second = sorted((early_utc, late_utc))
    ms = _ms(first)
    if first == second:
        return Stamp(ms, resolution_ms)
    fold_ms = _ms(second) - ms
    return Stamp(ms, resolution_ms + fold_ms, FLAG_TIME_AMBIGUOUS)


def _fields(value: datetime) -> tuple[int, ...]:
    return value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond


def _ms(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)


def ms_to_datetime(ms: int) -> datetime:
    """An aware UTC datetime from epoch milliseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def iso_ms(ms: int) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, e.g. 2026-11-27T02:14:07.000Z."""
    at = ms_to_datetime(ms)
    return (f"{at.year:04d}-{at.month:02d}-{at.day:02d}T{at.hour:02d}:{at.minute:02d}:{at.second:02d}."
            f"{ms % 1000:03d}Z")
