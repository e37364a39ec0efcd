"""Citrix NetScaler (ADC) LSN mapping and session logs, default and compact forms.

Default (about 217 bytes):

    02/02/2026:01:13:01 GMT ns-1 0-PPE-0 : default LSN LSN_ADDRPORT_MAPPING 1234 0 : Client IP:Port:TD
      100.64.0.7:51515:0, NatIP:NatPort 203.0.113.9:40001, Destination IP:Port:TD 192.0.2.80:443:0, Protocol: TCP

Compact (about 109 bytes): the same facts without labels, in the same order, optionally led by a created /
deleted code:

    02/02/2026:01:13:01 GMT ns-1 0-PPE-0 : default LSN LSN_ADDRPORT_MAPPING 1234 0 : C 100.64.0.7:51515:0
      203.0.113.9:40001 192.0.2.80:443:0 TCP

A "Deleted" word (or D / SD / ED code) ends the mapping; otherwise the line records its creation. The
appliance's own timestamp is `MM/DD/YYYY:hh:mm:ss` followed by GMT, or local time with no label (--tz needed).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import ACTION_END, ACTION_START, Event, LogFormat, Outcome, Record, check_port
from nohaven.carrier.formats._syslog import local_stamp
from nohaven.carrier.ipaddr import to_bytes
from nohaven.carrier.timeparse import Stamp, utc_fields_to_ms

__all__ = ["CitrixLsn"]

_HEAD = re.compile(r"(\d\d)/(\d\d)/(\d{4}):(\d\d):(\d\d):(\d\d)(?: (GMT|UTC))?\s.*?\bLSN (LSN_[A-Z_]+)[^:]*:\s*(.*)")
_DEFAULT = re.compile(
    r"Client IP:Port:TD ([0-9A-Fa-f.:]+):(\d+):(\d+), (?:NatIP:NatPort|Mapped IP:Port) ([0-9A-Fa-f.:]+):(\d+)"
    r"(?:, Destination IP(?::Port)?:TD ([0-9A-Fa-f.:]+?)(?::(\d+))?:(\d+))?, Protocol: (\w+)")
_COMPACT = re.compile(
    r"(?:([A-Z]{1,2}) )?([0-9A-Fa-f.:]+):(\d+):(\d+) ([0-9A-Fa-f.:]+):(\d+)"
    r"(?: ([0-9A-Fa-f.:]+):(\d+):(\d+))? (\w+)\s*$")
_DELETED = re.compile(r"\b(?:deleted|removed)\b", re.IGNORECASE)
_PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1}


class CitrixLsn(LogFormat):
    name = "citrix-lsn"
    summary = "Citrix NetScaler LSN_ADDRPORT_MAPPING / LSN_SESSION, default and compact forms"
    produces = "nat"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "slack_ms", "flags", "proto", "priv_ip", "priv_port",
                                          "pub_ip", "pub_port", "dst_ip", "dst_port")
    may_need_zone = True

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _HEAD.search(line))

    def parse(self, record: Record) -> Outcome:
        text = record.text
        h = _HEAD.search(text)
        if h is None:
            if not text.strip():
                return "blank line"
            raise LineRejected("no NetScaler timestamp and LSN message")
        if h.group(8) not in ("LSN_ADDRPORT_MAPPING", "LSN_SESSION", "LSN_MAPPING"):
            return f"{h.group(8)} (not a mapping)"
        stamp = self._stamp(h)
        body = h.group(9)
        d = _DEFAULT.search(body)
        if d is not None:
            client, cport, nat, nport = d.group(1), d.group(2), d.group(4), d.group(5)
            dst, dport, proto = d.group(6), d.group(7), d.group(9)
            deleted = bool(_DELETED.search(body))
        else:
            c = _COMPACT.match(body)
            if c is None:
                raise LineRejected("LSN message in neither the default nor the compact form")
            code = c.group(1) or ""
            client, cport, nat, nport = c.group(2), c.group(3), c.group(5), c.group(6)
            dst, dport, proto = c.group(7), c.group(8), c.group(10)
            deleted = code.endswith("D")
        return [Event("nat", ACTION_END if deleted else ACTION_START, stamp.ms, slack_ms=stamp.slack_ms,
                      flags=stamp.flags, proto=_PROTO.get(proto.upper()), priv_ip=to_bytes(client),
                      priv_port=check_port(cport), pub_ip=to_bytes(nat), pub_port=check_port(nport),
                      dst_ip=to_bytes(dst) if dst else None, dst_port=int(dport) if dport else None)]

    def _stamp(self, h: re.Match[str]) -> Stamp:
        month, day, year, hour, minute, second = (int(h.group(i)) for i in range(1, 7))
        try:
            wall = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError:
            raise LineRejected(f"{h.group(0)[:19]!r} is not a valid date and time") from None
        if h.group(7):
            return Stamp(utc_fields_to_ms(year, month, day, hour, minute, second), 1000)
        zone = self.zone or self.require_zone("NetScaler time without GMT")
        return local_stamp(wall, zone, 1000, h.group(0)[:19])
