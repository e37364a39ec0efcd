"""Parsers of the two registry formats: RIR `delegated-<registry>-extended-YYYYMMDD` files and ip2asn TSV tables.

Both yield `ParsedFile`: address ranges (first and last address as integers, per family) with their attributes,
every line that could not be read (line number and why), and what was skipped on purpose.

RIR statistics exchange format (the same for AFRINIC, APNIC, ARIN, LACNIC and RIPE NCC):

    version|registry|serial|records|startdate|enddate|UTCoffset          one version line
    registry|*|type|*|count|summary                                     one summary line per type
    registry|cc|type|start|value|date|status[|opaque-id[|extensions]]   records

Quirks handled: short lines without opaque id (RIPE NCC's "available"/"reserved" space), empty or `ZZ` country
for unallocated space (AFRINIC and others), empty or 00000000 dates, IPv4 counts that are not powers of two (a
range, not one CIDR), IPv6 values that are prefix lengths. `asn` records are skipped and counted: the autonomous
system of an address comes from the routing table (ip2asn), not from which registry handed out the number.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from nohaven.errors import InputError

__all__ = ["BadLine", "FamilyColumns", "ParsedFile", "parse_rir", "rir_date"]

STATUSES = frozenset({"allocated", "assigned", "available", "reserved"})
V4_MAX = 2**32 - 1
V6_MAX = 2**128 - 1
_DATE = re.compile(r"^\d{8}$")
MAX_KEPT_BAD_LINES = 200


@dataclass(frozen=True)
class BadLine:
    """A line that could not be read: where, what it said (shortened) and why."""

    line: int
    text: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass
class FamilyColumns:
    """Ranges of one address family, one list per column, in file order."""

    first: list[int] = field(default_factory=list)
    last: list[int] = field(default_factory=list)
    line: list[int] = field(default_factory=list)
    registry: list[str] = field(default_factory=list)
    country: list[str] = field(default_factory=list)  # "" when unknown
    status: list[str] = field(default_factory=list)
    asn: list[int] = field(default_factory=list)  # 0 when none
    holder: list[str] = field(default_factory=list)  # "" when none

    def add(self, first: int, last: int, line: int, *, registry: str = "", country: str = "", status: str = "",
            asn: int = 0, holder: str = "") -> None:
        """Append one range."""
        self.first.append(first)
        self.last.append(last)
        self.line.append(line)
        self.registry.append(registry)
        self.country.append(country)
        self.status.append(status)
        self.asn.append(asn)
        self.holder.append(holder)

    def __len__(self) -> int:
        return len(self.first)


@dataclass
class ParsedFile:
    """What one file held."""

    kind: str  # "rir" or "ip2asn"
    source: str  # the registry of a RIR file; "ip2asn" for an ip2asn table
    snapshot_date: date | None
    v4: FamilyColumns = field(default_factory=FamilyColumns)
    v6: FamilyColumns = field(default_factory=FamilyColumns)
    bad_lines: list[BadLine] = field(default_factory=list)
    bad_count: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def bad(self, line: int, text: str, reason: str) -> None:
        """Count a bad line; the first few hundred are kept with their text."""
        self.bad_count += 1
        if len(self.bad_lines) < MAX_KEPT_BAD_LINES:
            self.bad_lines.append(BadLine(line, text[:200], reason))

    def skip(self, what: str) -> None:
        """Count a line skipped on purpose (comment, summary, asn record)."""
        self.skipped[what] = self.skipped.get(what, 0) + 1


def address_value(text: str) -> tuple[int, int] | None:
    """(family, integer) of an address as registry files write it, or None; parsed in C, with a dotted quad
    accepted only in its canonical spelling (a leading zero could mean octal to some tools)."""
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        pass
    else:
        return (4, int.from_bytes(packed, "big")) if socket.inet_ntop(socket.AF_INET, packed) == text else None
    try:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
    except (OSError, ValueError):
        return None


def rir_date(text: str) -> date | None:
    """A YYYYMMDD field as a date; None for an empty, zero or impossible one."""
    if not _DATE.match(text) or text == "00000000":
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _version(fields: list[str]) -> tuple[str, date | None, int | None] | None:
    """(registry, date, announced record count) from a version line, or None if it is not one."""
    if len(fields) < 3 or not re.match(r"^\d+(\.\d+)?$", fields[0]) or not re.match(r"^[a-z]+$", fields[1]):
        return None
    announced = int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else None
    # The serial is the file's date in every registry's extended files; the end date is the fallback.
    when = rir_date(fields[2]) or (rir_date(fields[5]) if len(fields) > 5 else None)
    return fields[1], when, announced


def parse_rir(lines: Iterable[str]) -> ParsedFile:
    """Parse a delegated-extended file (text lines, with or without line ends)."""
    parsed: ParsedFile | None = None
    announced: int | None = None
    records = 0
    summaries: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n").lstrip("\ufeff") if number == 1 else raw.rstrip("\r\n")
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            if parsed is not None:
                parsed.skip("comment or blank")
            continue
        fields = stripped.split("|")
        if parsed is None:
            version = _version(fields)
            if version is None:
                raise InputError.field(f"line {number}", "a RIR delegated file starts with its version line "
                                       "`version|registry|serial|records|startdate|enddate|UTCoffset`; "
                                       f"this line is {stripped[:80]!r}")
            parsed = ParsedFile(kind="rir", source=version[0], snapshot_date=version[1])
            announced = version[2]
            continue
        if len(fields) >= 6 and fields[1] == "*" and fields[5] == "summary":
            parsed.skip("summary")
            if fields[4].isdigit():
                summaries[fields[2]] = int(fields[4])
            continue
        records += 1
        _record(parsed, fields, number, stripped)
    if parsed is None:
        raise InputError.field("FILE", "the file is empty: no version line, no records")
    if announced is not None and announced != records:
        parsed.warnings.append(f"the version line announces {announced} records; the file holds {records}")
    for kind in ("ipv4", "ipv6", "asn"):
        counted = (len(parsed.v4) if kind == "ipv4" else len(parsed.v6) if kind == "ipv6"
                   else parsed.skipped.get("asn record", 0))
        if kind in summaries and summaries[kind] != counted:
            parsed.warnings.append(f"the {kind} summary line announces {summaries[kind]} records; "
                                   f"{counted} were read")
    return parsed


def _record(parsed: ParsedFile, fields: list[str], number: int, text: str) -> None:
    if len(fields) < 7:
        parsed.bad(number, text, f"a record has at least 7 fields (registry|cc|type|start|value|date|status); "
                   f"this one has {len(fields)}")
        return
    registry, cc, kind, start, value, _when, status = (f.strip() for f in fields[:7])
    status = status.lower()
    if kind == "asn":
        parsed.skip("asn record")
        return
    if kind not in ("ipv4", "ipv6"):
        parsed.bad(number, text, f"type {kind!r} is none of asn, ipv4, ipv6")
        return
    if status not in STATUSES:
        parsed.bad(number, text, f"status {status!r} is none of {', '.join(sorted(STATUSES))}")
        return
    if cc and not re.match(r"^[A-Z]{2}$", cc):
        parsed.bad(number, text, f"country {cc!r} is not a two-letter code")
        return
    country = "" if cc in ("", "ZZ") else cc
    if not value.isdigit():
        parsed.bad(number, text, f"value {value!r} is not a number")
        return
    address = address_value(start)
    if address is None:
        parsed.bad(number, text, f"start {start!r} is not an IP address")
        return
    family, first = address
    if kind == "ipv4":
        if family != 4:
            parsed.bad(number, text, f"start {start!r} is not an IPv4 address")
            return
        count = int(value)
        if count < 1 or first + count - 1 > V4_MAX:
            parsed.bad(number, text, f"count {count} does not fit after {start}")
            return
        parsed.v4.add(first, first + count - 1, number, registry=registry, country=country, status=status)
        return
    if family != 6:
        parsed.bad(number, text, f"start {start!r} is not an IPv6 address")
        return
    length = int(value)
    if length > 128:
        parsed.bad(number, text, f"prefix length {length} is over 128")
        return
    size = 1 << (128 - length)
    if first % size:
        parsed.bad(number, text, f"{start}/{length} has bits set beyond its prefix length")
        return
    parsed.v6.add(first, first + size - 1, number, registry=registry, country=country, status=status)
