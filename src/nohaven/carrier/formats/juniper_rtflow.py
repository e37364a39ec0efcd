"""Juniper SRX/MX RT_FLOW session logs (RFC 5424 structured data): a source-NAT mapping from CREATE to CLOSE.

    <14>1 2026-11-27T03:14:07.120+01:00 srx-1 RT_FLOW - RT_FLOW_SESSION_CREATE [junos@2636.1.1.1.2.26
      source-address="100.64.0.7" source-port="51515" ... nat-source-address="203.0.113.9"
      nat-source-port="40001" ... protocol-id="6" ...]

CLOSE carries the same tuple and `elapsed-time` (seconds), so a CLOSE alone still gives the interval.
"""

from __future__ import annotations

import re
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import (
    ACTION_START,
    ACTION_WHOLE,
    Event,
    LogFormat,
    Outcome,
    Record,
    check_port,
    parse_kv,
)
from nohaven.carrier.formats._syslog import header_stamp
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["JuniperRtFlow"]

_EVENT = re.compile(r"\bRT_FLOW_SESSION_(CREATE|CLOSE|DENY)\b")


class JuniperRtFlow(LogFormat):
    name = "juniper-rtflow"
    summary = "Juniper RT_FLOW_SESSION_CREATE / CLOSE (structured syslog) with nat-source-address/port"
    produces = "nat"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "begin_ms", "slack_ms", "proto", "priv_ip", "priv_port",
                                          "pub_ip", "pub_port", "dst_ip", "dst_port")

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _EVENT.search(line) and "nat-source-address=" in line)

    def parse(self, record: Record) -> Outcome:
        text = record.text
        m = _EVENT.search(text)
        if m is None:
            if not text.strip():
                return "blank line"
            if "RT_FLOW" in text or "RT_" not in text:
                raise LineRejected("no RT_FLOW_SESSION_CREATE or RT_FLOW_SESSION_CLOSE message")
            return "other Junos message"
        if m.group(1) == "DENY":
            return "session denied (no mapping)"
        stamp, _ = header_stamp(text, self.zone, self.require_zone)
        kv = parse_kv(text[m.end():])
        try:
            nat_ip = kv["nat-source-address"]
            src_ip = kv["source-address"]
            src_port = check_port(kv["source-port"], "source-port")
            nat_port = check_port(kv["nat-source-port"], "nat-source-port")
            proto = int(kv["protocol-id"])
        except KeyError as exc:
            raise LineRejected(f"field {exc.args[0]} missing") from None
        except ValueError as exc:
            raise LineRejected(str(exc)) from None
        unset = ("", "N/A", "0.0.0.0", "::")  # noqa: S104 - an unset address, not a bind
        if nat_ip in unset or (nat_ip == src_ip and nat_port == src_port):
            return "no source translation"
        dst = kv.get("destination-address")
        dport = kv.get("destination-port")
        event = Event("nat", ACTION_START, stamp.ms, slack_ms=stamp.slack_ms, flags=stamp.flags, proto=proto,
                      priv_ip=to_bytes(src_ip), priv_port=src_port, pub_ip=to_bytes(nat_ip), pub_port=nat_port,
                      dst_ip=to_bytes(dst) if dst else None,
                      dst_port=int(dport) if dport and dport.isdigit() else None)
        if m.group(1) == "CREATE":
            return [event]
        elapsed = kv.get("elapsed-time")
        if elapsed is None or not elapsed.isdigit():
            raise LineRejected("RT_FLOW_SESSION_CLOSE without a numeric elapsed-time")
        # elapsed-time is whole seconds: the start may lie up to a second earlier than end - elapsed.
        return [event._replace(action=ACTION_WHOLE, begin_ms=stamp.ms - int(elapsed) * 1000 - 1000,
                               slack_ms=stamp.slack_ms + 1000)]
