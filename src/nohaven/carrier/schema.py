"""Column layouts of the store: per-source event files and the three derived tables (nat, blocks, identity)."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["BLOCK_SCHEMA", "EVENT_SCHEMA", "IDENTITY_SCHEMA", "KEY_IP", "NAT_SCHEMA", "NAT_VIEW", "ONE_VALUE_COLUMNS",
           "V4_ANY", "constant_array", "null_array", "one_value", "source_id"]

IP = pa.binary(16)
# The addresses a blocks or identity lookup filters on are written as variable-length binary (always 16 bytes),
# not as FIXED_LEN_BYTE_ARRAY(16): Spark hands comparisons on BINARY columns to the Parquet reader, which then
# skips the pages whose column index excludes the address, but keeps every row of a fixed-length column and
# filters them itself (a lookup read the whole day: 10^6 rows scanned for one block, in benchmarks/carrier_pruning).
# DuckDB prunes pages on both through the page index, whose binary minima and maxima are whole; the row groups'
# own statistics are cut to 8 bytes, which IPv4-mapped addresses share.
KEY_IP = pa.binary()

EVENT_SCHEMA = pa.schema([
    ("kind", pa.string()), ("action", pa.int8()), ("t_ms", pa.int64()), ("begin_ms", pa.int64()),
    ("slack_ms", pa.int32()), ("flags", pa.int8()), ("proto", pa.int8()), ("priv_ip", IP), ("priv_port", pa.int32()),
    ("pub_ip", IP), ("pub_port", pa.int32()), ("port_hi", pa.int32()), ("ip_hi", IP), ("dst_ip", IP),
    ("dst_port", pa.int32()), ("subscriber", pa.string()), ("station", pa.string()), ("mac", pa.string()),
    ("hostname", pa.string()), ("session", pa.string()), ("src", pa.int64()), ("line", pa.int64()),
    ("nlines", pa.int32()),
])

_PROVENANCE = [("src", pa.int64()), ("line", pa.int64()), ("nlines", pa.int32()), ("end_src", pa.int64()),
               ("end_line", pa.int64()), ("end_nlines", pa.int32())]

# The NAT table is the bulk of a store, so it keeps the end and the closing line as differences from the start
# and the first line (dur_ms, end_dline): small numbers compress to a third of the absolute ones; and a private
# IPv4 address as an integer (priv_v4), an IPv6 one in priv_ip6. Readers see end_ms, end_line and the 16-byte
# priv_ip again through NAT_VIEW (the same SQL in DuckDB and Spark). Its pub_ip is variable-length binary
# (KEY_IP, always 16 bytes), so that Spark too skips the pages of other addresses (since layout 4).
NAT_SCHEMA = pa.schema([
    ("pub_ip", KEY_IP), ("pub_port", pa.int32()), ("start_ms", pa.int64()), ("dur_ms", pa.int64()),
    ("slack_ms", pa.int32()), ("flags", pa.int8()), ("proto", pa.int8()), ("priv_v4", pa.int64()), ("priv_ip6", IP),
    ("priv_port", pa.int32()), ("src", pa.int64()), ("line", pa.int64()), ("nlines", pa.int32()),
    ("end_src", pa.int64()), ("end_dline", pa.int64()), ("end_nlines", pa.int32()),
])
NAT_VIEW = ("SELECT *, start_ms + dur_ms AS end_ms, line + end_dline AS end_line, "
            "coalesce(priv_ip6, unhex('00000000000000000000ffff' || lpad(hex(priv_v4), 8, '0'))) AS priv_ip FROM {t}")

BLOCK_SCHEMA = pa.schema([
    ("pub_ip", KEY_IP), ("pub_port", pa.int32()), ("port_hi", pa.int32()), ("start_ms", pa.int64()),
    ("end_ms", pa.int64()), ("slack_ms", pa.int32()), ("flags", pa.int8()), ("proto", pa.int8()), ("priv_ip", IP),
    *_PROVENANCE,
])

# ip_lo / ip_hi prune pages in both engines (KEY_IP). lo_v4 / hi_v4: the range as IPv4 integers when both ends
# are IPv4-mapped (else -1 .. 2^62, which every query passes), so that an IPv4 lookup can also skip the files
# and pages, by integer statistics, that the binary ones (cut to 8 bytes by DuckDB) do not exclude.
IDENTITY_SCHEMA = pa.schema([
    ("ip_lo", KEY_IP), ("ip_hi", KEY_IP), ("start_ms", pa.int64()), ("end_ms", pa.int64()), ("slack_ms", pa.int32()),
    ("flags", pa.int8()), ("subscriber", pa.string()), ("station", pa.string()), ("mac", pa.string()),
    ("hostname", pa.string()), ("session", pa.string()), *_PROVENANCE, ("lo_v4", pa.int64()), ("hi_v4", pa.int64()),
])
V4_ANY = (-1, 1 << 62)


_NULLS: dict[pa.DataType, pa.Array] = {}


def null_array(kind: pa.DataType, n: int) -> pa.Array:
    """n NULLs of a type, as a slice of one array kept per type: an event table's columns that a format does not
    fill (seven of them for a NAT line) cost no memory a block, where pa.nulls allocates and zeroes them."""
    held = _NULLS.get(kind)
    if held is None or len(held) < n:
        held = _NULLS[kind] = pa.nulls(max(n, 1 << 18, 2 * len(held) if held is not None else 0), kind)
    return held.slice(0, n)


_CONSTANTS: dict[tuple[pa.DataType, object], pa.Array] = {}
_CONSTANTS_KEPT = 16  # values kept (a source id is one: an ingest of many files adds one each)
_CONSTANTS_LOCK = threading.Lock()  # the event writers' threads and the parse's


def constant_array(kind: pa.DataType, value: object, n: int) -> pa.Array:
    """n copies of a value, as a slice of one array kept for the value (the few used last): a column of one value
    (the source of a file's events, one line a record) costs no memory a batch."""
    key = (kind, value)
    with _CONSTANTS_LOCK:
        held = _CONSTANTS.pop(key, None)
        if held is None or len(held) < n:
            size = max(n, 1 << 18)
            if pa.types.is_integer(kind):
                held = pa.array(np.full(size, value, dtype=kind.to_pandas_dtype()), type=kind)
            else:
                held = pa.array([value] * size, type=kind)
        _CONSTANTS[key] = held  # the last used last
        while len(_CONSTANTS) > _CONSTANTS_KEPT:
            del _CONSTANTS[next(iter(_CONSTANTS))]
    return held.slice(0, n)


# Event columns that often hold one value in all of a batch: the kind, the source, the lines of a record, the
# slack of the format's timestamps, the flags, and a begin most formats leave NULL. The ingest writes such a column
# as a slice of a kept array (constant_array, null_array), a spill file of the ranged build only as its value.
ONE_VALUE_COLUMNS = frozenset({"kind", "src", "nlines", "slack_ms", "flags", "begin_ms"})


def one_value(column: pa.Array | pa.ChunkedArray) -> tuple[bool, object]:
    """Whether every row of a (non-empty) column holds one value, and that value (None: NULL in every row)."""
    n = len(column)
    if n == 0 or 0 < column.null_count < n:
        return False, None
    if column.null_count == n:
        return True, None
    low, high = pc.min_max(column).values()
    return (True, low.as_py()) if low == high else (False, None)


def source_id(content_sha256: str) -> int:
    """A source's id in the tables: the first 63 bits of its content digest (stable whatever the ingest order)."""
    return int(content_sha256[:16], 16) >> 1
