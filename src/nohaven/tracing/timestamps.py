"""The time of an observation, read safely: every instant the text may name, the window the uncertainty implies,
and the text, offset and uncertainty kept as written. Nothing is guessed.

Accepted: ISO 8601 (`2026-11-27T03:14:07+01:00`, `...Z`, a space instead of `T`), Apache / NCSA common log
(`27/Nov/2026:03:14:07 +0100`), RFC 2822 (`Fri, 27 Nov 2026 03:14:07 +0100`) and `Nov 27 2026 03:14:07`, each
with a numeric offset, `Z`, `UTC`/`GMT`, an IANA zone name, or a zone abbreviation that names one offset only
(CET, CEST, EET, EEST, WET, WEST, MSK, JST, ...). Refused, each with its reason: an abbreviation that names
several offsets (IST, CST, BST, AST, ... — the candidates are listed), a text without offset unless the caller
gives its IANA zone or says the offset is unknown, a wall-clock time that does not exist in that zone (DST gap),
a 12-hour clock reading without AM/PM, a date in a numeric day/month order. A wall-clock time that happens twice
(the repeated hour when DST ends) gives both instants and a window covering both, marked ambiguous. An unknown
offset spans every real one, UTC-12 to UTC+14.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from nohaven.errors import InputError
from nohaven.timeutil import format_duration, parse_duration, zone

__all__ = ["AMBIGUOUS_ABBREVIATIONS", "UNAMBIGUOUS_ABBREVIATIONS", "ObservedTime", "read_time"]

UNAMBIGUOUS_ABBREVIATIONS: dict[str, int] = {  # minutes east of UTC
    "UTC": 0, "GMT": 0, "UT": 0, "Z": 0, "WET": 0, "WEST": 60, "CET": 60, "CEST": 120, "MET": 60, "MEST": 120,
    "EET": 120, "EEST": 180, "MSK": 180, "JST": 540, "KST": 540, "HKT": 480, "NZST": 720, "NZDT": 780,
    "AEST": 600, "AEDT": 660, "ACST": 570, "ACDT": 630, "AWST": 480, "PDT": -420, "EDT": -240, "HST": -600,
    "AKST": -540, "AKDT": -480,
}
AMBIGUOUS_ABBREVIATIONS: dict[str, list[tuple[str, int]]] = {
    "IST": [("India Standard Time", 330), ("Irish Standard Time", 60), ("Israel Standard Time", 120)],
    "CST": [("Central Standard Time (North America)", -360), ("China Standard Time", 480),
            ("Cuba Standard Time", -300)],
    "CDT": [("Central Daylight Time (North America)", -300), ("Cuba Daylight Time", -240)],
    "BST": [("British Summer Time", 60), ("Bangladesh Standard Time", 360), ("Bougainville Standard Time", 660)],
    "AST": [("Atlantic Standard Time", -240), ("Arabia Standard Time", 180)],
    "EST": [("Eastern Standard Time (North America)", -300), ("Eastern Standard Time (Australia, former)", 600)],
    "MST": [("Mountain Standard Time (North America)", -420), ("Malaysia Standard Time", 480)],
    "PST": [("Pacific Standard Time (North America)", -480), ("Philippine Standard Time", 480)],
    "SST": [("Samoa Standard Time", -660), ("Singapore Standard Time", 480)],
    "GST": [("Gulf Standard Time", 240), ("South Georgia Time", -120)],
    "ECT": [("Ecuador Time", -300), ("Eastern Caribbean Time", -240)],
    "CAT": [("Central Africa Time", 120), ("Central Alaska Time (former)", -600)],
}
EARLIEST_OFFSET = timedelta(hours=-12)
LATEST_OFFSET = timedelta(hours=14)
_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), 1)}
_MON = r"(?P<mon>[A-Za-z]{3})"
_TIME = (r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<frac>\d{1,9}))?)?"
         r"(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?))?")
_ZONE = (r"(?:\s*(?P<zone>Z|[+-]\d{2}:?\d{2}|(?:UTC|GMT)[+-]\d{1,2}(?::?\d{2})?"
         r"|[A-Za-z_]+/[A-Za-z0-9_/+-]+|[A-Za-z]{1,5}))?")
_FORMS = [
    re.compile(rf"^(?P<y>\d{{4}})-(?P<mo>\d{{2}})-(?P<d>\d{{2}})[T ]\s*{_TIME}{_ZONE}$"),
    re.compile(rf"^(?P<d>\d{{1,2}})/{_MON}/(?P<y>\d{{4}}):{_TIME}{_ZONE}$"),
    re.compile(rf"^(?:[A-Za-z]{{3}},?\s+)?(?P<d>\d{{1,2}})\s+{_MON}\s+(?P<y>\d{{4}})\s+{_TIME}{_ZONE}$"),
    re.compile(rf"^(?:[A-Za-z]{{3}},?\s+)?{_MON}\s+(?P<d>\d{{1,2}}),?\s+(?P<y>\d{{4}})\s+{_TIME}{_ZONE}$"),
]
_NUMERIC_DATE = re.compile(r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}\b")


@dataclass(frozen=True)
class ObservedTime:
    """What a time text says: its candidates (UTC), offset as read, uncertainty and the window to search."""

    source_text: str
    time_zone: str | None
    offset: str  # "+01:00", "unknown", or "+02:00 or +01:00" for a repeated hour
    candidates: tuple[datetime, ...]
    uncertainty: str
    window_start: datetime
    window_end: datetime
    ambiguous: bool = False
    offset_known: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def instant(self) -> datetime | None:
        """The one instant the text names, or None when it names several or its offset is unknown."""
        return self.candidates[0] if len(self.candidates) == 1 and self.offset_known else None

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON-ready values."""
        return {"source_text": self.source_text, "time_zone": self.time_zone, "offset": self.offset,
                "offset_known": self.offset_known, "ambiguous": self.ambiguous,
                "instant": self.instant.isoformat() if self.instant else None,
                "candidates": [c.isoformat() for c in self.candidates], "uncertainty": self.uncertainty,
                "window_start": self.window_start.isoformat(), "window_end": self.window_end.isoformat(),
                "notes": list(self.notes)}


def _refuse(fieldname: str, text: str, reason: str) -> InputError:
    return InputError.field(fieldname, f"{text!r}: {reason}")


def _offset_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _wall_clock(match: re.Match[str], text: str, fieldname: str) -> datetime:
    parts = match.groupdict()
    hour_text, ampm = parts["h"], parts["ampm"]
    hour = int(hour_text)
    if ampm:
        if not 1 <= hour <= 12:
            raise _refuse(fieldname, text, f"hour {hour} with {ampm} is not a 12-hour clock reading")
        hour = hour % 12 + (12 if ampm.lower().startswith("p") else 0)
    elif len(hour_text) == 1:
        raise _refuse(fieldname, text, "reads like a 12-hour clock (one-digit hour) without AM/PM: write AM or PM, "
                      "or the hour on a 24-hour clock with two digits (03:14 or 15:14)")
    if parts.get("mon") is not None:
        month = _MONTHS.get(parts["mon"].lower())
        if month is None:
            raise _refuse(fieldname, text, f"{parts['mon']!r} is not a month name")
    else:
        month = int(parts["mo"])
    frac = (parts["frac"] or "").ljust(6, "0")[:6]
    try:
        return datetime(int(parts["y"]), month, int(parts["d"]), hour, int(parts["mi"]),  # noqa: DTZ001
                        int(parts["s"] or 0), int(frac or 0))  # naive only until its offset is applied below
    except ValueError as exc:
        raise _refuse(fieldname, text, f"not a valid date and time ({exc})") from None


def _explicit_offset(zone_text: str, text: str, fieldname: str) -> timedelta | None:
    """The offset a zone written in the text names; None for `-0000` (RFC 2822: offset unknown)."""
    if re.fullmatch(r"[+-]\d{2}:?\d{2}", zone_text):
        digits = zone_text.replace(":", "")
        if digits == "-0000":
            return None
        minutes = int(digits[1:3]) * 60 + int(digits[3:5])
        if int(digits[3:5]) >= 60:
            raise _refuse(fieldname, text, f"offset {zone_text} has more than 59 minutes")
        delta = timedelta(minutes=minutes if digits[0] == "+" else -minutes)
        if not EARLIEST_OFFSET <= delta <= LATEST_OFFSET:
            raise _refuse(fieldname, text, f"offset {zone_text} is outside the offsets in use (-12:00 to +14:00)")
        return delta
    m = re.fullmatch(r"(?:UTC|GMT)([+-])(\d{1,2})(?::?(\d{2}))?", zone_text)
    if m:
        minutes = int(m.group(2)) * 60 + int(m.group(3) or 0)
        return timedelta(minutes=minutes if m.group(1) == "+" else -minutes)
    upper = zone_text.upper()
    if upper in UNAMBIGUOUS_ABBREVIATIONS:
        return timedelta(minutes=UNAMBIGUOUS_ABBREVIATIONS[upper])
    if upper in AMBIGUOUS_ABBREVIATIONS:
        names = "; ".join(f"{name} ({_offset_text(timedelta(minutes=m))})" for name, m in
                          AMBIGUOUS_ABBREVIATIONS[upper])
        raise _refuse(fieldname, text, f"the zone abbreviation {upper} names several offsets: {names}. Write the "
                      "numeric offset, or the text without it and give its IANA time_zone")
    raise _refuse(fieldname, text, f"{zone_text!r} is not a zone this reader knows: write a numeric offset "
                  "(+01:00), Z, or give the IANA time_zone")


def _in_zone(naive: datetime, zone_name: str, text: str, fieldname: str) -> tuple[list[datetime], list[str]]:
    tz = zone(zone_name, "time_zone")
    early, late = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise _refuse(fieldname, text, f"{naive.isoformat(sep=' ')} does not exist in {zone_name} (the clocks "
                      "jumped over it when daylight saving time began); check the source's clock and zone")
    first, second = early.astimezone(UTC), late.astimezone(UTC)
    if first == second:
        return [first], []
    return sorted({first, second}), [f"{naive.isoformat(sep=' ')} happened twice in {zone_name} (the repeated hour "
                                     f"when daylight saving time ended): at {first.isoformat()} and "
                                     f"{second.isoformat()}; both are kept, neither is picked"]


def read_time(text: str, *, time_zone: str | None = None, offset_unknown: bool = False,
              uncertainty: str = "PT1S", field: str = "time_text") -> ObservedTime:
    """Read an observation's time; refuse (InputError naming `field` and the reason) what names no instant."""
    raw = (text or "").strip()
    if not raw:
        raise InputError.field(field, "give the time as written in the source")
    spread = parse_duration(uncertainty, "uncertainty")
    if _NUMERIC_DATE.match(raw):
        raise _refuse(field, raw, "a numeric date such as 11/12/2026 reads differently in different States "
                      "(day or month first); write it as YYYY-MM-DD or with the month's name")
    match = next((m for form in _FORMS if (m := form.match(raw))), None)
    if match is None:
        raise _refuse(field, raw, "not a time this reader knows: use ISO 8601 (2026-11-27T03:14:07+01:00), the "
                      "common log form (27/Nov/2026:03:14:07 +0100) or RFC 2822 (Fri, 27 Nov 2026 03:14:07 +0100)")
    naive = _wall_clock(match, raw, field)
    zone_text = match.group("zone")
    notes: list[str] = []
    if zone_text and "/" in zone_text:  # an IANA name written in the text itself
        if time_zone and time_zone != zone_text:
            raise _refuse("time_zone", raw, f"the text names the zone {zone_text} but time_zone says {time_zone}")
        time_zone, zone_text = zone_text, None
    offset: timedelta | None = None
    known = True
    numeric = bool(zone_text and re.fullmatch(r"[+-]\d{2}:?\d{2}|(?:UTC|GMT)[+-].*|Z", zone_text))
    if zone_text and offset_unknown and zone_text.replace(":", "") != "-0000":
        if numeric:
            raise _refuse("offset_unknown", raw, f"the text gives its offset ({zone_text}); it is not unknown")
        notes.append(f"the zone {zone_text!r} is not read as an offset (the source says its offset is unknown); "
                     "every offset from UTC-12 to UTC+14 is possible")
        zone_text = None
    if zone_text:
        offset = _explicit_offset(zone_text, raw, field)
        if offset is None:
            known = False
            notes.append("-0000 means the offset is unknown (RFC 2822); every offset from UTC-12 to UTC+14 is "
                         "possible")
    if offset is not None:
        instant = naive.replace(tzinfo=timezone(offset)).astimezone(UTC)
        if time_zone:
            expected = instant.astimezone(zone(time_zone, "time_zone")).utcoffset()
            if expected != offset:
                notes.append(f"the text says {_offset_text(offset)} but {time_zone} was at "
                             f"{_offset_text(expected or timedelta())} then; the text's offset is used")
        return _result(raw, time_zone, _offset_text(offset), [instant], spread, notes)
    if known and not offset_unknown:
        if not time_zone:
            raise _refuse(field, raw, "has no UTC offset: give the IANA time_zone of the clock that wrote it, or "
                          "say offset_unknown (the window then spans UTC-12 to UTC+14); it is never assumed UTC")
        candidates, fold_notes = _in_zone(naive, time_zone, raw, field)
        offsets = " or ".join(_offset_text(naive - c.replace(tzinfo=None)) for c in candidates)
        return _result(raw, time_zone, offsets, candidates, spread, notes + fold_notes)
    if time_zone and offset_unknown:
        raise _refuse("offset_unknown", raw, f"time_zone {time_zone} is given; the offset is then not unknown")
    earliest = (naive - LATEST_OFFSET).replace(tzinfo=UTC)
    latest = (naive - EARLIEST_OFFSET).replace(tzinfo=UTC)
    if not notes:
        notes.append("the offset is unknown: every offset from UTC-12 to UTC+14 is possible")
    return ObservedTime(source_text=raw, time_zone=None, offset="unknown", candidates=(), offset_known=False,
                        ambiguous=True, uncertainty=format_duration(spread), window_start=earliest - spread,
                        window_end=latest + spread, notes=tuple(notes))


def _result(raw: str, time_zone: str | None, offset: str, candidates: list[datetime], spread: timedelta,
            notes: list[str]) -> ObservedTime:
    return ObservedTime(source_text=raw, time_zone=time_zone, offset=offset, candidates=tuple(candidates),
                        uncertainty=format_duration(spread), window_start=min(candidates) - spread,
                        window_end=max(candidates) + spread, ambiguous=len(candidates) > 1, notes=tuple(notes))
