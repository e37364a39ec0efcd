"""Blocks of lines through a format's vectorised parser, and what it does not admit through the reference parser.

`parse_block` is what ingest calls on both cores: the fast parser's columns for the lines it admits, the
reference parser for every other line, in order (see nohaven.carrier.vectorised), merged by line number.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from nohaven.carrier.errors import LineRejected
from nohaven.carrier.formats import LogFormat
from nohaven.carrier.nativeparse import NATIVE_FORMATS, NativeParser, scan
from nohaven.carrier.nativeparse import available as native_available
from nohaven.carrier.schema import EVENT_SCHEMA, null_array
from nohaven.carrier.sources import iter_lines
from nohaven.carrier.vectorised import A10Fast, F5LsnFast, FastParser, JuniperRtFlowFast, address_array

__all__ = ["FAST_FORMATS", "BlockResult", "block_parser", "count_lines", "parse_block", "scan"]


@dataclass
class BlockResult:
    """What one block of lines gave: its events (in line order), rejects, ignored reasons and counts."""

    events: pa.Table
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    records: int = 0
    lines: int = 0


FAST_FORMATS: dict[str, type[FastParser]] = {cls.name: cls for cls in (A10Fast, JuniperRtFlowFast, F5LsnFast)}


def parse_block(data: bytes, first_line: int, fast: FastParser | NativeParser | None, reference: LogFormat,
                src: int, emit: Callable[[list[tuple[object, ...]]], pa.Table],
                scanned: tuple[int, int] | None = None) -> BlockResult:
    """Parse a block of complete lines (ending in a newline unless it is the last) starting at `first_line`.
    `scanned`: the block's (newline, carriage-return) bytes, where the caller counted them (scan)."""
    newline, cr = scan(data) if scanned is None else scanned
    if fast is None or cr:
        # Lone carriage returns end lines too in the reference reader; leave such blocks to it.
        return _reference_block(data, first_line, reference, src, emit)
    if isinstance(fast, NativeParser):
        events, leftover, n = fast.parse(data, first_line, src, newline)
        return _with_rest(BlockResult(events, records=events.num_rows, lines=n), leftover, reference, src, emit)
    split = pc.split_pattern(pa.array([data], pa.large_binary()), "\n").flatten()
    if data.endswith(b"\n"):
        split = split.slice(0, len(split) - 1)
    try:
        lines = split.cast(pa.large_string())
    except pa.ArrowInvalid:  # not UTF-8: the reference reader keeps such bytes as escapes
        return _reference_block(data, first_line, reference, src, emit)
    n = len(lines)
    groups, ok = fast.admit(lines)
    cols = fast.columns(lines, groups, ok)
    rows = np.flatnonzero(ok)
    numbers = np.arange(first_line, first_line + n, dtype=np.int64)
    fast_table = _table({k: _take(v, rows) for k, v in cols.items()}, len(rows), src, numbers[rows])
    rest = [(int(numbers[i]), lines[int(i)].as_py()) for i in np.flatnonzero(~ok)]
    return _with_rest(BlockResult(fast_table, records=len(rows), lines=n), rest, reference, src, emit)


def _with_rest(result: BlockResult, rest: list[tuple[int, str]], reference: LogFormat, src: int,
               emit: Callable[[list[tuple[object, ...]]], pa.Table]) -> BlockResult:
    """The lines a fast parser left, through the reference parser, merged into its events by line number."""
    if rest:
        merged = pa.concat_tables([result.events, _reference_lines(rest, reference, src, emit, result)])
        result.events = merged.take(pc.sort_indices(merged, [("line", "ascending")]))
    return result


def block_parser(reference: LogFormat, vectorised: bool = True,
                 native: bool = True) -> FastParser | NativeParser | None:
    """The fast parser for the format's blocks: compiled where built and `native`, else Arrow's where the format has
    one; None when only the reference parser reads it (or `vectorised` is off)."""
    if not vectorised:
        return None
    if native and reference.name in NATIVE_FORMATS and native_available():
        return NativeParser(reference)
    fast = FAST_FORMATS.get(reference.name)
    return fast(reference.zone, reference) if fast else None


def _take(values: pa.Array | np.ndarray, rows: np.ndarray) -> pa.Array | np.ndarray:
    if isinstance(values, np.ndarray):
        return values[rows]
    return values.take(pa.array(rows))


def _table(cols: dict[str, pa.Array | np.ndarray], n: int, src: int, lines: np.ndarray) -> pa.Table:
    arrays = []
    for f in EVENT_SCHEMA:
        if f.name == "kind":
            arrays.append(pa.array(["nat"] * n, pa.string()) if n else pa.array([], pa.string()))
        elif f.name == "src":
            arrays.append(pa.array(np.full(n, src, dtype=np.int64)))
        elif f.name == "line":
            arrays.append(pa.array(lines))
        elif f.name == "nlines":
            arrays.append(pa.array(np.ones(n, dtype=np.int32)))
        elif f.name in cols:
            value = cols[f.name]
            if isinstance(value, np.ndarray) and value.ndim == 2:
                arrays.append(address_array(np.ascontiguousarray(value)))
            else:
                arrays.append(pa.array(value).cast(f.type))
        else:
            arrays.append(null_array(f.type, n))
    return pa.Table.from_arrays(arrays, schema=EVENT_SCHEMA)


def _reference_block(data: bytes, first_line: int, reference: LogFormat, src: int,
                     emit: Callable[[list[tuple[object, ...]]], pa.Table]) -> BlockResult:
    result = BlockResult(pa.table({}))
    numbered = [(number + first_line - 1, line) for number, line in iter_lines(io.BytesIO(data))]
    result.lines = len(numbered)
    result.events = _reference_lines(numbered, reference, src, emit, result)
    return result


def count_lines(data: bytes, last: bool, scanned: tuple[int, int] | None = None) -> int:
    """Lines in a block as the reference reader counts them: \\n, \\r\\n and a lone \\r each end one.
    `scanned`: the block's (newline, carriage-return) bytes, where the caller counted them (scan)."""
    ends, cr = scan(data) if scanned is None else scanned
    if cr:
        ends += cr - data.count(b"\r\n")
    return ends + (1 if last and data and data[-1:] not in (b"\n", b"\r") else 0)


def _reference_lines(numbered: Iterable[tuple[int, str]], reference: LogFormat, src: int,
                     emit: Callable[[list[tuple[object, ...]]], pa.Table], result: BlockResult) -> pa.Table:
    batch: list[tuple[object, ...]] = []
    ignored = result.ignored
    for record in reference.records(numbered):
        try:
            out = reference.read(record)
        except LineRejected as exc:
            result.rejects.append((record.line, exc.reason, record.text))
            continue
        if isinstance(out, str):
            ignored[out] = ignored.get(out, 0) + 1
            continue
        result.records += 1
        for ev in out:
            batch.append((*ev, src, record.line, record.nlines))
    return emit(batch)
