"""Juniper port block allocation (RT_SRC_NAT_PBA_ALLOC / INTERIM / RELEASE): a public port range per subscriber.

    RT_NAT - RT_SRC_NAT_PBA_ALLOC [junos@2636.1.1.1.2.26 internal-ip="100.64.3.4" block-port-low="48640"
      block-port-high="48895" reflexive-ip="203.0.113.9" nat-pool-name="cgn" epoch-time-64="6a23c1f0"]

The event time is `epoch-time-64`, hexadecimal seconds since 1970 (UTC); the syslog header is used only
when that field is missing.
"""

from __future__ import annotations

import re
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import (
    ACTION_END,
    ACTION_SEEN,
    ACTION_START,
    Event,
    LogFormat,
    Outcome,
    Record,
    check_port,
    parse_kv,
)
from nohaven.carrier.formats._syslog import header_stamp
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["JuniperPba"]

_EVENT = re.compile(r"\bRT_SRC_NAT_PBA_(ALLOC|RELEASE|INTERIM)\b")
_ACTIONS = {"ALLOC": ACTION_START, "INTERIM": ACTION_SEEN, "RELEASE": ACTION_END}


class JuniperPba(LogFormat):
    name = "juniper-pba"
    summary = "Juniper RT_SRC_NAT_PBA_ALLOC / INTERIM / RELEASE port blocks, hexadecimal epoch"
    produces = "block"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "slack_ms", "priv_ip", "pub_ip", "pub_port", "port_hi",
                                          "session")

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _EVENT.search(line))

    def parse(self, record: Record) -> Outcome:
        text = record.text
        m = _EVENT.search(text)
        if m is None:
            if not text.strip():
                return "blank line"
            if "RT_SRC_NAT_PBA" in text:
                raise LineRejected("unknown RT_SRC_NAT_PBA message")
            return "other Junos message"
        kv = parse_kv(text[m.end():])
        try:
            internal = to_bytes(kv["internal-ip"])
            public = to_bytes(kv["reflexive-ip"])
            low = check_port(kv["block-port-low"], "block-port-low")
            high = check_port(kv["block-port-high"], "block-port-high")
        except KeyError as exc:
            raise LineRejected(f"field {exc.args[0]} missing") from None
        except ValueError as exc:
            raise LineRejected(str(exc)) from None
        if high < low:
            raise LineRejected(f"block-port-high {high} is below block-port-low {low}")
        epoch = kv.get("epoch-time-64")
        if epoch:
            try:
                t_ms, slack, flags = int(epoch, 16) * 1000, 1000, 0
            except ValueError:
                raise LineRejected(f"epoch-time-64 {epoch!r} is not hexadecimal") from None
        else:
            stamp, _ = header_stamp(text, self.zone, self.require_zone)
            t_ms, slack, flags = stamp.ms, stamp.slack_ms, stamp.flags
        return [Event("block", _ACTIONS[m.group(1)], t_ms, slack_ms=slack, flags=flags, priv_ip=internal,
                      pub_ip=public, pub_port=low, port_hi=high, session=kv.get("nat-pool-name"))]
