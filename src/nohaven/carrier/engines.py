"""Query engines over the store's Parquet tables: DuckDB embedded (default) and Apache Spark (PySpark).

Both run the same three SQL statements; the lookup logic above them is shared, so both give the same answer
on the same store (a test checks it).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from nohaven.carrier.ipaddr import V4_PREFIX

__all__ = ["DuckDBEngine", "Engine", "SparkEngine", "block_sql", "distinct", "identity_sql", "nat_rows", "nat_sql",
           "open_engine"]

# The statements read the stored columns and filter them only: DuckDB binds and optimises a statement per query,
# and a view's expressions and a DISTINCT over it cost more than the scan of the one small file a lookup opens
# (a NAT lookup 8.1 -> 5.1 ms on a file of 2^16 rows). `nat_rows` and `distinct` do the rest in Python, on the
# few rows found, the same for both engines.
NAT_COLUMNS = ("pub_port", "start_ms", "dur_ms", "slack_ms", "flags", "proto", "priv_v4", "priv_ip6", "priv_port",
               "src", "line", "nlines", "end_src", "end_dline", "end_nlines")
BLOCK_COLUMNS = ("pub_port", "port_hi", "start_ms", "end_ms", "slack_ms", "flags", "proto", "priv_ip", "src", "line",
                 "nlines", "end_src", "end_line", "end_nlines")
IDENTITY_COLUMNS = ("ip_lo", "ip_hi", "start_ms", "end_ms", "slack_ms", "flags", "subscriber", "station", "mac",
                    "hostname", "session", "src", "line", "nlines", "end_src", "end_line", "end_nlines")


def nat_sql(table: str, ip: bytes, port: int, lo: int, hi: int) -> str:
    # Only integers and hexadecimal reach these statements, and the table is a placeholder the engine fills.
    return (f"SELECT {', '.join(NAT_COLUMNS)} FROM {table} WHERE pub_ip = unhex('{ip.hex()}') "  # noqa: S608
            f"AND pub_port = {int(port)} AND start_ms - slack_ms <= {int(hi)} "
            f"AND start_ms + dur_ms + slack_ms >= {int(lo)}")


def block_sql(table: str, ip: bytes, port: int, lo: int, hi: int) -> str:
    # pub_ip is variable-length binary (schema.KEY_IP), so both engines skip the pages of other addresses.
    return (f"SELECT {', '.join(BLOCK_COLUMNS)} FROM {table} WHERE pub_ip = unhex('{ip.hex()}') "  # noqa: S608
            f"AND pub_port <= {int(port)} AND port_hi >= {int(port)} "
            f"AND start_ms - slack_ms <= {int(hi)} AND end_ms + slack_ms >= {int(lo)}")


def identity_sql(table: str, ip: bytes, lo: int, hi: int) -> str:
    # ip_lo / ip_hi prune pages in both engines (schema.KEY_IP); for an IPv4 address the integer range columns
    # also skip whole row groups (see schema.IDENTITY_SCHEMA).
    v4 = (f" AND lo_v4 <= {int.from_bytes(ip[12:], 'big')} AND hi_v4 >= {int.from_bytes(ip[12:], 'big')}"
          if ip[:12] == V4_PREFIX else "")
    return (f"SELECT {', '.join(IDENTITY_COLUMNS)} FROM {table} WHERE ip_lo <= unhex('{ip.hex()}') "  # noqa: S608
            f"AND ip_hi >= unhex('{ip.hex()}') AND start_ms - slack_ms <= {int(hi)} "
            f"AND end_ms + slack_ms >= {int(lo)}{v4}")


def distinct(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows without repeats (an interval over midnight is stored in both days), in their first order."""
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        seen.setdefault(tuple(row.values()), row)
    return list(seen.values())


def nat_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """NAT rows as stored (nat_sql) with their end, closing line and 16-byte private address again, as
    schema.NAT_VIEW gives them."""
    out = []
    for row in distinct(rows):
        v4 = row.pop("priv_v4")
        six = row.pop("priv_ip6")
        dline = row.pop("end_dline")
        row["end_ms"] = row["start_ms"] + row.pop("dur_ms")
        row["end_line"] = row["line"] + dline if dline is not None and row["line"] is not None else None
        row["priv_ip"] = six if six is not None else (V4_PREFIX + int(v4).to_bytes(4, "big") if v4 is not None
                                                      else None)
        out.append(row)
    return out


_VIEWS = 256


class Engine(Protocol):
    name: str

    def rows(self, files: list[str], sql_for_table: str) -> list[dict[str, Any]]:
        """Run a statement whose table placeholder {t} stands for the given Parquet files."""
        ...

    def close(self) -> None: ...


class DuckDBEngine:
    """DuckDB, embedded: reads the partitions of the window's days, prunes row groups by their statistics."""

    name = "duckdb"

    def __init__(self) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")  # a lookup reads a file or two: one thread (p50 and p99 lower than two)
        self.con.execute("SET parquet_metadata_cache = true")  # one engine answers many queries on the same days

    def rows(self, files: list[str], sql_for_table: str) -> list[dict[str, Any]]:
        if not files:
            return []
        table = f"read_parquet({files!r})"
        cur = self.con.execute(sql_for_table.format(t=table))
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def close(self) -> None:
        self.con.close()


class SparkEngine:
    """Apache Spark through PySpark: the same statements over the same files (`local[*]` or a spark:// master)."""

    name = "spark"

    def __init__(self, master: str | None = None) -> None:
        from pyspark.sql import SparkSession

        master = master or os.environ.get("NOHAVEN_SPARK_MASTER", "local[*]")
        self.spark = (SparkSession.builder.master(master).appName("nohaven-carrier")
                      .config("spark.ui.enabled", "false")
                      .config("spark.sql.shuffle.partitions", "4")
                      .config("spark.sql.session.timeZone", "UTC")
                      .config("spark.driver.extraJavaOptions", "-Dderby.system.home=/tmp")
                      .getOrCreate())
        self.spark.sparkContext.setLogLevel("ERROR")
        self._views: dict[tuple[str, ...], str] = {}
        self._made = 0

    def rows(self, files: list[str], sql_for_table: str) -> list[dict[str, Any]]:
        if not files:
            return []
        key = tuple(files)
        view = self._views.get(key)
        if view is None:
            # a lookup's files are those its key is in: the views of the last _VIEWS file sets are kept
            if len(self._views) >= _VIEWS:
                oldest = next(iter(self._views))
                self.spark.catalog.dropTempView(self._views.pop(oldest))
            self._made += 1
            view = f"v{self._made}"
            self.spark.read.parquet(*files).createOrReplaceTempView(view)
            self._views[key] = view
        out = []
        for row in self.spark.sql(sql_for_table.format(t=view)).collect():
            item = row.asDict()
            out.append({k: bytes(v) if isinstance(v, bytearray) else v for k, v in item.items()})
        return out

    def close(self) -> None:
        self._views.clear()  # the session stays for reuse in this process; Spark stops it at exit


def open_engine(name: str, master: str | None = None) -> Engine:
    """The engine called `name` ("duckdb" or "spark")."""
    from nohaven.errors import InputError

    if name == "duckdb":
        return DuckDBEngine()
    if name == "spark":
        try:
            return SparkEngine(master)
        except ImportError:
            raise InputError.field("engine", "the spark engine needs PySpark: pip install 'nohaven[spark]' (and "
                                   "Java 17 or newer)") from None
    raise InputError.field("engine", f"unknown engine {name!r}; use duckdb or spark")
