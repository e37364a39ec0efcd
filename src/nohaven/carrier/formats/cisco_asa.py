"""Cisco ASA translation build / teardown (%ASA-6-305011 / 305012 with ports, 305009 / 305010 address only).

    Nov 27 2026 03:14:07: %ASA-6-305011: Built dynamic TCP translation from inside:100.64.0.7/51515 to
      outside:203.0.113.9/40001
    ... %ASA-6-305012: Teardown dynamic TCP translation from inside:100.64.0.7/51515 to outside:203.0.113.9/40001
      duration 0:01:30

The time is the syslog header's (RFC 5424 / RFC 3339 with offset, or the ASA's own 'Mon dd yyyy hh:mm:ss',
which is local time and needs --tz).
"""

from __future__ import annotations

import re
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import ACTION_END, ACTION_START, ACTION_WHOLE, Event, LogFormat, Outcome, Record
from nohaven.carrier.formats._syslog import header_stamp
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["CiscoAsa"]

_MSG = re.compile(r"%(?:ASA|FTD)-\d-(30501[0-2]|305009):\s*(.*)")
_PORT = re.compile(
    r"(Built|Teardown) (?:dynamic|static) (TCP|UDP|ICMP) translation from [\w.-]+:([0-9A-Fa-f.:]+)/(\d+)"
    r"(?:\([^)]*\))? to [\w.-]+:([0-9A-Fa-f.:]+)/(\d+)(?: duration (\d+):(\d\d):(\d\d))?")
_ADDR = re.compile(
    r"(Built|Teardown) (?:dynamic|static) translation from [\w.-]+:([0-9A-Fa-f.:]+)(?:\([^)]*\))? to"
    r" [\w.-]+:([0-9A-Fa-f.:]+)(?: duration (\d+):(\d\d):(\d\d))?")
_PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1}


class CiscoAsa(LogFormat):
    name = "cisco-asa"
    summary = "Cisco ASA %ASA-6-305011/305012 (and 305009/305010) built / teardown translation"
    produces = "nat+block"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "begin_ms", "slack_ms", "flags", "proto", "priv_ip",
                                          "priv_port", "pub_ip", "pub_port", "port_hi")
    may_need_zone = True

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _MSG.search(line))

    def parse(self, record: Record) -> Outcome:
        text = record.text
        m = _MSG.search(text)
        if m is None:
            if not text.strip():
                return "blank line"
            if "%ASA-" in text or "%FTD-" in text:
                return "other ASA message"
            raise LineRejected("no %ASA- message")
        stamp, _ = header_stamp(text, self.zone, self.require_zone)
        body = m.group(2)
        if m.group(1) in ("305011", "305012"):
            p = _PORT.match(body)
            if p is None:
                raise LineRejected("translation message not in the documented form")
            verb, duration = p.group(1), p.group(7, 8, 9)
            event = Event("nat", ACTION_START, stamp.ms, slack_ms=stamp.slack_ms, flags=stamp.flags,
                          proto=_PROTO[p.group(2)], priv_ip=to_bytes(p.group(3)), priv_port=int(p.group(4)),
                          pub_ip=to_bytes(p.group(5)), pub_port=int(p.group(6)))
        else:
            a = _ADDR.match(body)
            if a is None:
                raise LineRejected("address translation message not in the documented form")
            verb, duration = a.group(1), a.group(4, 5, 6)
            event = Event("block", ACTION_START, stamp.ms, slack_ms=stamp.slack_ms, flags=stamp.flags,
                          priv_ip=to_bytes(a.group(2)), pub_ip=to_bytes(a.group(3)), pub_port=0,
                          port_hi=65535)  # the whole address: every port
        if verb == "Built":
            return [event]
        if duration[0] is None:
            return [event._replace(action=ACTION_END)]
        seconds = int(duration[0]) * 3600 + int(duration[1]) * 60 + int(duration[2])
        return [event._replace(action=ACTION_WHOLE, begin_ms=stamp.ms - seconds * 1000 - 1000,
                               slack_ms=stamp.slack_ms + 1000)]
