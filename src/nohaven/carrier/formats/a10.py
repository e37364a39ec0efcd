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
    split_endpoint,
)
from nohaven.carrier.formats._syslog import header_stamp
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["A10"]

_MSG = re.compile(r"\bNAT-(TCP|UDP|ICMP)-([CF]):\s*([^\s,]+)<->([^\s,]+),([^\s,]+)<-->([^\s,]+)")
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
            if "NAT-" in text:
                raise LineRejected("NAT- message not in the documented form")
            return "other A10 message"
        stamp, _ = header_stamp(text, self.zone, self.require_zone)
        inside, dest, nat, _nat_dest = (split_endpoint(m.group(i)) for i in range(3, 7))
        if inside[1] is None or nat[1] is None:
            raise LineRejected("inside or NAT endpoint without a port")
        return [Event("nat", ACTION_START if m.group(2) == "C" else ACTION_END, stamp.ms, slack_ms=stamp.slack_ms,
                      flags=stamp.flags, proto=_PROTO[m.group(1)], priv_ip=to_bytes(inside[0]),
                      priv_port=check_port(inside[1]), pub_ip=to_bytes(nat[0]), pub_port=check_port(nat[1]),
                      dst_ip=to_bytes(dest[0]), dst_port=int(dest[1]) if dest[1] else None)]
