"""Next hops written as text, the one syntax of the web form and the command line: IP[:PORT][/PROTOCOL]@TIME.

An IPv6 address is written in brackets when a port follows ([2001:db8::1]:443@...); a bare IPv6 address without
a port is accepted too. The time must carry its offset; it is checked where the hop is recorded (the answer's
schema), so both surfaces give the same message for it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from nohaven.errors import InputError

__all__ = ["parse_next_hop", "read_next_hops"]

_SHAPE = "IP[:PORT][/PROTOCOL]@TIME, e.g. 203.0.113.77:4431/tcp@2026-11-27T02:14:07Z or [2001:db8::1]:443@..."
_PROTOCOL = re.compile(r"^[a-z][a-z0-9-]{0,15}$")


def parse_next_hop(text: str, field: str, where: str | None = None) -> dict[str, Any]:
    """One next hop: {"ip", "port", "protocol", "time"}; a mistake is named with `where` (e.g. "line 3")."""
    prefix = f"{where}: " if where else ""
    address, at, time_text = text.strip().partition("@")
    if not at or not time_text.strip() or not address.strip():
        raise InputError.field(field, f"{prefix}write {_SHAPE}")
    endpoint, slash, protocol = address.strip().partition("/")
    if slash and not _PROTOCOL.match(protocol):
        raise InputError.field(field, f"{prefix}protocol {protocol!r} is not a protocol name (tcp, udp, ...)")
    host, port_text = _split(endpoint, field, prefix)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise InputError.field(field, f"{prefix}{host!r} is not an IPv4 or IPv6 address") from None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or len(port_text) > 5 or int(port_text) > 65535:
            raise InputError.field(field, f"{prefix}port {port_text!r} is not a number from 0 to 65535")
        port = int(port_text)
    return {"ip": host, "port": port, "protocol": protocol or None, "time": time_text.strip()}


def read_next_hops(text: str, field: str, protocol: str | None = None) -> list[dict[str, Any]]:
    """Next hops one a line (blank lines and # comments skipped), each mistake named by its line; `protocol`
    applies to the lines that name none."""
    hops = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.strip().startswith("#"):
            continue
        hop = parse_next_hop(line, field, f"line {number}")
        hop["protocol"] = hop["protocol"] or protocol
        hops.append(hop)
    return hops


def _split(endpoint: str, field: str, prefix: str) -> tuple[str, str | None]:
    if endpoint.startswith("["):
        host, close, rest = endpoint[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise InputError.field(field, f"{prefix}{endpoint!r} is not [IPv6]:port")
        return host, rest[1:] if rest else None
    if endpoint.count(":") == 1:
        host, port = endpoint.split(":")
        return host, port
    return endpoint, None
