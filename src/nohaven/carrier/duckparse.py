"""The DuckDB parse path for a10: the shape check and the cutting of fields in one SQL pass per block.

The vectorised a10 parser (nohaven.carrier.vectorised.A10Fast) checks each line with one capture-free RE2
pattern and then cuts its fields with a dozen Arrow kernels, each a pass over the block. Here the same
pattern (`regexp_full_match`, DuckDB's RE2) and the cutting run in one DuckDB query, which evaluates every
expression on a vector of rows while it is in cache; what comes back is the same struct of fields the Arrow
parser cuts, so turning fields into event columns (header times, `--tz`, ports, addresses) is the Arrow
parser's own code, and every line the pattern does not admit goes to the reference parser exactly as there.
A test pins that the stores of this path, the Arrow path and the reference path are byte-identical.

Each worker thread keeps its own DuckDB connection, limited to one thread: the blocks are already parsed on
both cores, and DuckDB releases the GIL while a query runs.
"""

from __future__ import annotations

import threading

import duckdb
import numpy as np
import pyarrow as pa

from nohaven.carrier.vectorised import A10Fast

__all__ = ["DUCKDB_FORMATS", "A10Duck"]

_local = threading.local()


def _connection() -> duckdb.DuckDBPyConnection:
    con: duckdb.DuckDBPyConnection | None = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(config={"threads": 1})
        _local.con = con
    return con


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# A line the pattern does not admit is replaced by a filler of the same shape (as in A10Fast), so that every
# row cuts into the same pieces; its fields are never used. Only our own constants are spliced in.
_QUERY = f"""
WITH checked AS (
    SELECT regexp_full_match(line, {_quoted(A10Fast.pattern)}) AS ok, line FROM lines
), shaped AS (
    SELECT ok, CASE WHEN ok THEN line ELSE {_quoted(A10Fast._filler)} END AS line FROM checked
), cut AS (
    SELECT ok, split_part(line, ' ', 1) AS ts, split_part(line, ' ', 3) AS tag,
           string_split(replace(replace(replace(split_part(line, ' ', 4), '<-->', ':'), '<->', ':'), ',', ':'),
                        ':') AS f
    FROM shaped
)
SELECT ok, substr(ts, 1, 19) AS dt,
       regexp_extract(substr(ts, 20), '^(\\.\\d+)?(Z|[+-]\\d\\d:?\\d\\d)?$', ['frac', 'off']) AS rest,
       tag, f[1] AS priv, f[2] AS pport, f[3] AS dst, f[4] AS dport, f[5] AS pub, f[6] AS nport
FROM cut
"""  # noqa: S608
_FIELDS = ("tag", "priv", "pport", "dst", "dport", "pub", "nport")


class A10Duck(A10Fast):
    """A10Fast with its shape check and field cutting done by one DuckDB query per block."""

    def admit(self, lines: pa.Array) -> tuple[pa.StructArray, np.ndarray]:
        """The fields A10Fast.admit cuts, and which lines the pattern admits (the others hold filler)."""
        table = pa.table({"line": lines})
        con = _connection()
        con.register("lines", table)
        try:
            out = con.sql(_QUERY).to_arrow_table()
        finally:
            con.unregister("lines")
        rest = out.column("rest").combine_chunks()
        arrays = [_text(out.column("dt").combine_chunks()), _text(rest.field("frac")), _text(rest.field("off")),
                  *(_text(out.column(name).combine_chunks()) for name in _FIELDS)]
        names = ["dt", "frac", "off", *_FIELDS]
        ok = np.asarray(out.column("ok").to_numpy(), dtype=bool)
        return pa.StructArray.from_arrays(arrays, names=names), ok


def _text(values: pa.Array) -> pa.Array:
    """Strings as the Arrow parser has them (large_string), whatever string type DuckDB hands back."""
    return values.cast(pa.large_string())


DUCKDB_FORMATS: dict[str, type[A10Fast]] = {A10Duck.name: A10Duck}
