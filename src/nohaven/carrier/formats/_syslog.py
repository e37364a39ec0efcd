"""Timestamps in syslog headers and in device messages, to UTC milliseconds with their resolution."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.timeparse import Stamp, local_to_stamp

__all__ = ["MONTHS", "header_stamp", "iso_stamp", "local_stamp"]

MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                                      "Dec"), start=1)}
_PRI = re.compile(r"<\d{1,3}>")
_ISO = re.compile(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?(?=\s)")
_BSD_YEAR = re.compile(r"([A-Z][a-z]{2}) +(\d{1,2}) (\d{4}) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?=[\s:])")
_BSD = re.compile(r"[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?=\s)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_seen: dict[str, Stamp] = {}  # recent header times: logs repeat each second many times


def _resolution(fraction: str | None) -> int:
    if not fraction:
        return 1000
    digits = len(fraction) - 1
    return max(1, 10 ** (3 - digits)) if digits < 3 else 1


def iso_stamp(date_time: str, fraction: str | None, offset: str | None, zone: ZoneInfo | None,
              need_zone: Callable[[str], ZoneInfo]) -> Stamp:
    """An RFC 3339 / ISO 8601 timestamp; without an offset it is local time in `zone` (or refused)."""
    text = date_time.replace(" ", "T") + (fraction[:7] if fraction else "")
    try:
        if offset:
            value = datetime.fromisoformat(text + ("+00:00" if offset == "Z" else offset))
            return Stamp((value - _EPOCH) // _MS, _resolution(fraction))
        wall = datetime.fromisoformat(text + "+00:00")  # the wall-clock fields; the zone is placed below
    except ValueError:
        raise LineRejected(f"timestamp {date_time + (fraction or '')!r} is not a valid date and time") from None
    if zone is None:
        zone = need_zone(f"timestamp {date_time!r}")
    return local_stamp(wall, zone, _resolution(fraction), date_time)


def local_stamp(wall: datetime, zone: ZoneInfo, resolution_ms: int, text: str) -> Stamp:
    """Wall-clock fields (of `wall`, whatever its tzinfo) as local time in a named zone; DST gaps rejected,
    repeated hours flagged."""
    return local_to_stamp(wall, zone, resolution_ms, text)


def header_stamp(line: str, zone: ZoneInfo | None, need_zone: Callable[[str], ZoneInfo]) -> tuple[Stamp, int]:
    """The time a syslog header (RFC 5424, RFC 3339, or 'Mon dd yyyy hh:mm:ss') gives, and where it ends.

    A BSD header without a year ('Nov 27 03:14:07') is refused: the year would be a guess.
    """
    pos = 0
    pri = _PRI.match(line)
    if pri:
        pos = pri.end()
        if line.startswith("1 ", pos):  # RFC 5424 version
            pos += 2
    m = _ISO.match(line, pos)
    if m:
        text = m.group(0)
        hit = _seen.get(text) if m.group(3) else None  # with an offset the text alone decides the instant
        if hit is None:
            hit = iso_stamp(m.group(1), m.group(2), m.group(3), zone, need_zone)
            if m.group(3):
                if len(_seen) > 4096:
                    _seen.clear()
                _seen[text] = hit
        return hit, m.end()
    m = _BSD_YEAR.match(line, pos)
    if m:
        month = MONTHS.get(m.group(1))
        if month is None:
            raise LineRejected(f"unknown month {m.group(1)!r}")
        try:
            frac = m.group(7)
            wall = datetime(int(m.group(3)), month, int(m.group(2)), int(m.group(4)), int(m.group(5)),
                            int(m.group(6)), int((frac + "00000")[:6]) if frac else 0, tzinfo=UTC)
        except ValueError:
            raise LineRejected(f"{m.group(0)!r} is not a valid date and time") from None
        if zone is None:
            zone = need_zone(f"syslog time {m.group(0)!r}")
        return local_stamp(wall, zone, _resolution("." + frac if frac else None), m.group(0)), m.end()
    if _BSD.match(line, pos):
        raise LineRejected("syslog header has no year (RFC 3164 'Mon dd hh:mm:ss'); have the collector write "
                           "RFC 3339 timestamps with their offset")
    raise LineRejected("no timestamp found at the start of the line")
