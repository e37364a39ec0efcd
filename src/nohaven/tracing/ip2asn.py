"""Parser of ip2asn TSV tables (v4, v6 or combined): which autonomous system announces each address range.

    range_start <TAB> range_end <TAB> AS_number <TAB> country_code <TAB> AS_description

IPv4 addresses may also be written as decimal integers (the `-u32` variant of the tables). AS 0 marks space
that is not routed (its country is "None" and its description "Not routed"). The files carry no date: whoever
loads one must say which day it describes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from nohaven.tracing.rir import ParsedFile, address_value

__all__ = ["looks_like_ip2asn", "parse_ip2asn"]

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_NO_COUNTRY = frozenset({"", "None", "none", "Unknown", "unknown", "ZZ", "--"})


def looks_like_ip2asn(line: str) -> bool:
    """True when a line has the shape of an ip2asn row (two addresses, a number, tab-separated)."""
    fields = line.rstrip("\r\n").lstrip("\ufeff").split("\t")
    if len(fields) < 4 or not fields[2].strip().isdigit():
        return False
    return _address(fields[0].strip()) is not None and _address(fields[1].strip()) is not None


def _address(text: str) -> tuple[int, int] | None:
    # The "-u32" tables write IPv4 addresses as decimal integers.
    if text.isdigit():
        value = int(text)
        return (4, value) if value <= 2**32 - 1 else None
    return address_value(text)


def parse_ip2asn(lines: Iterable[str]) -> ParsedFile:
    """Parse an ip2asn table; every unreadable row is counted with its line number and reason."""
    parsed = ParsedFile(kind="ip2asn", source="ip2asn", snapshot_date=None)
    for number, raw in enumerate(lines, start=1):
        text = raw.rstrip("\r\n").lstrip("\ufeff") if number == 1 else raw.rstrip("\r\n")
        if not text.strip() or text.lstrip().startswith("#"):
            parsed.skip("comment or blank")
            continue
        fields = text.split("\t")
        if len(fields) < 4:
            parsed.bad(number, text, f"a row has 5 tab-separated fields (range_start, range_end, AS_number, "
                       f"country_code, AS_description); this one has {len(fields)}")
            continue
        start, end, asn_text, cc = (f.strip() for f in fields[:4])
        holder = fields[4].strip() if len(fields) > 4 else ""
        first_address, last_address = _address(start), _address(end)
        if first_address is None or last_address is None:
            parsed.bad(number, text, f"range {start!r}–{end!r} is not a pair of IP addresses")
            continue
        if first_address[0] != last_address[0]:
            parsed.bad(number, text, "the range mixes IPv4 and IPv6")
            continue
        (family, first), (_, last) = first_address, last_address
        if last < first:
            parsed.bad(number, text, f"range_end {end} is before range_start {start}")
            continue
        if not asn_text.isdigit() or int(asn_text) > 2**32 - 1:
            parsed.bad(number, text, f"AS_number {asn_text!r} is not a number from 0 to 4294967295")
            continue
        if cc not in _NO_COUNTRY and not _COUNTRY.match(cc):
            parsed.bad(number, text, f"country_code {cc!r} is not a two-letter code")
            continue
        asn = int(asn_text)
        country = "" if cc in _NO_COUNTRY else cc
        status = "routed" if asn else "not routed"
        columns = parsed.v4 if family == 4 else parsed.v6
        columns.add(first, last, number, country=country, status=status, asn=asn,
                    holder="" if not asn or holder == "Not routed" else holder)
    return parsed
