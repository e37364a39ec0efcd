"""A10 Thunder CGN session logs: NAT-TCP-C / NAT-UDP-C creation, -F free.

    2026-11-27T03:14:07+01:00 cgn-2 NAT-TCP-C: 100.64.23.122:51515<->192.0.2.80:443,203.0.113.9:40001<-->192.0.2.80:443

Inside pair first (subscriber <-> destination), then the NAT pair. The time is the collector's syslog header.
"""

from __future__ import annotations

import re
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import (
    ACTION_END,
    ACTION_START,
    Event,
    LogFormat,
    Outcome,
    Record,
    check_port,
)
from nohaven.carrier.formats._syslog import header_stamp
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["A10"]

_EP = r"\[?([0-9A-Fa-f.:]+?)\]?:(\d+)"  # address:port, an IPv6 address in brackets or bare (last colon = port)
_MSG = re.compile(rf"\bNAT-(TCP|UDP|ICMP)-([CF]):\s*{_EP}<->{_EP},{_EP}<-->{_EP}(?=\s|$)")
_LOOSE = re.compile(r"\bNAT-(TCP|UDP|ICMP)-([CF]):")
_PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1}


class A10(LogFormat):
    name = "a10"
    summary = "A10 Thunder CGN NAT-TCP-C / NAT-UDP-C (creation) and -F (free)"
    produces = "nat"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "slack_ms", "flags", "proto", "priv_ip", "priv_port",
                                          "pub_ip", "pub_port", "dst_ip", "dst_port")
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
            if _LOOSE.search(text):
                raise LineRejected("NAT- message not in the documented form")
            return "other A10 message"
        stamp, _ = header_stamp(text, self.zone, self.require_zone)
        g = m.groups()
        return [Event("nat", ACTION_START if g[1] == "C" else ACTION_END, stamp.ms, slack_ms=stamp.slack_ms,
                      flags=stamp.flags, proto=_PROTO[g[0]], priv_ip=to_bytes(g[2]), priv_port=check_port(g[3]),
                      pub_ip=to_bytes(g[6]), pub_port=check_port(g[7]), dst_ip=to_bytes(g[4]),
                      dst_port=check_port(g[5]))]
