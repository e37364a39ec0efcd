"""The on-disk and in-memory form of one snapshot: sorted integer arrays searched in batches.

Each address family is a table of non-overlapping ranges sorted by first address. IPv4 addresses are uint32;
IPv6 addresses are stored as two uint64 halves and searched as 16-byte big-endian strings, whose byte order is
the numeric order, so one `numpy.searchsorted` answers a whole batch in both families. Attributes are small
integer codes into the snapshot's string table (0 = none).
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nohaven.tracing.rir import FamilyColumns, ParsedFile

__all__ = ["FamilyTable", "SnapshotArrays", "build_arrays", "keys_v6", "search"]

HALF = (1 << 64) - 1
ATTRIBUTES = ("registry", "country", "status", "holder")


def keys_v6(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> npt.NDArray[Any]:
    """128-bit addresses as sortable 16-byte strings (big-endian halves)."""
    pair = np.empty((len(hi), 2), dtype=">u8")
    pair[:, 0] = hi
    pair[:, 1] = lo
    return pair.view("S16").ravel()


def halves(values: list[int]) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Python integers below 2**128 as (high, low) uint64 arrays."""
    hi = np.fromiter((v >> 64 for v in values), dtype=np.uint64, count=len(values))
    lo = np.fromiter((v & HALF for v in values), dtype=np.uint64, count=len(values))
    return hi, lo


@dataclass(frozen=True)
class FamilyTable:
    """Sorted ranges of one family; `first`/`last` are uint32 (IPv4) or S16 keys (IPv6)."""

    family: int
    first: npt.NDArray[Any]
    last: npt.NDArray[Any]
    asn: npt.NDArray[np.uint32]
    codes: dict[str, npt.NDArray[np.int32]]

    def __len__(self) -> int:
        return len(self.first)

    def search(self, keys: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Row of the range holding each key, -1 where none does."""
        return search(self.first, self.last, keys)


def search(first: npt.NDArray[Any], last: npt.NDArray[Any], keys: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Batched search over sorted non-overlapping ranges: the last range starting at or before each key, kept
    when the key is not past its end."""
    if len(first) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    pos = np.searchsorted(first, keys, side="right").astype(np.int64) - 1
    found = pos >= 0
    clipped = np.where(found, pos, 0)
    found &= keys <= last[clipped]
    return np.where(found, pos, -1)


@dataclass(frozen=True)
class SnapshotArrays:
    """The two family tables and the string table of one snapshot."""

    strings: list[str]
    v4: FamilyTable
    v6: FamilyTable
    _codes_cache: dict[tuple[str, ...], npt.NDArray[np.int32]] = field(default_factory=dict, repr=False,
                                                                      compare=False)

    def text(self, code: int) -> str | None:
        """The string behind a code (None for 0)."""
        return self.strings[code] if code else None

    def codes_of(self, values: tuple[str, ...]) -> npt.NDArray[np.int32]:
        """The codes of these strings (remembered: the table of a big snapshot is long)."""
        if values not in self._codes_cache:
            self._codes_cache[values] = np.array([n for n, s in enumerate(self.strings) if s in values],
                                                 dtype=np.int32)
        return self._codes_cache[values]

    def save(self, path: Path) -> None:
        """Write to `path` atomically (a temporary file renamed into place)."""
        v6_first = self.v6.first.view(">u8").reshape(-1, 2)
        v6_last = self.v6.last.view(">u8").reshape(-1, 2)
        arrays: dict[str, npt.NDArray[Any]] = {
            **_pack_strings(self.strings),
            "v4_first": self.v4.first, "v4_last": self.v4.last, "v4_asn": self.v4.asn,
            "v6_first_hi": v6_first[:, 0].astype(np.uint64), "v6_first_lo": v6_first[:, 1].astype(np.uint64),
            "v6_last_hi": v6_last[:, 0].astype(np.uint64), "v6_last_lo": v6_last[:, 1].astype(np.uint64),
            "v6_asn": self.v6.asn,
        }
        for name in ATTRIBUTES:
            arrays[f"v4_{name}"] = self.v4.codes[name]
            arrays[f"v6_{name}"] = self.v6.codes[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)  # type: ignore[arg-type]
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, path: Path) -> SnapshotArrays:
        """Read a snapshot written by `save`."""
        with np.load(path, allow_pickle=False) as data:
            strings = _unpack_strings(data["strings_utf8"], data["strings_ends"])
            v4 = FamilyTable(4, data["v4_first"], data["v4_last"], data["v4_asn"],
                             {name: data[f"v4_{name}"] for name in ATTRIBUTES})
            v6 = FamilyTable(6, keys_v6(data["v6_first_hi"], data["v6_first_lo"]),
                             keys_v6(data["v6_last_hi"], data["v6_last_lo"]), data["v6_asn"],
                             {name: data[f"v6_{name}"] for name in ATTRIBUTES})
        return cls(strings, v4, v6)


def _pack_strings(strings: list[str]) -> dict[str, npt.NDArray[Any]]:
    # One UTF-8 blob and the end offset of each string: a fixed-width numpy string array would pad every holder
    # name to the longest one.
    encoded = [s.encode("utf-8") for s in strings]
    ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
    return {"strings_utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8), "strings_ends": ends}


def _unpack_strings(blob: npt.NDArray[np.uint8], ends: npt.NDArray[np.int64]) -> list[str]:
    data = blob.tobytes()
    out, start = [], 0
    for end in ends.tolist():
        out.append(data[start:end].decode("utf-8"))
        start = end
    return out


def build_arrays(parsed: ParsedFile) -> SnapshotArrays:
    """Sort each family's ranges; a range overlapping an earlier one is reported as a bad line and left out
    (a lookup must never have two answers from one file)."""
    strings = [""]
    index: dict[str, int] = {"": 0}

    def code(value: str) -> int:
        if value not in index:
            index[value] = len(strings)
            strings.append(value)
        return index[value]

    tables = [_table(parsed, parsed.v4, 4, code), _table(parsed, parsed.v6, 6, code)]
    return SnapshotArrays(strings, tables[0], tables[1])


def _table(parsed: ParsedFile, columns: FamilyColumns, family: int, code: Any) -> FamilyTable:
    order = sorted(range(len(columns)), key=lambda i: (columns.first[i], columns.last[i]))
    kept: list[int] = []
    end = -1
    end_line = 0
    for i in order:
        if columns.first[i] <= end:
            parsed.bad(columns.line[i], f"{_show(columns.first[i], family)}-{_show(columns.last[i], family)}",
                       f"overlaps the range of line {end_line}; left out")
            continue
        kept.append(i)
        end, end_line = columns.last[i], columns.line[i]
    firsts = [columns.first[i] for i in kept]
    lasts = [columns.last[i] for i in kept]
    if family == 4:
        first: npt.NDArray[Any] = np.array(firsts, dtype=np.uint32)
        last: npt.NDArray[Any] = np.array(lasts, dtype=np.uint32)
    else:
        first, last = keys_v6(*halves(firsts)), keys_v6(*halves(lasts))
    codes = {name: np.array([code(getattr(columns, name)[i]) for i in kept], dtype=np.int32)
             for name in ATTRIBUTES}
    asn = np.array([columns.asn[i] for i in kept], dtype=np.uint32)
    return FamilyTable(family, first, last, asn, codes)


def _show(value: int, family: int) -> str:
    return str(ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value))
