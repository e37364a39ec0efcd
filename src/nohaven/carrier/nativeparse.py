"""The compiled parse path: a block of a10, juniper-rtflow, cisco-asa, conntrack or citrix-lsn lines read in one
pass of C (nohaven.carrier._natparse).

The C parser admits a line only when it fits a strict grammar (for a10 and juniper-rtflow the same one as the
Arrow path's patterns in nohaven.carrier.vectorised): IPv4 dotted quads without leading zeros, ports of at most
five digits and at most 65535, 'T' between date and time, each needed key once, nothing after the last field.
Admitted lines become event columns here; every other line goes to the format's reference parser, in order,
through the same code as the Arrow path (nohaven.carrier.blocks), so rejects keep their reasons. Header times
come back as their fields; a time with an offset is an instant at once, a time without one is placed in the
`--tz` zone once per distinct second by the reference's own function (`iso_stamp`), which decides DST gaps and
repeated hours. Tests pin that the three paths write identical stores.

The extension is built by the install (setup.py) where a C compiler exists; `available()` says whether it
imported, and `NOHAVEN_CARRIER_NATIVE=0` turns it off (the Arrow path is then used).
"""

from __future__ import annotations

import importlib
import os
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from nohaven.carrier.errors import LineRejected, ZoneRequiredError
from nohaven.carrier.formats import ACTION_WHOLE, LogFormat
from nohaven.carrier.formats._syslog import iso_stamp
from nohaven.carrier.schema import EVENT_SCHEMA, null_array

__all__ = ["NATIVE_FORMATS", "NativeParser", "available", "newlines"]

_native: ModuleType | None
try:
    _native = importlib.import_module("nohaven.carrier._natparse")
except ImportError:  # built without a C compiler: the Arrow path serves
    _native = None

if _native is not None and getattr(_native, "ACTION_WHOLE", None) != ACTION_WHOLE:
    # the C file repeats the value, or the extension was built from an older one
    raise RuntimeError("nohaven.carrier._natparse disagrees with formats.ACTION_WHOLE: rebuild it (pip install -e .)")

_CODES = {"a10": 1, "juniper-rtflow": 2, "cisco-asa": 3, "conntrack": 4, "citrix-lsn": 5}
NATIVE_FORMATS = tuple(_CODES)
_NO_DESTINATION = {"cisco-asa"}  # its translation messages name no destination
# Output columns of _natparse.parse, in its order: name, numpy dtype, bytes per line.
_COLUMNS = (("ok", np.uint8, 1), ("start", np.int64, 1), ("end", np.int64, 1), ("action", np.int8, 1),
            ("sec", np.int64, 1), ("off", np.int32, 1), ("wall", np.uint8, 1), ("frac", np.int16, 1),
            ("res", np.int16, 1), ("proto", np.int8, 1), ("priv_ip", np.uint8, 16), ("priv_port", np.int32, 1),
            ("pub_ip", np.uint8, 16), ("pub_port", np.int32, 1), ("dst_ip", np.uint8, 16),
            ("dst_port", np.int32, 1), ("elapsed", np.int64, 1))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def available() -> bool:
    """Whether the compiled parser imported and is not turned off by NOHAVEN_CARRIER_NATIVE=0."""
    return _native is not None and os.environ.get("NOHAVEN_CARRIER_NATIVE", "1") != "0"


def newlines(data: bytes) -> int:
    """How many newline bytes `data` holds (memchr in C where built, without holding the GIL)."""
    return int(_native.newlines(data)) if _native is not None else data.count(b"\n")


def scan(data: bytes) -> tuple[int, int]:
    """(newline bytes, carriage-return bytes) of `data`, in one pass where the extension is built."""
    if _native is not None:
        nl, cr = _native.scan(data)
        return int(nl), int(cr)
    return data.count(b"\n"), data.count(b"\r")


# The event columns compact() fills, in its order: name, numpy dtype, elements per line (0: a bitmap).
_EVENT_OUT = (("kind_offsets", np.int32, 1), ("kind_data", np.uint8, 3), ("action", np.int8, 1),
              ("t_ms", np.int64, 1), ("begin_ms", np.int64, 1), ("begin_valid", np.uint8, 0),
              ("slack_ms", np.int32, 1), ("flags", np.int8, 1), ("proto", np.int8, 1), ("priv_ip", np.uint8, 16),
              ("priv_port", np.int32, 1), ("pub_ip", np.uint8, 16), ("pub_port", np.int32, 1),
              ("dst_ip", np.uint8, 16), ("dst_ip_valid", np.uint8, 0), ("dst_port", np.int32, 1),
              ("dst_port_valid", np.uint8, 0), ("src", np.int64, 1), ("line", np.int64, 1), ("nlines", np.int32, 1),
              ("rest", np.int32, 1))


class NativeParser:
    """A format's compiled parser; `parse` gives the admitted lines' event table and the lines it left."""

    def __init__(self, reference: LogFormat) -> None:
        if _native is None:
            raise RuntimeError("the compiled carrier parser is not built (install with a C compiler)")
        self.name = reference.name
        self.code = _CODES[reference.name]
        self.destination = reference.name not in _NO_DESTINATION
        self.reference = reference
        self.zone: ZoneInfo | None = reference.zone
        self._seconds: dict[int, tuple[int, int, int] | None] = {}

    def parse(self, data: bytes, first_line: int, src: int,
              lines: int | None = None) -> tuple[pa.Table, list[tuple[int, str]], int]:
        """(events of admitted lines in line order, (number, text) of the others, lines in the block). `lines`:
        the block's newline bytes, where the caller counted them."""
        assert _native is not None
        capacity = (newlines(data) if lines is None else lines) + 1
        cols: dict[str, Any] = {name: np.empty(capacity * width, dtype=dtype) for name, dtype, width in _COLUMNS}
        parsed = tuple(cols.values())
        n = _native.parse(self.code, data, parsed)
        placed = None
        wall = np.flatnonzero((cols["wall"][:n] == 1) & (cols["ok"][:n] == 1))
        if len(wall):  # local times: placed in the zone once per distinct second, by the reference's function
            seconds, index = np.unique(cols["sec"][wall], return_inverse=True)
            table = np.array([self._place(int(s)) or (0, 0, -1) for s in seconds], dtype=np.int64).reshape(-1, 3)
            placed = tuple(np.zeros(n, dtype=np.int64) for _ in range(3))
            for column, values in zip(placed, table.T, strict=True):
                column[wall] = values[index]
        out = {name: np.empty(max(n * width, 1) + (4 if name == "kind_offsets" else 0) if width else (n + 7) // 8 + 1,
                              dtype=dtype) for name, dtype, width in _EVENT_OUT}
        kept, left = _native.compact(n, parsed, placed, first_line, src, self.destination, tuple(out.values()))
        events = _table(kept, out, self.destination)
        starts, ends = cols["start"], cols["end"]
        rest = [(first_line + int(i), data[starts[i]:ends[i]].decode("utf-8", "backslashreplace"))
                for i in out["rest"][:left]]
        return events, rest, n

    def _place(self, second: int) -> tuple[int, int, int] | None:
        """Milliseconds, slack and flags of a local wall-clock second, or None where the reference refuses it."""
        if second in self._seconds:
            return self._seconds[second]
        wall = _EPOCH + timedelta(seconds=second)
        placed: tuple[int, int, int] | None = None
        if wall.year >= 1000:
            try:
                stamp = iso_stamp(f"{wall:%Y-%m-%dT%H:%M:%S}", None, None, self.zone, self.reference.require_zone)
                placed = (stamp.ms, stamp.slack_ms, stamp.flags)
            except (LineRejected, ZoneRequiredError):
                placed = None
        if len(self._seconds) > 100_000:
            self._seconds.clear()
        self._seconds[second] = placed
        return placed


def _table(k: int, out: dict[str, np.ndarray], destination: bool) -> pa.Table:
    """The events schema's columns of the k admitted lines, over compact()'s buffers (no copy)."""
    def fixed(name: str, kind: pa.DataType, width: int) -> pa.Array:
        return pa.Array.from_buffers(kind, k, [None, pa.py_buffer(out[name][: k * width])])

    def valid(name: str) -> pa.Buffer:
        return pa.py_buffer(out[name][: (k + 7) // 8])

    values: dict[str, pa.Array] = {
        "kind": pa.StringArray.from_buffers(k, pa.py_buffer(out["kind_offsets"][: k + 1]),
                                            pa.py_buffer(out["kind_data"][: 3 * k])),
        "action": fixed("action", pa.int8(), 1),
        "t_ms": fixed("t_ms", pa.int64(), 1),
        "begin_ms": pa.Array.from_buffers(pa.int64(), k, [valid("begin_valid"), pa.py_buffer(out["begin_ms"][:k])],
                                          null_count=-1),
        "slack_ms": fixed("slack_ms", pa.int32(), 1),
        "flags": fixed("flags", pa.int8(), 1),
        "proto": fixed("proto", pa.int8(), 1),
        "priv_ip": fixed("priv_ip", pa.binary(16), 16),
        "priv_port": fixed("priv_port", pa.int32(), 1),
        "pub_ip": fixed("pub_ip", pa.binary(16), 16),
        "pub_port": fixed("pub_port", pa.int32(), 1),
        "src": fixed("src", pa.int64(), 1),
        "line": fixed("line", pa.int64(), 1),
        "nlines": fixed("nlines", pa.int32(), 1),
    }
    if destination:
        values["dst_ip"] = pa.Array.from_buffers(pa.binary(16), k, [valid("dst_ip_valid"),
                                                                    pa.py_buffer(out["dst_ip"][: 16 * k])],
                                                 null_count=-1)
        values["dst_port"] = pa.Array.from_buffers(pa.int32(), k, [valid("dst_port_valid"),
                                                                   pa.py_buffer(out["dst_port"][:k])], null_count=-1)
    arrays = [values[f.name] if f.name in values else null_array(f.type, k) for f in EVENT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
