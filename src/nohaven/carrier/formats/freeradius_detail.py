"""FreeRADIUS `detail` accounting files: who held a framed address, from Start to Stop.

    Fri Nov 27 03:10:00 2026
        Acct-Session-Id = "5f3a0c01"
        Acct-Status-Type = Start
        Framed-IP-Address = 100.64.0.7
        Calling-Station-Id = "02-00-5e-10-00-07"
        User-Name = "subscriber-0042"
        Timestamp = 1764209400

One record is a date line, indented attributes, a blank line. `Timestamp` (epoch, UTC) is trusted; the date
line has no zone and is used only with --tz when `Timestamp` is missing. A Stop with Acct-Session-Time gives
the whole session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import (
    ACTION_END,
    ACTION_SEEN,
    ACTION_START,
    ACTION_WHOLE,
    Event,
    LogFormat,
    Outcome,
    Record,
)
from nohaven.carrier.formats._syslog import MONTHS, local_stamp
from nohaven.carrier.ipaddr import network_bounds, to_bytes
from nohaven.carrier.timeparse import Stamp

__all__ = ["FreeradiusDetail"]

_DATE = re.compile(r"^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\s*$")
_ATTR = re.compile(r"^\s+([\w-]+) = (.*?)\s*$")
_STATUS = {"Start": ACTION_START, "Interim-Update": ACTION_SEEN, "Alive": ACTION_SEEN, "Stop": ACTION_END}


class FreeradiusDetail(LogFormat):
    name = "freeradius-detail"
    summary = "FreeRADIUS detail accounting (Start / Interim-Update / Stop, Framed-IP-Address, User-Name)"
    produces = "identity"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "begin_ms", "slack_ms", "flags", "priv_ip", "ip_hi",
                                          "subscriber", "station", "session")
    may_need_zone = True

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        dates = sum(1 for line in lines if _DATE.match(line))
        attrs = sum(1 for line in lines if line.lstrip().startswith(("Acct-Status-Type", "Framed-IP-Address")))
        return dates + attrs if dates and attrs else 0

    def records(self, lines: Iterable[tuple[int, str]]) -> Iterator[Record]:
        first, block = 0, list[str]()
        for number, text in lines:
            if not text.strip():
                if block:
                    yield Record(first, len(block), "\n".join(block))
                    block = []
                continue
            if not block:
                first = number
            elif _DATE.match(text):  # a record that lost its blank line
                yield Record(first, len(block), "\n".join(block))
                block, first = [], number
            block.append(text)
        if block:
            yield Record(first, len(block), "\n".join(block))

    def parse(self, record: Record) -> Outcome:
        head, *rest = record.text.split("\n")
        date = _DATE.match(head)
        if date is None:
            raise LineRejected("record does not start with a detail date line")
        attrs: dict[str, str] = {}
        for line in rest:
            a = _ATTR.match(line)
            if a is None:
                raise LineRejected(f"attribute line {line.strip()[:60]!r} not in 'Name = value' form")
            attrs[a.group(1)] = a.group(2).strip('"')
        status = attrs.get("Acct-Status-Type")
        if status not in _STATUS:
            return f"Acct-Status-Type {status} (no session)" if status else "no Acct-Status-Type"
        stamp = self._stamp(attrs, date)
        ranges = []
        if "Framed-IP-Address" in attrs:
            ip = to_bytes(attrs["Framed-IP-Address"])
            ranges.append((ip, ip))
        for name in ("Framed-IPv6-Address",):
            if name in attrs:
                ip6 = to_bytes(attrs[name])
                ranges.append((ip6, ip6))
        for name in ("Framed-IPv6-Prefix", "Delegated-IPv6-Prefix"):
            if name in attrs:
                ranges.append(network_bounds(attrs[name]))
        if not ranges:
            return "no framed address"
        action, begin = _STATUS[status], None
        slack = stamp.slack_ms
        if status == "Stop" and attrs.get("Acct-Session-Time", "").isdigit():
            action, begin = ACTION_WHOLE, stamp.ms - int(attrs["Acct-Session-Time"]) * 1000 - 1000
            slack += 1000
        session = attrs.get("Acct-Session-Id", "") + "@" + attrs.get("NAS-IP-Address", attrs.get("NAS-Identifier", ""))
        return [Event("identity", action, stamp.ms, begin_ms=begin, slack_ms=slack, flags=stamp.flags, priv_ip=lo,
                      ip_hi=hi, subscriber=attrs.get("User-Name"), station=attrs.get("Calling-Station-Id"),
                      session=session) for lo, hi in ranges]

    def _stamp(self, attrs: dict[str, str], date: re.Match[str]) -> Stamp:
        epoch = attrs.get("Timestamp", "")
        if epoch.isdigit():
            return Stamp(int(epoch) * 1000, 1000)
        zone = self.zone or self.require_zone("a detail record without Timestamp (its date line)")
        month = MONTHS.get(date.group(1))
        if month is None:
            raise LineRejected(f"unknown month {date.group(1)!r}")
        wall = datetime(int(date.group(6)), month, int(date.group(2)), int(date.group(3)), int(date.group(4)),
                        int(date.group(5)), tzinfo=UTC)
        return local_stamp(wall, zone, 1000, date.group(0).strip())
