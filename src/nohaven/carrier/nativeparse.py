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
import pyarrow.compute as pc

from nohaven.carrier.errors import LineRejected, ZoneRequiredError
from nohaven.carrier.formats import ACTION_WHOLE, LogFormat
from nohaven.carrier.formats._syslog import iso_stamp
from nohaven.carrier.schema import EVENT_SCHEMA

__all__ = ["NATIVE_FORMATS", "NativeParser", "available", "newlines"]

_native: ModuleType | None
try:
    _native = importlib.import_module("nohaven.carrier._natparse")
except ImportError:  # built without a C compiler: the Arrow path serves
    _native = None

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

    def parse(self, data: bytes, first_line: int, src: int) -> tuple[pa.Table, list[tuple[int, str]], int]:
        """(events of admitted lines in line order, (number, text) of the others, lines in the block)."""
        assert _native is not None
        capacity = newlines(data) + 1
        cols: dict[str, Any] = {name: np.empty(capacity * width, dtype=dtype) for name, dtype, width in _COLUMNS}
        n = _native.parse(self.code, data, tuple(cols.values()))
        ok = cols["ok"][:n].astype(bool)
        wall = ok & (cols["wall"][:n] == 1)
        frac = cols["frac"][:n].astype(np.int64)
        res = cols["res"][:n].astype(np.int64)
        ms = (cols["sec"][:n] - cols["off"][:n]) * 1000 + frac
        slack = res.copy()
        flags = np.zeros(n, dtype=np.int64)
        if wall.any():
            rows = np.flatnonzero(wall)
            seconds, index = np.unique(cols["sec"][rows], return_inverse=True)
            placed = np.array([self._place(int(s)) or (0, 0, -1) for s in seconds], dtype=np.int64).reshape(-1, 3)
            table = placed[index]
            ms[rows] = table[:, 0] + frac[rows]
            slack[rows] = table[:, 1] - 1000 + res[rows]
            flags[rows] = table[:, 2]
            ok[rows[table[:, 2] < 0]] = False  # the reference says why, line by line
        action = cols["action"][:n]
        whole = ok & (action == ACTION_WHOLE)
        elapsed = cols["elapsed"][:n]
        begin = ms - elapsed * 1000 - 1000
        slack = np.where(whole, slack + 1000, slack)
        keep = np.flatnonzero(ok)
        numbers = np.arange(first_line, first_line + n, dtype=np.int64)
        events = _table(keep, numbers, src, action, ms, begin, whole, slack, flags, cols, self.destination)
        starts, ends = cols["start"], cols["end"]
        rest = [(int(numbers[i]), data[starts[i]:ends[i]].decode("utf-8", "backslashreplace"))
                for i in np.flatnonzero(~ok)]
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


def _table(keep: np.ndarray, numbers: np.ndarray, src: int, action: np.ndarray, ms: np.ndarray, begin: np.ndarray,
           whole: np.ndarray, slack: np.ndarray, flags: np.ndarray, cols: dict[str, Any],
           destination: bool) -> pa.Table:
    """The events schema's columns for the rows `keep`, built from buffers (no Python objects per row)."""
    k = len(keep)
    values: dict[str, pa.Array] = {
        "kind": pa.StringArray.from_buffers(k, pa.py_buffer(np.arange(0, 3 * k + 1, 3, dtype=np.int32).tobytes()),
                                            pa.py_buffer(b"nat" * k)),
        "action": pa.array(action[keep], pa.int8()),
        "t_ms": pa.array(ms[keep], pa.int64()),
        "begin_ms": pa.array(begin[keep], pa.int64(), mask=~whole[keep]),
        "slack_ms": pa.array(slack[keep].astype(np.int32), pa.int32()),
        "flags": pa.array(flags[keep].astype(np.int8), pa.int8()),
        "proto": pa.array(cols["proto"][keep], pa.int8()),
        "priv_port": pa.array(cols["priv_port"][keep], pa.int32()),
        "pub_port": pa.array(cols["pub_port"][keep], pa.int32()),

        "src": pa.array(np.full(k, src, dtype=np.int64)),
        "line": pa.array(numbers[keep]),
        "nlines": pa.array(np.ones(k, dtype=np.int32)),
    }
    for name in ("priv_ip", "pub_ip", "dst_ip") if destination else ("priv_ip", "pub_ip"):
        matrix = cols[name][: 16 * len(numbers)].reshape(-1, 16)[keep]
        values[name] = pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), k, [None, pa.py_buffer(matrix.tobytes())])
    if destination:  # a port of -1: none logged; -2: no destination logged
        port = cols["dst_port"][keep]
        values["dst_port"] = pa.array(port, pa.int32(), mask=port < 0)
        if (port == -2).any():
            values["dst_ip"] = pc.if_else(pa.array(port == -2), pa.nulls(k, pa.binary(16)), values["dst_ip"])
    arrays = [values[f.name] if f.name in values else pa.nulls(k, f.type) for f in EVENT_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)
