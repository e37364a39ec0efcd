"""The snapshots in force at one instant, searched together: one batched search per snapshot and family, then
per address the best answer of each kind (RIR, ip2asn)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from nohaven.errors import InputError
from nohaven.tracing._ipdata_arrays import FamilyTable, SnapshotArrays, halves, keys_v6

if TYPE_CHECKING:
    from nohaven.tracing.ipdata import SnapshotInfo

__all__ = ["Hit", "Located", "SnapshotView", "cidr_within", "format_ip", "keys_for", "parse_ip"]

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


def address_text(value: int, family: int) -> str:
    """An integer as address text of its family."""
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))


def cidr_within(value: int, first: int, last: int, family: int) -> str:
    """The largest CIDR block that holds `value` and lies inside [first, last] (a range of any size)."""
    bits = 32 if family == 4 else 128
    for length in range(bits + 1):
        size = 1 << (bits - length)
        block = value & ~(size - 1)
        if block >= first and block + size - 1 <= last:
            return f"{address_text(block, family)}/{length}"
    return f"{address_text(value, family)}/{bits}"  # pragma: no cover - the /bits block always fits


def keys_for(family: int, values: Sequence[int]) -> npt.NDArray[Any]:
    """Search keys for addresses given as integers."""
    if family == 4:
        return np.fromiter(values, dtype=np.uint32, count=len(values))
    return keys_v6(*halves(list(values)))


def _key_int(key: bytes) -> int:
    # numpy hands back fixed-width byte strings without their trailing NUL bytes.
    return int.from_bytes(key.ljust(16, b"\0"), "big")


@dataclass(frozen=True)
class Located:
    """Per address: index (into the view's snapshots) and row of the best RIR and ip2asn answer, -1 for none."""

    rir_snapshot: npt.NDArray[np.int64]
    rir_row: npt.NDArray[np.int64]
    asn_snapshot: npt.NDArray[np.int64]
    asn_row: npt.NDArray[np.int64]


@dataclass(frozen=True)
class Hit:
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
        self._handed_out = [np.array([n for n, s in enumerate(arrays.strings) if s in HANDED_OUT], dtype=np.int32)
                            for _, arrays in self.snapshots]

    def table(self, index: int, family: int) -> FamilyTable:
        arrays = self.snapshots[index][1]
        return arrays.v4 if family == 4 else arrays.v6

    def search(self, family: int, keys: npt.NDArray[Any]) -> Located:
        """Batched search of every snapshot in force; keys from `keys_for`."""
        found: list[npt.NDArray[np.int64]] = []
        for kind in ("rir", "ip2asn"):
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
            found += [best_snapshot, best_row]
        return Located(*found)

    def asn_numbers(self, family: int, keys: npt.NDArray[Any]) -> npt.NDArray[np.uint32]:
        """The autonomous system announcing each address (0 for none), all in arrays: the fast path."""
        located = self.search(family, keys)
        out = np.zeros(len(keys), dtype=np.uint32)
        for index in np.unique(located.asn_snapshot[located.asn_snapshot >= 0]):
            mask = located.asn_snapshot == index
            out[mask] = self.table(int(index), family).asn[located.asn_row[mask]]
        return out

    def locate(self, family: int, values: Sequence[int]) -> list[Hit | None]:
        """Answers for addresses given as integers."""
        located = self.search(family, keys_for(family, values))
        return [self._hit(family, value, int(located.rir_snapshot[n]), int(located.rir_row[n]),
                          int(located.asn_snapshot[n]), int(located.asn_row[n]))
                for n, value in enumerate(values)]

    def _bounds(self, index: int, row: int, family: int) -> tuple[int, int]:
        table = self.table(index, family)
        if family == 4:
            return int(table.first[row]), int(table.last[row])
        return _key_int(table.first[row]), _key_int(table.last[row])

    def _hit(self, family: int, value: int, rir_index: int, rir_row: int, asn_index: int,
             asn_row: int) -> Hit | None:
        if rir_index < 0 and asn_index < 0:
            return None
        first, last = 0, (1 << (32 if family == 4 else 128)) - 1
        registry = country = status = holder = None
        asn: int | None = None
        rir_day = asn_day = None
        notes: list[str] = []
        if rir_index >= 0:
            info, arrays = self.snapshots[rir_index]
            table = self.table(rir_index, family)
            low, high = self._bounds(rir_index, rir_row, family)
            first, last = max(first, low), min(last, high)
            registry = arrays.text(int(table.codes["registry"][rir_row])) or info.source
            country = arrays.text(int(table.codes["country"][rir_row]))
            status = arrays.text(int(table.codes["status"][rir_row]))
            rir_day = info.snapshot_date
        if asn_index >= 0:
            info, arrays = self.snapshots[asn_index]
            table = self.table(asn_index, family)
            low, high = self._bounds(asn_index, asn_row, family)
            first, last = max(first, low), min(last, high)
            asn = int(table.asn[asn_row]) or None
            holder = arrays.text(int(table.codes["holder"][asn_row]))
            routed_country = arrays.text(int(table.codes["country"][asn_row]))
            asn_day = info.snapshot_date
            if rir_index < 0:
                country = routed_country
                status = arrays.text(int(table.codes["status"][asn_row]))
            elif routed_country and country and routed_country != country:
                notes.append(f"the registry ({registry}) lists country {country}; the routing table (ip2asn) "
                             f"lists {routed_country}")
            if asn is None:
                notes.append(f"not routed in the ip2asn snapshot of {asn_day}")
        assert first <= value <= last
        return Hit(first, last, asn, holder, registry, country, status or "unknown", rir_day, asn_day, tuple(notes))
