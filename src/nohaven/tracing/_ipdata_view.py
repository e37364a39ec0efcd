"""The snapshots in force at one instant, searched together: one batched search per snapshot and family, then
per address the best answer of each kind (RIR, ip2asn)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from nohaven.errors import InputError
from nohaven.tracing._ipdata_arrays import FamilyTable, SnapshotArrays, halves, keys_v6

if TYPE_CHECKING:
    from nohaven.tracing.ipdata import SnapshotInfo

__all__ = ["Hit", "Located", "SnapshotView", "cidr_within", "format_ip", "keys_for", "parse_ip", "parse_value",
           "text_keys"]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Where RIR files disagree (e.g. space moved between registries and two files of different days), a range
# handed out beats one marked available or reserved; between equals, the newer snapshot wins.
HANDED_OUT = ("allocated", "assigned")


def parse_ip(text: str, field: str) -> IpAddress:
    """An address from text; IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address it maps."""
    raw = text.strip() if isinstance(text, str) else ""
    if raw.startswith("[") and raw.endswith("]"):
        raw = raw[1:-1]
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise InputError.field(field, f"{text!r} is not an IPv4 or IPv6 address (e.g. 198.51.100.23 or "
                               "2001:db8::1)") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def format_ip(address: IpAddress) -> str:
    """The address in its canonical text form."""
    return str(address)


def parse_value(text: str, field: str) -> tuple[int, int]:
    """(family, integer) of an address text, like `parse_ip`; dotted quads in canonical form take a fast path."""
    raw = text.strip() if isinstance(text, str) else ""
    try:
        packed = socket.inet_pton(socket.AF_INET, raw)
    except (OSError, ValueError):
        pass
    else:
        if socket.inet_ntop(socket.AF_INET, packed) == raw:  # no leading zeros or other odd spellings
            return 4, int.from_bytes(packed, "big")
    address = parse_ip(text, field)
    return address.version, int(address)


def address_text(value: int, family: int) -> str:
    """An integer as address text of its family."""
    if family == 4:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4, "big"))
    return str(ipaddress.IPv6Address(value))


def cidr_within(value: int, first: int, last: int, family: int) -> str:
    """The largest CIDR block that holds `value` and lies inside [first, last] (a range of any size)."""
    bits = 32 if family == 4 else 128
    for host_bits in range((last - first + 1).bit_length() - 1, -1, -1):
        size = 1 << host_bits
        block = value & ~(size - 1)
        if block >= first and block + size - 1 <= last:
            return f"{address_text(block, family)}/{bits - host_bits}"
    return f"{address_text(value, family)}/{bits}"  # pragma: no cover - the /bits block always fits


def keys_for(family: int, values: Sequence[int]) -> npt.NDArray[Any]:
    """Search keys for addresses given as integers."""
    if family == 4:
        return np.fromiter(values, dtype=np.uint32, count=len(values))
    return keys_v6(*halves(list(values)))


def text_keys(family: int, texts: Sequence[str]) -> npt.NDArray[Any]:
    """Search keys straight from address text of one family, parsed in C (`socket.inet_pton`): the fast path for
    big batches. A text that is not an address of that family is named by its position."""
    try:
        packed = b"".join(map(partial(socket.inet_pton, socket.AF_INET if family == 4 else socket.AF_INET6), texts))
    except (OSError, TypeError, ValueError):
        for n, text in enumerate(texts):
            try:
                socket.inet_pton(socket.AF_INET if family == 4 else socket.AF_INET6, text)
            except (OSError, TypeError, ValueError):
                raise InputError.field(f"ips[{n}]", f"{text!r} is not an IPv{family} address") from None
        raise  # pragma: no cover - the loop above finds the culprit
    if family == 4:
        return np.frombuffer(packed, dtype=">u4").astype(np.uint32)
    return np.frombuffer(packed, dtype="S16")


def _sorted(keys: npt.NDArray[Any]) -> tuple[npt.NDArray[np.intp] | None, npt.NDArray[Any]]:
    # Binary searches for keys in ascending order walk the table nearly sequentially; for random keys each one
    # misses the cache, and sorting the batch first is several times cheaper than those misses.
    if len(keys) < 1024:
        return None, keys
    order = np.argsort(keys)
    return order, keys[order]


def _unsort(order: npt.NDArray[np.intp] | None, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    if order is None:
        return values
    out = np.empty_like(values)
    out[order] = values
    return out


@dataclass(frozen=True)
class Located:
    """Per address: index (into the view's snapshots) and row of the best RIR and ip2asn answer, -1 for none."""

    rir_snapshot: npt.NDArray[np.int64]
    rir_row: npt.NDArray[np.int64]
    asn_snapshot: npt.NDArray[np.int64]
    asn_row: npt.NDArray[np.int64]


class Hit(NamedTuple):
    """One address's answer: the range both kinds agree on and the attributes of each."""

    first: int
    last: int
    asn: int | None
    holder: str | None
    registry: str | None
    country: str | None
    status: str
    rir_snapshot: date | None
    asn_snapshot: date | None
    notes: tuple[str, ...]


class SnapshotView:
    """The snapshots in force at one instant and the problems of that choice."""

    def __init__(self, snapshots: list[tuple[SnapshotInfo, SnapshotArrays]], problems: tuple[str, ...]) -> None:
        self.snapshots = sorted(snapshots, key=lambda pair: pair[0].snapshot_date)
        self.problems = problems
        self._handed_out = [arrays.codes_of(HANDED_OUT) for _, arrays in self.snapshots]

    def table(self, index: int, family: int) -> FamilyTable:
        arrays = self.snapshots[index][1]
        return arrays.v4 if family == 4 else arrays.v6

    def search(self, family: int, keys: npt.NDArray[Any]) -> Located:
        """Batched search of every snapshot in force; keys from `keys_for` or `text_keys`."""
        order, ordered = _sorted(keys)
        found: list[npt.NDArray[np.int64]] = []
        for kind in ("rir", "ip2asn"):
            for array in self._best(kind, family, ordered):
                found.append(_unsort(order, array))
        return Located(*found)

    def _best(self, kind: str, family: int,
              keys: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        best_snapshot = np.full(len(keys), -1, dtype=np.int64)
        best_row = np.full(len(keys), -1, dtype=np.int64)
        best_rank = np.zeros(len(keys), dtype=np.int8)
        for index, (info, _) in enumerate(self.snapshots):
            if info.kind != kind:
                continue
            table = self.table(index, family)
            rows = table.search(keys)
            hit = rows >= 0
            rank = hit.astype(np.int8)
            if kind == "rir" and len(table):
                status = table.codes["status"][np.where(hit, rows, 0)]
                rank = rank + (hit & np.isin(status, self._handed_out[index])).astype(np.int8)
            take = hit & (rank >= best_rank)
            best_snapshot[take] = index
            best_row[take] = rows[take]
            best_rank[take] = rank[take]
        return best_snapshot, best_row

    def asn_numbers(self, family: int, keys: npt.NDArray[Any]) -> npt.NDArray[np.uint32]:
        """The autonomous system announcing each address (0 for none), all in arrays: the fast path."""
        order, ordered = _sorted(keys)
        snapshot, row = self._best("ip2asn", family, ordered)
        out = np.zeros(len(keys), dtype=np.uint32)
        for index in np.unique(snapshot[snapshot >= 0]):
            mask = snapshot == index
            out[mask] = self.table(int(index), family).asn[row[mask]]
        return _unsort(order, out)

    def locate(self, family: int, values: Sequence[int]) -> list[Hit | None]:
        """Answers for addresses given as integers."""
        located = self.search(family, keys_for(family, values))
        registry_rows = self._gather(family, located.rir_snapshot, located.rir_row)
        routing_rows = self._gather(family, located.asn_snapshot, located.asn_row)
        return [_hit(family, value, registry_rows[n], routing_rows[n]) for n, value in enumerate(values)]

    def _gather(self, family: int, snapshot: npt.NDArray[np.int64], row: npt.NDArray[np.int64]) -> list[_Row | None]:
        """Each address's row as Python values, gathered per snapshot with one fancy index per column."""
        out: list[_Row | None] = [None] * len(snapshot)
        for index in np.unique(snapshot[snapshot >= 0]).tolist():
            info, arrays = self.snapshots[index]
            table = self.table(index, family)
            where = np.flatnonzero(snapshot == index)
            rows = row[where]
            firsts, lasts = _ints(table.first[rows], family), _ints(table.last[rows], family)
            codes = {name: table.codes[name][rows].tolist() for name in ("registry", "country", "status", "holder")}
            asns = table.asn[rows].tolist()
            text = arrays.strings
            for k, n in enumerate(where.tolist()):
                out[n] = _Row(firsts[k], lasts[k], info, text[codes["registry"][k]] or info.source,
                              text[codes["country"][k]] or None, text[codes["status"][k]] or None,
                              text[codes["holder"][k]] or None, asns[k] or None)
        return out


class _Row(NamedTuple):
    first: int
    last: int
    info: SnapshotInfo
    registry: str
    country: str | None
    status: str | None
    holder: str | None
    asn: int | None


def _ints(keys: npt.NDArray[Any], family: int) -> list[int]:
    if family == 4:
        return [int(v) for v in keys.tolist()]
    pairs = np.ascontiguousarray(keys).view(">u8").reshape(-1, 2).tolist()
    return [(hi << 64) | lo for hi, lo in pairs]


def _hit(family: int, value: int, registry: _Row | None, routing: _Row | None) -> Hit | None:
    if registry is None and routing is None:
        return None
    first, last = 0, (1 << (32 if family == 4 else 128)) - 1
    country = status = None
    notes: list[str] = []
    if registry is not None:
        first, last = max(first, registry.first), min(last, registry.last)
        country, status = registry.country, registry.status
    if routing is not None:
        first, last = max(first, routing.first), min(last, routing.last)
        if registry is None:
            country, status = routing.country, routing.status
        elif routing.country and country and routing.country != country:
            notes.append(f"the registry ({registry.registry}) lists country {country}; the routing table (ip2asn) "
                         f"lists {routing.country}")
        if routing.asn is None:
            notes.append(f"not routed in the ip2asn snapshot of {routing.info.snapshot_date}")
    assert first <= value <= last
    return Hit(first, last, routing.asn if routing else None, routing.holder if routing else None,
               registry.registry if registry else None, country, status or "unknown",
               registry.info.snapshot_date if registry else None, routing.info.snapshot_date if routing else None,
               tuple(notes))
