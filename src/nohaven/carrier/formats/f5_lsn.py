"""F5 BIG-IP CGNAT (LSN) key=value logs; times are epoch milliseconds.

    lsn_event="LSN_ADD",start="1764209647120",cli="100.64.0.7:51515",nat="203.0.113.9:40001"
    lsn_event="LSN_DELETE",start="1764209647120",cli="100.64.0.7:51515",nat="203.0.113.9:40001",duration="90000"

A DELETE states its start and duration (milliseconds), so it gives the whole interval. An address without a
port maps the whole address (every port).
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
    split_endpoint,
)
from nohaven.carrier.ipaddr import to_bytes

__all__ = ["F5Lsn"]

_EVENT = re.compile(r'lsn_event="(LSN_[A-Z_]+)"')
_PROTO = {"tcp": 6, "udp": 17, "icmp": 1, "6": 6, "17": 17, "1": 1}


class F5Lsn(LogFormat):
    name = "f5-lsn"
    summary = "F5 BIG-IP LSN lsn_event=LSN_ADD / LSN_DELETE (and inbound), epoch milliseconds"
    produces = "nat+block"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "begin_ms", "slack_ms", "proto", "priv_ip", "priv_port",
                                          "pub_ip", "pub_port", "port_hi", "dst_ip", "dst_port", "subscriber")

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        return sum(1 for line in lines if _EVENT.search(line))

    def parse(self, record: Record) -> Outcome:
        text = record.text
        m = _EVENT.search(text)
        if m is None:
            if not text.strip():
                return "blank line"
            raise LineRejected("no lsn_event= field")
        event = m.group(1)
        if event not in ("LSN_ADD", "LSN_DELETE", "LSN_INBOUND_ADD", "LSN_INBOUND_DELETE"):
            return f"{event} (not a mapping event)"
        kv = parse_kv(text[m.start():])
        try:
            start = int(kv["start"])
            cli_ip, cli_port = split_endpoint(kv["cli"])
            nat_ip, nat_port = split_endpoint(kv["nat"])
        except KeyError as exc:
            raise LineRejected(f"field {exc.args[0]} missing") from None
        except ValueError:
            raise LineRejected(f"start {kv.get('start')!r} is not epoch milliseconds") from None
        dst_ip, dst_port = split_endpoint(kv["dst"]) if kv.get("dst") else (None, None)
        subscriber = kv.get("pem_subscriber_id")
        mapped = Event("nat" if nat_port else "block", ACTION_START, start, slack_ms=1,
                       proto=_PROTO.get(kv.get("proto", kv.get("protocol", "")).lower()), priv_ip=to_bytes(cli_ip),
                       priv_port=check_port(cli_port) if cli_port else None, pub_ip=to_bytes(nat_ip),
                       pub_port=check_port(nat_port) if nat_port else 0, port_hi=None if nat_port else 65535,
                       dst_ip=to_bytes(dst_ip) if dst_ip else None, dst_port=int(dst_port) if dst_port else None,
                       subscriber=subscriber if subscriber and subscriber != "No-lookup" else None)
        if event.endswith("ADD"):
            return [mapped]
        duration = kv.get("duration")
        if duration is None or not duration.isdigit():
            raise LineRejected(f"{event} without a numeric duration")
        return [mapped._replace(action=ACTION_WHOLE, t_ms=start + int(duration), begin_ms=start)]
