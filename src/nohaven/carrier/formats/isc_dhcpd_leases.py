"""ISC dhcpd.leases: who held an address from `starts` to `ends` (UTC, or `epoch N` with db-time-format local).

    lease 100.64.0.7 {
      starts 5 2026/11/27 02:00:00;
      ends 5 2026/11/27 14:00:00;
      binding state active;
      hardware ethernet 02:00:5e:10:00:07;
      client-hostname "cpe-0042";
    }

The file is append-only; the last declaration of a lease wins (the store keeps, per address, start and
hardware address, the one with the latest end).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import ACTION_START, ACTION_WHOLE, Event, LogFormat, Outcome, Record
from nohaven.carrier.ipaddr import to_bytes
from nohaven.carrier.timeparse import utc_fields_to_ms

__all__ = ["IscDhcpdLeases"]

_OPEN = re.compile(r"^lease ([0-9A-Fa-f.:]+) \{\s*$")
_TIME = re.compile(r"^\s*(starts|ends) (?:\d (\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)|epoch (\d+)|(never))\s*;")
_STATE = re.compile(r"^\s*binding state (\w+);")
_HW = re.compile(r"^\s*hardware \w+ ([0-9A-Fa-f:]+);")
_UID = re.compile(r'^\s*uid "?([^";]*)"?;')
_HOST = re.compile(r'^\s*client-hostname "([^"]*)";')
_HELD = ("active", "expired", "released")


class IscDhcpdLeases(LogFormat):
    name = "isc-dhcpd-leases"
    summary = "ISC dhcpd.leases lease blocks (starts / ends, hardware ethernet, client-hostname)"
    produces = "identity"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "begin_ms", "slack_ms", "priv_ip", "ip_hi", "station",
                                          "mac", "hostname", "session")

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _OPEN.match(line) or _TIME.match(line))

    def records(self, lines: Iterable[tuple[int, str]]) -> Iterator[Record]:
        first, block = 0, list[str]()
        for number, text in lines:
            if not block:
                if _OPEN.match(text):
                    first, block = number, [text]
                else:
                    yield Record(number, 1, text)  # comments, server-duid, authoring-byte-order ...
                continue
            block.append(text)
            if text.strip() == "}":
                yield Record(first, len(block), "\n".join(block))
                block = []
        if block:
            yield Record(first, len(block), "\n".join(block))

    def parse(self, record: Record) -> Outcome:
        lines = record.text.split("\n")
        head = _OPEN.match(lines[0])
        if head is None:
            stripped = record.text.strip()
            if not stripped or stripped.startswith("#") or stripped.split(" ", 1)[0] in (
                    "server-duid", "authoring-byte-order", "failover", "host", "}"):
                return "not a lease declaration"
            raise LineRejected("line outside a lease declaration")
        if lines[-1].strip() != "}":
            raise LineRejected("lease declaration not closed by '}'")
        times: dict[str, int | None] = {}
        state, mac, uid, host = None, None, None, None
        for line in lines[1:-1]:
            if t := _TIME.match(line):
                if t.group(9):
                    times[t.group(1)] = None
                elif t.group(8):
                    times[t.group(1)] = int(t.group(8)) * 1000
                else:
                    times[t.group(1)] = utc_fields_to_ms(*(int(t.group(i)) for i in range(2, 8)))
            elif s := _STATE.match(line):
                state = s.group(1)
            elif h := _HW.match(line):
                mac = h.group(1).lower()
            elif u := _UID.match(line):
                uid = u.group(1)
            elif n := _HOST.match(line):
                host = n.group(1)
        if state is not None and state not in _HELD:
            return f"binding state {state} (not held)"
        if "starts" not in times or times["starts"] is None:
            raise LineRejected("lease without starts")
        ip = to_bytes(head.group(1))
        start = times["starts"]
        end = times.get("ends")
        session = f"dhcpd:{head.group(1)}|{start}|{mac or ''}"
        if end is None:
            return [Event("identity", ACTION_START, start, slack_ms=1000, priv_ip=ip, ip_hi=ip, station=uid,
                          mac=mac, hostname=host, session=session)]
        return [Event("identity", ACTION_WHOLE, end, begin_ms=start, slack_ms=1000, priv_ip=ip, ip_hi=ip,
                      station=uid, mac=mac, hostname=host, session=session)]
