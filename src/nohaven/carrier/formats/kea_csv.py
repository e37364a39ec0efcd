"""Kea DHCPv4 / DHCPv6 memfile lease CSV: `expire` is epoch seconds, the lease began `valid_lifetime` earlier.

    address,hwaddr,client_id,valid_lifetime,expire,subnet_id,fqdn_fwd,fqdn_rev,hostname,state,user_context,pool_id
    100.64.0.7,02:00:5e:10:00:07,01:02:00:5e:10:00:07,43200,1764252000,1,0,0,cpe-0042,0,,0

Columns are read by the header's names, so the DHCPv6 file (address, duid, ..., prefix_len, hwaddr) works too.
Declined leases (state 1) are not held by anyone.
"""

from __future__ import annotations

import csv
from typing import ClassVar

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats._base import ACTION_WHOLE, Event, LogFormat, Outcome, Record
from nohaven.carrier.ipaddr import network_bounds, to_bytes

__all__ = ["KeaCsv"]


class KeaCsv(LogFormat):
    name = "kea-csv"
    summary = "Kea memfile lease CSV (v4 and v6), expire - valid_lifetime to expire"
    produces = "identity"
    columns: ClassVar[tuple[str, ...]] = ("action", "t_ms", "begin_ms", "slack_ms", "priv_ip", "ip_hi", "station",
                                          "mac", "hostname", "session")

    def __init__(self, zone: object = None) -> None:
        super().__init__(None)
        self.header: list[str] | None = None

    @classmethod
    def detect(cls, lines: list[str]) -> int:
        if lines and lines[0].startswith("address,") and "valid_lifetime" in lines[0] and "expire" in lines[0]:
            return len(lines)
        return 0

    def parse(self, record: Record) -> Outcome:
        text = record.text
        if not text.strip():
            return "blank line"
        if text.startswith("address,"):
            self.header = text.strip().split(",")
            return "header"
        if self.header is None:
            raise LineRejected("lease line before the CSV header")
        row = next(csv.reader([text]))
        if len(row) < len(self.header) - 2:
            raise LineRejected(f"{len(row)} fields, the header names {len(self.header)}")
        f = dict(zip(self.header, row, strict=False))
        try:
            lifetime, expire = int(f["valid_lifetime"]), int(f["expire"])
        except (KeyError, ValueError):
            raise LineRejected("valid_lifetime or expire is not a number") from None
        if f.get("state") == "1":
            return "declined lease (not held)"
        address = f.get("address", "")
        prefix_len = f.get("prefix_len", "")
        if prefix_len and prefix_len not in ("128", "0") and f.get("lease_type") == "2":
            lo, hi = network_bounds(f"{address}/{prefix_len}")
        else:
            lo = hi = to_bytes(address)
        mac = (f.get("hwaddr") or "").lower() or None
        begin = (expire - lifetime) * 1000
        return [Event("identity", ACTION_WHOLE, expire * 1000, begin_ms=begin, slack_ms=1000, priv_ip=lo, ip_hi=hi,
                      station=f.get("client_id") or f.get("duid") or None, mac=mac,
                      hostname=(f.get("hostname") or "").replace("&#x2c", ",") or None,
                      session=f"kea:{address}|{begin}|{mac or ''}")]
