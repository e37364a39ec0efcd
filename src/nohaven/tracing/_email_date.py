"""The date-time of a Received header (RFC 5322 §3.3, with the obsolete forms of §4.3), read without guessing.

Numeric offsets are used as written; `UT` and `GMT` (and `UTC`, whose meaning nobody disputes) are +00:00; the
eight North American names RFC 5322 defines (`EST EDT CST CDT MST MDT PST PDT`) have their defined offsets.
Everything else has an unknown offset: `-0000` (RFC 5322 §3.3: the local offset is not known), the military
letters (§4.3: to be read as `-0000`, RFC 822 gave them the wrong sign), any other zone name, and a missing zone.
A time whose offset is unknown keeps its wall-clock reading and has no UTC instant. A zone name in a trailing
comment (`+0100 (CET)`) is checked against the numeric offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

__all__ = ["HopTime", "clip", "read_date"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                "november", "december")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RFC_ZONES = {"UT": 0, "GMT": 0, "UTC": 0, "EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420,
              "MDT": -360, "PST": -480, "PDT": -420}
# What a zone name in a comment usually means, in minutes east of UTC; several entries where a name is used for
# several zones. Only to check a numeric offset against, or to hint at one: never to decide an instant.
_COMMON_ZONES: dict[str, tuple[int, ...]] = {
    "UT": (0,), "UTC": (0,), "GMT": (0,), "Z": (0,), "WET": (0,), "WEST": (60,), "BST": (60, 360),
    "IST": (60, 120, 330), "CET": (60,), "CEST": (120,), "MET": (60,), "MEST": (120,), "MEZ": (60,),
    "MESZ": (120,), "EET": (120,), "EEST": (180,), "MSK": (180,), "SAST": (120,), "WAT": (60,), "CAT": (120,),
    "EAT": (180,), "PKT": (300,), "ICT": (420,), "WIB": (420,), "HKT": (480,), "SGT": (480,), "AWST": (480,),
    "JST": (540,), "KST": (540,), "ACST": (570,), "ACDT": (630,), "AEST": (600,), "AEDT": (660,),
    "NZST": (720,), "NZDT": (780,), "HST": (-600,), "AKST": (-540,), "AKDT": (-480,), "PST": (-480, 480),
    "PDT": (-420,), "MST": (-420, 480), "MDT": (-360,), "CST": (-360, 480, -300), "CDT": (-300, -240),
    "EST": (-300,), "EDT": (-240,), "AST": (-240, 180), "ADT": (-180,), "NST": (-210,), "NDT": (-150,),
    "BRT": (-180,), "ART": (-180,),
}
_EARLIEST, _LATEST = -12 * 60, 14 * 60
_RFC = re.compile(
    r"^(?:(?P<dow>[A-Za-z]+)\s*(?:,\s*|\s+))?(?P<d>\d{1,2})\s+(?P<mon>[A-Za-z]+)\.?\s+(?P<y>\d{2,4})\s+"
    r"(?P<h>\d{1,2})\s*:\s*(?P<mi>\d{2})(?:\s*:\s*(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"(?:\s*(?P<zone>[+-]\d{4}|[+-]\d{2}:\d{2}|[A-Za-z]+))?$")
_ASCTIME = re.compile(
    r"^(?P<dow>[A-Za-z]+)\s+(?P<mon>[A-Za-z]+)\s+(?P<d>\d{1,2})\s+(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?"
    r"\s+(?:(?P<zone>[+-]\d{4}|[A-Za-z]+)\s+)?(?P<y>\d{4})$")
_ISO = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})[T ](?P<h>\d{2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2}|[A-Za-z]+)?$")
_COMMENT_ZONE = re.compile(r"(?:(?:UTC|GMT)(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?|(?P<name>[A-Za-z]{1,5}))")
_SIMPLE = re.compile(r"^(?:[A-Z][a-z]{2}, )?\d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}(?::\d{2})? [+-]\d{4}$")


def clip(text: str, limit: int = 80) -> str:
    """Text quoted in a problem, cut short: a header can be made arbitrarily long."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass
class HopTime:
    """A Received header's date as written, its offset when the text proves one, and its UTC instant then."""

    source_text: str
    utc: datetime | None = None
    offset: str | None = None  # "+01:00"; None when unknown
    offset_known: bool = False
    wall_clock: str | None = None  # the reading on the server's clock, ISO 8601 without an offset
    zone_text: str | None = None  # the zone as written: "+0100", "-0000", "EST", "CET", or None
    zone_comment: str | None = None  # a zone name in a trailing comment, "CET" in "+0100 (CET)"
    resolution_seconds: int = 1
    time_text: str | None = None  # the reading an observation carries (see observation())
    problems: list[str] = field(default_factory=list)

    @property
    def utc_window(self) -> tuple[datetime, datetime] | None:
        """Every instant the reading may name: the instant itself when the offset is known; when it is not, the
        wall clock read at every real offset, UTC+14 (earliest) to UTC-12 (latest); None without a reading."""
        if self.utc is not None:
            return self.utc, self.utc
        if self.wall_clock is None:
            return None
        wall = datetime.fromisoformat(self.wall_clock).replace(tzinfo=UTC)
        return wall - timedelta(minutes=_LATEST), wall - timedelta(minutes=_EARLIEST)

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON-ready values."""
        window = self.utc_window
        return {"source_text": self.source_text, "utc": self.utc.isoformat() if self.utc else None,
                "offset": self.offset, "offset_known": self.offset_known, "wall_clock": self.wall_clock,
                "earliest_utc": window[0].isoformat() if window else None,
                "latest_utc": window[1].isoformat() if window else None,
                "zone_text": self.zone_text, "zone_comment": self.zone_comment, "problems": list(self.problems)}


def _strip_comments(text: str) -> tuple[str, list[str], bool]:
    """The text without its parenthesised comments (nested, with quoted pairs), the comments, and balance."""
    out: list[str] = []
    comments: list[str] = []
    depth, current, escaped = 0, "", False
    for char in text:
        if depth and escaped:
            current += char
            escaped = False
        elif depth and char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
            if depth > 1:
                current += char
        elif char == ")" and depth:
            depth -= 1
            if depth:
                current += char
            else:
                comments.append(current.strip())
                current = ""
                out.append(" ")
        elif depth:
            current += char
        else:
            out.append(char)
    return " ".join("".join(out).split()), comments, depth == 0


def _zone_offset(zone: str, reading: HopTime, *, iso: bool) -> int | None:
    """Minutes east of UTC that the written zone proves, or None (with the reason in problems)."""
    if re.fullmatch(r"[+-]\d{2}:?\d{2}", zone):
        digits = zone.replace(":", "")
        if ":" in zone and not iso:
            reading.problems.append(f"offset {zone} is written with a colon, which RFC 5322 does not allow; "
                                    "read as " + digits)
        hours, minutes = int(digits[1:3]), int(digits[3:5])
        if digits == "-0000":
            reading.problems.append("-0000: the offset is unknown (RFC 5322 §3.3: the local zone is not known); "
                                    "never read as UTC, the window spans every offset from UTC-12 to UTC+14")
            return None
        if minutes >= 60:
            reading.problems.append(f"offset {zone} has {minutes} minutes; offset unknown")
            return None
        total = (hours * 60 + minutes) * (-1 if digits[0] == "-" else 1)
        if not _EARLIEST <= total <= _LATEST:
            reading.problems.append(f"offset {zone} is outside the offsets in use (-12:00 to +14:00); offset unknown")
            return None
        return total
    upper = zone.upper()
    if iso and upper == "Z":
        return 0
    if upper in _RFC_ZONES:
        return _RFC_ZONES[upper]
    if len(upper) == 1 and upper != "J":
        reading.problems.append(f"military zone letter {upper}: RFC 5322 §4.3 says to read it as -0000 (RFC 822 "
                                "defined the letters with the wrong sign); offset unknown")
        return None
    hint = _COMMON_ZONES.get(upper)
    usual = (" (it is commonly used for " + " or ".join(_offset_text(m) for m in hint) + ", but the header does "
             "not prove it)") if hint else ""
    reading.problems.append(f"zone name {clip(zone, 20)} is not defined by RFC 5322; offset unknown{usual}")
    return None


def _check_comment(comments: list[str], reading: HopTime, offset: int | None) -> None:
    for comment in comments:
        named = _COMMENT_ZONE.fullmatch(comment.strip())
        if not named:
            continue
        reading.zone_comment = comment.strip()
        if named.group("name"):
            candidates = _COMMON_ZONES.get(named.group("name").upper())
            if candidates is None:
                continue
        else:
            minutes = int(named.group("h")) * 60 + int(named.group("m") or 0)
            candidates = (minutes if named.group("sign") == "+" else -minutes,)
        means = " or ".join(_offset_text(m) for m in candidates)
        if offset is None:
            reading.problems.append(f"the comment names the zone {comment} ({means}); a comment proves no offset, "
                                    "so it is not used")
        elif offset not in candidates:
            reading.problems.append(f"offset {_offset_text(offset)} disagrees with the zone named in the comment, "
                                    f"{comment} ({means}): one of them is wrong, or the header was edited")
        return


def _year(text: str, reading: HopTime) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 50 else 1900
        reading.problems.append(f"obsolete two-digit year {text}, read as {year} (RFC 5322 §4.3)")
    elif len(text) == 3:
        year += 1900
        reading.problems.append(f"obsolete three-digit year {text}, read as {year} (RFC 5322 §4.3)")
    return year


def _month(text: str) -> int | None:
    lower = text.lower()
    if lower in _MONTHS:
        return _MONTHS.index(lower) + 1
    if lower in _MONTH_NAMES:
        return _MONTH_NAMES.index(lower) + 1
    return None


def read_date(source: str) -> HopTime:
    """Read the date-time after a Received header's last `;`; never raises, problems are named instead."""
    reading = HopTime(source_text=source.strip())
    bare, comments, balanced = _strip_comments(reading.source_text)
    if not balanced:
        reading.problems.append("unbalanced parenthesis in the date")
    if not bare:
        reading.problems.append("no date after the last ';'")
        return reading
    iso = False
    match = _RFC.match(bare)
    if match is None and (match := _ASCTIME.match(bare)) is not None:
        reading.problems.append("date in the C asctime form (not RFC 5322)")
    if match is None and (match := _ISO.match(bare)) is not None:
        iso = True
        reading.problems.append("date in ISO 8601 form (not RFC 5322)")
    if match is None:
        reading.problems.append(f"date {clip(bare)!r} is not an RFC 5322 date-time")
        return reading
    parts = match.groupdict()
    month = int(parts["mo"]) if parts.get("mo") else _month(parts["mon"])
    if month is None:
        reading.problems.append(f"{clip(parts['mon'])!r} is not a month name")
        return reading
    year = _year(parts["y"], reading)
    hour, minute = int(parts["h"]), int(parts["mi"])
    second = int(parts["s"]) if parts["s"] is not None else 0
    if parts["s"] is None:
        reading.resolution_seconds = 60
        reading.problems.append("the time has no seconds: it is known to the minute only")
    leap = second == 60
    micro = int((parts.get("frac") or "").ljust(6, "0")[:6] or 0)
    zone = parts["zone"]
    reading.zone_text = zone
    offset = _zone_offset(zone, reading, iso=iso) if zone else None
    if zone is None:
        reading.problems.append("the date has no zone: offset unknown, never assumed UTC")
    _check_comment(comments, reading, offset)
    try:
        stamp = datetime(year, month, int(parts["d"]), hour, minute, 59 if leap else second, micro,
                         tzinfo=timezone(timedelta(minutes=offset or 0)))
    except ValueError as exc:
        reading.problems.append(f"no such date and time: {clip(bare)!r} ({exc})")
        return reading
    if leap:
        stamp += timedelta(seconds=1)
        reading.problems.append("second 60 (a leap second) read as the first second of the next minute")
    if parts.get("dow") and parts["dow"][:3].lower() in _DAYS:
        written, real = parts["dow"][:3].lower(), _DAYS[stamp.weekday()]
        if written != real and not leap:
            reading.problems.append(f"the day of the week says {clip(parts['dow'], 20)} but that date was a "
                                    f"{real.capitalize()}: the date may have been written by hand")
    elif parts.get("dow"):
        reading.problems.append(f"{clip(parts['dow'])!r} is not a day of the week")
    reading.wall_clock = stamp.replace(tzinfo=None).isoformat()
    reading.time_text = _observation_text(stamp, offset, bare, zone, has_seconds=parts["s"] is not None,
                                          plain=not leap and not iso)
    if offset is not None:
        reading.offset, reading.offset_known = _offset_text(offset), True
        reading.utc = stamp.astimezone(UTC)
    return reading


def _observation_text(stamp: datetime, offset: int | None, bare: str, zone: str | None, *, has_seconds: bool,
                      plain: bool) -> str:
    """The date for an observation: as written (comments dropped) when that is plain RFC 5322 with a numeric
    offset, else the same reading rewritten in that form (the defined offset for EST..PDT; no zone at all when
    the offset is unknown, so that the observation says `offset_unknown` instead)."""
    if plain and offset is not None and zone and _SIMPLE.match(bare):
        return bare
    seconds = f":{stamp.second:02d}" if has_seconds or stamp.second else ""
    if stamp.microsecond:
        seconds = f":{stamp.second:02d}.{stamp.microsecond:06d}"
    text = f"{stamp.day} {_MONTHS[stamp.month - 1].capitalize()} {stamp.year} {stamp.hour:02d}:{stamp.minute:02d}"
    text += seconds
    if offset is not None:
        text += f" {'-' if offset < 0 else '+'}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"
    return text
