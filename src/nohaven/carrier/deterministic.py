"""RFC 7422 deterministic NAT: a pool's configuration maps every public address and port to one subscriber.

There is nothing to search: the answer is a calculation. A pool (JSON, one object per pool in a list):

    {"name": "cgn-det-1", "inside": "100.64.0.0/22", "outside": ["203.0.113.0/30"],
     "port_first": 1024, "port_last": 65535, "ports_per_subscriber": 2000,
     "valid_from": "2026-01-01T00:00:00+00:00", "valid_until": null}

Inside addresses are taken in order; each public address serves floor((port_last - port_first + 1) /
ports_per_subscriber) of them, subscriber i getting public address i // K and the port block
port_first + (i % K) * ports_per_subscriber. A configuration is valid only within its dates: outside them
the pool says nothing.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nohaven.errors import InputError
from nohaven.timeutil import parse_aware

__all__ = ["DeterministicPool", "load_pools"]


@dataclass(frozen=True)
class DeterministicPool:
    name: str
    inside: ipaddress.IPv4Network | ipaddress.IPv6Network
    outside: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    port_first: int
    port_last: int
    ports_per_subscriber: int
    valid_from_ms: int
    valid_until_ms: int | None
    config: str  # where it was read from
    config_sha256: str

    @property
    def per_address(self) -> int:
        return (self.port_last - self.port_first + 1) // self.ports_per_subscriber

    def subscriber_for(self, ip: str, port: int, at_lo: int, at_hi: int) -> dict[str, Any] | None:
        """The inside address and port block holding ip:port, if this pool covers ip, port and the time."""
        if at_hi < self.valid_from_ms or (self.valid_until_ms is not None and at_lo > self.valid_until_ms):
            return None
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if address not in self.outside or not self.port_first <= port <= self.port_last:
            return None
        block = (port - self.port_first) // self.ports_per_subscriber
        if block >= self.per_address:
            return None  # the ports left over after the last whole block belong to no subscriber
        index = self.outside.index(address) * self.per_address + block
        if index >= self.inside.num_addresses:
            return None
        first = self.port_first + block * self.ports_per_subscriber
        return {"private_ip": str(self.inside[index]), "port_first": first,
                "port_last": first + self.ports_per_subscriber - 1}


def load_pools(path: Path) -> list[DeterministicPool]:
    """Read deterministic NAT pools from a JSON file (a list of pool objects)."""
    data = path.read_bytes()
    try:
        items = json.loads(data)
        pools = []
        for item in items:
            outside: list[Any] = []
            for net in item["outside"]:
                outside.extend(ipaddress.ip_network(net, strict=False))
            until = item.get("valid_until")
            pools.append(DeterministicPool(
                name=item["name"], inside=ipaddress.ip_network(item["inside"], strict=False), outside=tuple(outside),
                port_first=int(item["port_first"]), port_last=int(item["port_last"]),
                ports_per_subscriber=int(item["ports_per_subscriber"]),
                valid_from_ms=int(parse_aware(item["valid_from"], "valid_from").timestamp() * 1000),
                valid_until_ms=int(parse_aware(until, "valid_until").timestamp() * 1000) if until else None,
                config=str(path), config_sha256=hashlib.sha256(data).hexdigest()))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError.field("deterministic", f"{path}: not a list of deterministic NAT pools ({exc})") from None
    return pools
