"""Linux conntrack events (`conntrack -E -o timestamp`): the reply tuple carries the SNAT address and port.

    [1764209647.120000]	    [NEW] tcp      6 120 SYN_SENT src=100.64.0.7 dst=192.0.2.80 sport=51515 dport=443
      [UNREPLIED] src=192.0.2.80 dst=203.0.113.9 sport=443 dport=40001
    [1764209737.500000]	[DESTROY] tcp      6 src=100.64.0.7 ... src=192.0.2.80 dst=203.0.113.9 sport=443 dport=40001

The bracketed time is epoch seconds (UTC) with microseconds.
"""

from __future__ import annotations

import re
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import ACTION_END, ACTION_START, Event, LogFormat, Outcome, Record, check_port
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["Conntrack"]

_LINE = re.compile(r"^\s*\[(\d+)\.(\d{1,9})\]\s+\[(NEW|DESTROY|UPDATE)\]\s+(?:ipv[46]\s+\d+\s+)?([a-z0-9]+)\s+(\d+)\s")
_TUPLE = re.compile(r"src=(\S+) dst=(\S+)(?: sport=(\d+) dport=(\d+))?")


class Conntrack(LogFormat):
    name = "conntrack"
    summary = "Linux conntrack -E -o timestamp, [NEW] / [DESTROY] with the NAT reply tuple"
    produces = "nat"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "slack_ms", "proto", "priv_ip", "priv_port", "pub_ip",
                                          "pub_port", "dst_ip", "dst_port")

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _LINE.match(line))

    def parse(self, record: Record) -> Outcome:
        text = record.text
        m = _LINE.match(text)
        if m is None:
            if not text.strip():
                return "blank line"
            raise LineRejected("not a conntrack -E -o timestamp event line")
        if m.group(3) == "UPDATE":
            return "state update (no new mapping)"
        tuples = _TUPLE.findall(text, m.end())
        if len(tuples) < 2:
            raise LineRejected("original and reply tuples not both present")
        (osrc, odst, osport, odport), (_rsrc, rdst, _rsport, rdport) = tuples[0], tuples[1]
        if not osport or not rdport:
            return f"{m.group(4)} without ports"
        if rdst == osrc and rdport == osport:
            return "no source translation"
        frac = m.group(2)
        t_ms = int(m.group(1)) * 1000 + int((frac + "000")[:3])
        return [Event("nat", ACTION_START if m.group(3) == "NEW" else ACTION_END, t_ms,
                      slack_ms=1 if len(frac) >= 3 else 10 ** (3 - len(frac)), proto=int(m.group(5)),
                      priv_ip=to_bytes(osrc), priv_port=check_port(osport), pub_ip=to_bytes(rdst),
                      pub_port=check_port(rdport), dst_ip=to_bytes(odst), dst_port=int(odport))]
