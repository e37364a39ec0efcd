"""Addresses as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so both families sort and compare alike."""

from __future__ import annotations

import ipaddress
import socket

from nohaven.carrier.errors import LineRejected

__all__ = ["V4_PREFIX", "from_bytes", "network_bounds", "to_bytes"]

V4_PREFIX = b"\x00" * 10 + b"\xff\xff"
_cache: dict[str, bytes] = {}


def to_bytes(text: str) -> bytes:
    """The 16-byte form of an IPv4 or IPv6 address; LineRejected when it is neither."""
    hit = _cache.get(text)
    if hit is not None:
        return hit
    try:
        value = V4_PREFIX + socket.inet_pton(socket.AF_INET, text)
    except OSError:
        try:
            value = socket.inet_pton(socket.AF_INET6, text)
        except OSError:
            raise LineRejected(f"{text!r} is not an IP address") from None
    if len(_cache) < 100_000:
        _cache[text] = value
    return value


def from_bytes(value: bytes) -> str:
    """Text form: dotted quad for IPv4-mapped addresses, compressed IPv6 otherwise."""
    if value[:12] == V4_PREFIX:
        return socket.inet_ntop(socket.AF_INET, value[12:])
    return str(ipaddress.IPv6Address(value))


def network_bounds(text: str) -> tuple[bytes, bytes]:
    """First and last address of a prefix such as 2001:db8:1200::/56 (a single address gives itself twice)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise LineRejected(f"{text!r} is not an IP prefix") from None
    first, last = net.network_address, net.broadcast_address
    if isinstance(net, ipaddress.IPv4Network):
        return V4_PREFIX + first.packed, V4_PREFIX + last.packed
    return first.packed, last.packed
