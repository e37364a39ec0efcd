"""Query engines over the store's Parquet tables: DuckDB embedded (default) and Apache Spark (PySpark).

Both run the same three SQL statements; the lookup logic above them is shared, so both give the same answer
on the same store (a test checks it).
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from nohaven.carrier.ipaddr import V4_PREFIX
from nohaven.carrier.schema import NAT_VIEW

__all__ = ["DuckDBEngine", "Engine", "SparkEngine", "open_engine"]

NAT_COLUMNS = ("pub_port", "start_ms", "end_ms", "slack_ms", "flags", "proto", "priv_ip", "priv_port", "src", "line",
               "nlines", "end_src", "end_line", "end_nlines")
BLOCK_COLUMNS = ("pub_port", "port_hi", "start_ms", "end_ms", "slack_ms", "flags", "proto", "priv_ip", "src", "line",
                 "nlines", "end_src", "end_line", "end_nlines")
IDENTITY_COLUMNS = ("ip_lo", "ip_hi", "start_ms", "end_ms", "slack_ms", "flags", "subscriber", "station", "mac",
                    "hostname", "session", "src", "line", "nlines", "end_src", "end_line", "end_nlines")


def nat_sql(table: str, ip: bytes, port: int, lo: int, hi: int) -> str:
    # Only integers and hexadecimal reach these statements, and the table is a placeholder the engine fills.
    view = NAT_VIEW.format(t=table)
    return (f"SELECT DISTINCT {', '.join(NAT_COLUMNS)} FROM ({view}) AS nat WHERE pub_ip = unhex('{ip.hex()}') "  # noqa: S608
            f"AND pub_port = {int(port)} AND start_ms - slack_ms <= {int(hi)} AND end_ms + slack_ms >= {int(lo)}")


def block_sql(table: str, ip: bytes, port: int, lo: int, hi: int) -> str:
    # pub_ip is variable-length binary (schema.KEY_IP), so both engines skip the pages of other addresses.
    return (f"SELECT DISTINCT {', '.join(BLOCK_COLUMNS)} FROM {table} WHERE pub_ip = unhex('{ip.hex()}') "  # noqa: S608
            f"AND pub_port <= {int(port)} AND port_hi >= {int(port)} "
            f"AND start_ms - slack_ms <= {int(hi)} AND end_ms + slack_ms >= {int(lo)}")


def identity_sql(table: str, ip: bytes, lo: int, hi: int) -> str:
    # ip_lo / ip_hi prune pages in both engines (schema.KEY_IP); for an IPv4 address the integer range columns
    # also skip whole row groups (see schema.IDENTITY_SCHEMA).
    v4 = (f" AND lo_v4 <= {int.from_bytes(ip[12:], 'big')} AND hi_v4 >= {int.from_bytes(ip[12:], 'big')}"
          if ip[:12] == V4_PREFIX else "")
    return (f"SELECT DISTINCT {', '.join(IDENTITY_COLUMNS)} FROM {table} WHERE ip_lo <= unhex('{ip.hex()}') "  # noqa: S608
            f"AND ip_hi >= unhex('{ip.hex()}') AND start_ms - slack_ms <= {int(hi)} "
            f"AND end_ms + slack_ms >= {int(lo)}{v4}")


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
        self.con.execute("SET threads = 2")
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

    def rows(self, files: list[str], sql_for_table: str) -> list[dict[str, Any]]:
        if not files:
            return []
        key = tuple(files)
        view = self._views.get(key)
        if view is None:
            view = f"v{len(self._views)}"
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
