"""The vectorised parse path: whole blocks of lines parsed by Arrow's RE2 kernels instead of line by line
(a10, juniper-rtflow, f5-lsn; nohaven.carrier.blocks drives them).

A block is a run of complete lines from the decompressed text. A format's fast parser matches each line against
one strict, anchored pattern that admits only lines whose meaning is certain (IPv4 dotted quads without leading
zeros, ports of at most five digits, no escapes, each needed key present once). Lines it admits become events
column by column; every other line (IPv6, local times the zone cannot place, odd spacing, anything to reject) is
handed to the format's reference parser, one line at a time, in order, so rejects and ignored lines keep the
reasons that parser gives. A test pins that both paths write byte-identical stores.

Header times are parsed once per distinct second and offset (logs repeat each second many times) with the same
function the reference parser uses, so DST gaps, repeated hours and `--tz` are decided in one place; the
fraction of a second is added column-wise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nohaven.carrier.errors import LineRejected, ZoneRequiredError
from nohaven.carrier.formats import ACTION_END, ACTION_START, ACTION_WHOLE, LogFormat
from nohaven.carrier.formats._syslog import iso_stamp

__all__ = ["A10Fast", "F5LsnFast", "FastParser", "JuniperRtFlowFast", "address_array"]

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _ipv4(name: str) -> str:
    return r"\.".join(f"(?P<{name}{i}>{_OCTET[1:-1]})" for i in range(4))


_TS = r"(?P<dt>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?P<frac>\.\d+)?(?P<off>Z|[+-]\d\d:?\d\d)?"
_PROTO = {"TCP": 6, "UDP": 17, "ICMP": 1}


class FastParser(ABC):
    """A format's vectorised parser; subclasses give the pattern and turn its groups into event columns."""

    name: ClassVar[str]
    pattern: ClassVar[str]

    def __init__(self, zone: ZoneInfo | None, reference: LogFormat) -> None:
        self.zone = zone
        self.reference = reference
        self._times: dict[str, tuple[int, int, int] | None] = {}

    def admit(self, lines: pa.Array) -> tuple[pa.StructArray, np.ndarray]:
        """The pattern's groups and which lines it admits."""
        groups = pc.extract_regex(lines, self.pattern)
        return groups, np.asarray(groups.is_valid().to_numpy(zero_copy_only=False), dtype=bool)

    @abstractmethod
    def columns(self, lines: pa.Array, g: pa.StructArray, ok: np.ndarray) -> dict[str, pa.Array | np.ndarray]:
        """Event columns of the admitted rows of `g`; may clear entries of `ok` to hand a line to the reference."""

    # -- shared pieces ------------------------------------------------------------------------------------------
    def header_times(self, g: pa.StructArray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Milliseconds, slack and flags of the header times; a time the reference would refuse clears `ok`.

        Times with an offset are computed column-wise; local times (and offsets out of the usual range) are
        placed once per distinct second by the reference's own function, which decides DST gaps and folds.
        """
        dt = pc.fill_null(pc.struct_field(g, "dt"), "0000-00-00T00:00:00")
        off = pc.fill_null(pc.struct_field(g, "off"), "")
        year, month, day, hour, minute, second = (_digits(dt, a, b) for a, b in _DT_FIELDS)
        off_len = pc.utf8_length(off).to_numpy(zero_copy_only=False)
        sign = np.where(_starts(off, "-"), -1, 1)
        hhmm = pc.utf8_rpad(pc.replace_substring(off, ":", ""), 5, "0")  # "+0100"; "Z" and "" give zeros
        off_h, off_m = _digits(hhmm, 1, 3), _digits(hhmm, 3, 5)
        valid = ((year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= _month_days(year, month))
                 & (hour <= 23) & (minute <= 59) & (second <= 59))
        zoned = (off_len == 1) | (((off_len == 5) | (off_len == 6)) & (off_h <= 23) & (off_m <= 59))
        seconds = (_civil_days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
                   - sign * (off_h * 3600 + off_m * 60))
        base = np.stack([seconds * 1000, np.full(len(dt), 1000), np.zeros(len(dt), dtype=np.int64)], axis=1)
        ok &= valid | ~zoned
        local = ok & ~zoned
        if local.any():
            rows = np.flatnonzero(local)
            keys = pc.binary_join_element_wise(dt.take(pa.array(rows)), off.take(pa.array(rows)),
                                               pa.scalar("|", pa.large_string()))
            encoded = pc.dictionary_encode(keys)
            table = np.zeros((len(encoded.dictionary), 3), dtype=np.int64)
            placed = np.ones(len(encoded.dictionary), dtype=bool)
            for i, key in enumerate(encoded.dictionary.to_pylist()):
                stamp = self._times.get(key, ())
                if stamp == ():
                    stamp = self._second(key)
                    if len(self._times) > 100_000:
                        self._times.clear()
                    self._times[key] = stamp
                if stamp is None:
                    placed[i] = False
                else:
                    table[i] = stamp
            index = encoded.indices.to_numpy(zero_copy_only=False)
            base[rows] = table[index]
            ok[rows] &= placed[index]
        frac = pc.struct_field(g, "frac")
        # An absent optional group comes out empty or null: both mean whole seconds.
        digits = np.maximum(pc.fill_null(pc.subtract(pc.utf8_length(frac), 1), 0).to_numpy(zero_copy_only=False), 0)
        millis = pc.cast(pc.utf8_rpad(pc.utf8_slice_codeunits(pc.fill_null(frac, ".0"), 1, 4), 3, "0"), pa.int64())
        ms = base[:, 0] + millis.to_numpy(zero_copy_only=False)
        resolution = np.where(digits == 0, 1000, np.where(digits == 1, 100, np.where(digits == 2, 10, 1)))
        slack = base[:, 1] - 1000 + resolution
        return ms, slack, base[:, 2]

    def _second(self, key: str) -> tuple[int, int, int] | None:
        dt, _, off = key.partition("|")
        if not dt:
            return None  # a line the pattern did not admit
        try:
            stamp = iso_stamp(dt, None, off or None, self.zone, self.reference.require_zone)
        except (LineRejected, ZoneRequiredError):
            return None  # the reference parser says why, line by line
        return stamp.ms, stamp.slack_ms, stamp.flags

    @staticmethod
    def ipv4(g: pa.StructArray, name: str) -> np.ndarray:
        """Sixteen-byte IPv4-mapped addresses from four octet groups, as an (n, 16) byte matrix."""
        out = np.zeros((len(g), 16), dtype=np.uint8)
        out[:, 10:12] = 0xFF
        for i in range(4):
            octet = pc.cast(pc.fill_null(pc.struct_field(g, f"{name}{i}"), "0"), pa.uint8())
            out[:, 12 + i] = octet.to_numpy(zero_copy_only=False)
        return out

    @staticmethod
    def integer(g: pa.StructArray, name: str, fill: str = "0") -> np.ndarray:
        values = pc.cast(pc.fill_null(pc.struct_field(g, name), fill), pa.int64())
        return np.asarray(values.to_numpy(zero_copy_only=False))


_DT_FIELDS = ((0, 4), (5, 7), (8, 10), (11, 13), (14, 16), (17, 19))


def _digits(text: pa.Array, start: int, stop: int) -> np.ndarray:
    """The integer in characters start..stop of each string (digits, as the patterns guarantee)."""
    part = pc.utf8_slice_codeunits(text, start, stop)
    return np.asarray(pc.cast(part, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _starts(text: pa.Array, prefix: str) -> np.ndarray:
    return np.asarray(pc.starts_with(text, prefix).to_numpy(zero_copy_only=False), dtype=bool)


def _month_days(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
    return np.where((month == 2) & leap, 29, days)


def _civil_days(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return np.asarray(era * 146097 + doe - 719468, dtype=np.int64)


def _is(g: pa.StructArray, name: str, value: str) -> np.ndarray:
    """Where group `name` equals `value` (False where the line was not admitted)."""
    return np.asarray(pc.fill_null(pc.equal(pc.struct_field(g, name), value), False).to_numpy(zero_copy_only=False),
                      dtype=bool)


def address_array(matrix: np.ndarray) -> pa.Array:
    """A 16-byte binary column from an (n, 16) byte matrix."""
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(16), len(matrix), [None, pa.py_buffer(matrix.tobytes())])


_IP = r"\.".join([f"(?:{_OCTET[1:-1]})"] * 4)
_TS_SHAPE = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?"
_TS_REST = r"^(?P<frac>\.\d+)?(?P<off>Z|[+-]\d\d:?\d\d)?$"


class A10Fast(FastParser):
    """One capture-free pass checks the whole line (RE2's fast automaton); the fields are then cut by separators."""

    name = "a10"
    pattern = (rf"^{_TS_SHAPE} [\w.-]+ NAT-(?:TCP|UDP|ICMP)-[CF]: {_IP}:\d{{1,5}}<->{_IP}:\d{{1,5}},"
               rf"{_IP}:\d{{1,5}}<-->{_IP}:\d{{1,5}}$")
    _filler = "1970-01-01T00:00:00Z - NAT-TCP-C: 0.0.0.0:0<->0.0.0.0:0,0.0.0.0:0<-->0.0.0.0:0"

    def admit(self, lines: pa.Array) -> tuple[pa.StructArray, np.ndarray]:
        ok = _bool(pc.match_substring_regex(lines, self.pattern))
        # Lines not admitted are replaced by a filler of the same shape, so every line cuts into the same pieces.
        shaped = pc.if_else(pa.array(ok), lines, pa.scalar(self._filler, pa.large_string()))
        parts = _cut(shaped, " ", 4)  # time, host, message tag, the two address pairs
        times = parts[0]
        rest = pc.extract_regex(pc.utf8_slice_codeunits(times, 19, 64), _TS_REST)
        pairs = pc.replace_substring(pc.replace_substring(pc.replace_substring(parts[3], "<-->", ":"), "<->", ":"),
                                     ",", ":")
        fields = _cut(pairs, ":", 8)
        names = ["dt", "frac", "off", "tag", "priv", "pport", "dst", "dport", "pub", "nport"]
        arrays = [pc.utf8_slice_codeunits(times, 0, 19), pc.struct_field(rest, "frac"), pc.struct_field(rest, "off"),
                  parts[2], *fields[:6]]
        return pa.StructArray.from_arrays(arrays, names=names), ok

    def columns(self, lines: pa.Array, g: pa.StructArray, ok: np.ndarray) -> dict[str, pa.Array | np.ndarray]:
        ms, slack, flags = self.header_times(g, ok)
        ports = {k: self.integer(g, k) for k in ("pport", "dport", "nport")}
        for port in ports.values():
            ok &= port <= 65535  # the reference rejects these with its reason
        tag = pc.struct_field(g, "tag")  # NAT-TCP-C:
        proto_name = pc.utf8_slice_codeunits(tag, 4, -3)
        proto = np.select([_equal(proto_name, p) for p in ("TCP", "UDP")], [6, 17], 1)
        action = np.where(_equal(pc.utf8_slice_codeunits(tag, -2, -1), "C"), ACTION_START, ACTION_END)
        return {"action": action, "t_ms": ms, "slack_ms": slack, "flags": flags, "proto": proto,
                "priv_ip": _dotted(pc.struct_field(g, "priv")), "priv_port": ports["pport"],
                "pub_ip": _dotted(pc.struct_field(g, "pub")), "pub_port": ports["nport"],
                "dst_ip": _dotted(pc.struct_field(g, "dst")), "dst_port": ports["dport"]}


def _cut(values: pa.Array, separator: str, count: int) -> list[pa.Array]:
    """The pieces of strings that each hold exactly `count` pieces between `separator`s."""
    flat = pc.split_pattern(values, separator).flatten()
    stride = np.arange(len(values)) * count
    return [flat.take(pa.array(stride + i)) for i in range(count)]


def _dotted(values: pa.Array) -> np.ndarray:
    """Sixteen-byte IPv4-mapped addresses of dotted quads the pattern has already checked."""
    out = np.zeros((len(values), 16), dtype=np.uint8)
    out[:, 10:12] = 0xFF
    octets = pc.cast(pc.split_pattern(values, ".").flatten(), pa.uint8()).to_numpy(zero_copy_only=False)
    out[:, 12:] = octets.reshape(len(values), 4)
    return out


def _equal(values: pa.Array, text: str) -> np.ndarray:
    return np.asarray(pc.equal(values, text).to_numpy(zero_copy_only=False), dtype=bool)


_PARAM = r'(?: [\w.-]+="[^"\\]*")'
_KEYS = ("source-address", "source-port", "destination-address", "destination-port", "nat-source-address",
         "nat-source-port", "protocol-id", "elapsed-time")


class JuniperRtFlowFast(FastParser):
    """Checked in passes cheap for RE2: the line's whole shape (no captures) and its header; the pairs are then cut
    at their quotes in one pass and the needed keys found by a hash lookup (`_pairs`)."""

    name = "juniper-rtflow"
    pattern = rf"^<\d{{1,3}}>1 {_TS} [\w.-]+ RT_FLOW - RT_FLOW_SESSION_(?P<ev>CREATE|CLOSE) \[junos@"
    shape = rf"^<\d{{1,3}}>1 \S+ [\w.-]+ RT_FLOW - RT_FLOW_SESSION_(?:CREATE|CLOSE) \[junos@[\d.]+{_PARAM}*\]$"

    def admit(self, lines: pa.Array) -> tuple[pa.StructArray, np.ndarray]:
        groups, ok = super().admit(lines)
        return groups, ok & _bool(pc.match_substring_regex(lines, self.shape))

    def columns(self, lines: pa.Array, g: pa.StructArray, ok: np.ndarray) -> dict[str, pa.Array | np.ndarray]:
        ms, slack, flags = self.header_times(g, ok)
        # The reference reads the first message id and the last value of a repeated key: admit neither case.
        ok &= _number(pc.count_substring(lines, "RT_FLOW_SESSION_")) == 1
        found = _pairs(lines, ok)
        value = {key: _dotted(found[label]) for key, label in _ADDRESS_KEY.items()}
        ports = {key: _number(pc.fill_null(found[label], "0")) for key, label in _NUMBER_KEY.items()}
        has_elapsed = _bool(pc.is_valid(found["elapsed-time"]))
        ok &= found["ok"]
        src, nat, proto = value["src"], value["nat"], ports["proto"]
        ok &= (ports["sport"] <= 65535) & (ports["nport"] <= 65535) & (ports["dport"] <= 65535) & (proto <= 127)
        untranslated = (src == nat).all(axis=1) & (ports["sport"] == ports["nport"])
        ok &= ~untranslated & ~(nat[:, 12:] == 0).all(axis=1)  # the reference ignores these, with its reason
        close = _is(g, "ev", "CLOSE")
        ok &= ~close | has_elapsed  # a close without a usable elapsed-time: the reference rejects it
        close &= ok
        begin = pa.array(ms - ports["elapsed"] * 1000 - 1000, mask=~close)
        return {"action": np.where(close, ACTION_WHOLE, ACTION_START), "t_ms": ms, "begin_ms": begin,
                "slack_ms": np.where(close, slack + 1000, slack), "flags": flags, "proto": proto, "priv_ip": src,
                "priv_port": ports["sport"], "pub_ip": nat, "pub_port": ports["nport"], "dst_ip": value["dst"],
                "dst_port": ports["dport"]}


_ADDRESS_KEY = {"src": "source-address", "dst": "destination-address", "nat": "nat-source-address"}
_NUMBER_KEY = {"sport": "source-port", "dport": "destination-port", "nport": "nat-source-port",
               "proto": "protocol-id", "elapsed": "elapsed-time"}
_VALUE_SHAPE = {"source-address": f"^{_IP}$", "destination-address": f"^{_IP}$", "nat-source-address": f"^{_IP}$",
                "source-port": r"^\d{1,5}$", "destination-port": r"^\d{1,5}$", "nat-source-port": r"^\d{1,5}$",
                "protocol-id": r"^\d{1,3}$", "elapsed-time": r"^\d{1,12}$"}
_KEY_TOKENS = pa.array([f" {key}=" for key in _KEYS], pa.large_string())


def _pairs(lines: pa.Array, ok: np.ndarray) -> dict[str, Any]:
    """The values of the needed keys, cut at the quotes in one pass (the shape check admitted only ` key="value"`
    pairs without quotes or escapes after `[junos@...`); "ok" says each needed key occurs once with a value of
    its shape (elapsed-time at most once). A value is filler where absent or not admitted, null for a missing
    elapsed-time."""
    n = len(lines)
    tokens = pc.split_pattern(lines, '"')
    flat = tokens.flatten()
    offsets = np.asarray(tokens.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    sizes = np.diff(offsets)
    parent = np.repeat(np.arange(n), sizes)
    position = np.arange(len(flat)) - offsets[:-1][parent]
    key_id = np.array(pc.fill_null(pc.index_in(flat, value_set=_KEY_TOKENS), -1).to_numpy(zero_copy_only=False))
    # The first token is the header up to the first key: that key is how it ends.
    first = flat.take(pa.array(offsets[:-1]))
    first_id = np.full(n, -1)
    for j, key in enumerate(_KEYS):
        first_id[_bool(pc.ends_with(first, f" {key}="))] = j
    key_id[offsets[:-1][sizes > 0]] = first_id[sizes > 0]
    is_key = (position % 2 == 0) & (position < sizes[parent] - 1) & (key_id >= 0)
    rows, ids = parent[is_key], key_id[is_key]
    counts = np.bincount(rows * len(_KEYS) + ids, minlength=n * len(_KEYS)).reshape(n, len(_KEYS))
    where = np.zeros((n, len(_KEYS)), dtype=np.int64)  # a key not found points anywhere: its count says so
    where[rows, ids] = np.flatnonzero(is_key) + 1  # the value follows its key
    values = flat
    good = ok & (counts[:, :-1] == 1).all(axis=1) & (counts[:, -1] <= 1)
    taken = {}
    for j, key in enumerate(_KEYS):
        taken[key] = values.take(pa.array(where[:, j]))
        shaped = _bool(pc.match_substring_regex(taken[key], _VALUE_SHAPE[key]))
        good &= (counts[:, j] == 0) | shaped if key == "elapsed-time" else shaped
    out: dict[str, Any] = {}
    for j, key in enumerate(_KEYS):
        if key == "elapsed-time":
            out[key] = pc.if_else(pa.array(good & (counts[:, j] == 1)), taken[key], pa.nulls(n, pa.large_string()))
        else:
            out[key] = pc.if_else(pa.array(good), taken[key], _NO_ADDRESS if key.endswith("address") else "0")
    out["ok"] = good
    return out


def _bool(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


_NO_ADDRESS = "0.0.0.0"  # noqa: S104 - a filler for lines not admitted, never an address to bind


class F5LsnFast(FastParser):
    """F5 LSN key=value lines in the appliance's own key order, times in epoch milliseconds (no header time)."""

    name = "f5-lsn"
    pattern = (rf'^[^"]*lsn_event="LSN_(?:INBOUND_)?(?P<ev>ADD|DELETE)",start="(?P<start>\d{{1,15}})",'
               rf'cli="(?P<cli>{_IP}):(?P<cport>\d{{1,5}})",nat="(?P<nat>{_IP}):(?P<nport>\d{{1,5}})"'
               rf'(?:,dst="(?P<dst>{_IP}):(?P<dport>\d{{1,5}})")?(?:,duration="(?P<dur>\d{{1,12}})")?'
               rf'(?:,pem_subscriber_id="(?P<sub>[^"\\]*)")?$')

    def columns(self, lines: pa.Array, g: pa.StructArray, ok: np.ndarray) -> dict[str, pa.Array | np.ndarray]:
        n, none = len(lines), _NO_ADDRESS
        start = self.integer(g, "start")
        ports = {k: self.integer(g, k) for k in ("cport", "nport")}
        ok &= (ports["cport"] <= 65535) & (ports["nport"] <= 65535)  # the reference rejects these
        has_dst, has_dur = _present(g, "dst"), _present(g, "dur")
        delete = _is(g, "ev", "DELETE")
        ok &= ~delete | has_dur  # a delete without its duration: the reference rejects it
        whole = delete & ok
        duration = _number(_given(g, "dur", has_dur, "0"))
        sub = pc.fill_null(pc.struct_field(g, "sub"), "")
        named = _bool(pc.and_(pc.not_equal(sub, ""), pc.not_equal(sub, "No-lookup")))
        ok &= ~has_dst | (_number(_given(g, "dport", has_dst, "0")) <= 65535)  # the reference rejects these
        dst = address_array(_dotted(_given(g, "dst", has_dst, none)))
        return {"action": np.where(whole, ACTION_WHOLE, ACTION_START),
                "t_ms": np.where(whole, start + duration, start), "begin_ms": pa.array(start, mask=~whole),
                "slack_ms": np.ones(n, dtype=np.int64), "flags": np.zeros(n, dtype=np.int64),
                "proto": pa.nulls(n, pa.int8()),
                "priv_ip": _dotted(_given(g, "cli", ok, none)), "priv_port": ports["cport"],
                "pub_ip": _dotted(_given(g, "nat", ok, none)), "pub_port": ports["nport"],
                "dst_ip": pc.if_else(pa.array(has_dst), dst, pa.nulls(n, pa.binary(16))),
                "dst_port": pa.array(_number(_given(g, "dport", has_dst, "0")), mask=~has_dst),
                "subscriber": pc.if_else(pa.array(named), sub, pa.nulls(n, pa.large_string()))}


def _given(g: pa.StructArray, name: str, present: np.ndarray, default: str) -> pa.Array:
    """Group `name` where `present`, else `default` (a value every later cut and cast accepts)."""
    return pc.if_else(pa.array(present), pc.fill_null(pc.struct_field(g, name), default), default)


def _number(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.cast(values, pa.int64()).to_numpy(zero_copy_only=False))


def _present(g: pa.StructArray, name: str) -> np.ndarray:
    return _bool(pc.not_equal(pc.fill_null(pc.struct_field(g, name), ""), ""))
