"""Attribution: who held public IP:port at an instant, listing every candidate with its provenance.

The instant must carry its offset. `window` is the requester's clock uncertainty: the search covers
[at - window, at + window], widened by each record's own uncertainty (timestamp resolution, a repeated DST
hour). Every mapping and port block that overlaps is a candidate; the subscriber behind each private address is
joined from RADIUS / DHCP records overlapping the same span. More than one distinct holder is `ambiguous`, and
the answer says why; nothing is resolved by picking one.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nohaven.carrier.deterministic import DeterministicPool, load_pools
from nohaven.carrier.engines import Engine, block_sql, distinct, identity_sql, nat_rows, nat_sql, open_engine
from nohaven.carrier.errors import StoreError
from nohaven.carrier.ipaddr import from_bytes, to_bytes
from nohaven.carrier.store import Store, lookup_key
from nohaven.carrier.timeparse import FLAG_END_OPEN, FLAG_START_UNKNOWN, FLAG_TIME_AMBIGUOUS, iso_ms
from nohaven.errors import InputError
from nohaven.timeutil import parse_aware, parse_duration

__all__ = ["Attributor", "Query", "parse_window", "read_queries"]

_WINDOW = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_window(text: str) -> int:
    """'2s', '500ms', '1m', '1h' or an ISO 8601 duration (PT2S), in milliseconds."""
    m = _WINDOW.match(text.strip())
    if m:
        return int(float(m.group(1)) * _UNIT_MS[m.group(2)])
    return int(parse_duration(text, "window") / timedelta(milliseconds=1))


@dataclass(frozen=True)
class Query:
    ip: str
    port: int
    at_text: str
    at_ms: int
    window_ms: int

    @classmethod
    def make(cls, ip: str, port: int | str, at: str, window: str = "2s") -> Query:
        """A checked query: the address parses, the port is 0-65535, the time carries its offset."""
        try:
            ip_bytes = to_bytes(ip.strip())
        except Exception:
            raise InputError.field("ip", f"{ip!r} is not an IPv4 or IPv6 address") from None
        try:
            port_number = int(port)
        except ValueError:
            raise InputError.field("port", f"{port!r} is not a port number") from None
        if not 0 <= port_number <= 65535:
            raise InputError.field("port", f"{port_number} is outside 0-65535")
        try:
            instant = parse_aware(at, "at")
        except InputError as exc:
            raise InputError.field(
                "at", f"{at!r}: {exc.errors[0]['message'] if exc.errors else exc.message}. A time without its "
                "offset names no instant: the same wall-clock time happens once per time zone, and wrong "
                "conversions have put innocent people under suspicion") from None
        at_ms = (instant - _EPOCH) // timedelta(milliseconds=1)
        return cls(from_bytes(ip_bytes), port_number, at.strip(), at_ms, parse_window(window))

    @property
    def lo(self) -> int:
        return self.at_ms - self.window_ms

    @property
    def hi(self) -> int:
        return self.at_ms + self.window_ms


def read_queries(path: Path, default_window: str) -> list[Query]:
    """Queries from a CSV file with a header: ip, port, at (and optionally window)."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputError.field("batch", f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise InputError.field("batch", f"{path} line {line}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = {"ip", "port", "at"} - set(reader.fieldnames or ())
    if missing:
        raise InputError.field("batch", f"{path}: the CSV header lacks {', '.join(sorted(missing))}")
    out = []
    for row in reader:
        number = reader.line_num
        if None in row or any(row.get(k) is None for k in ("ip", "port", "at")):
            raise InputError.field("batch", f"{path} line {number}: expected the columns "
                                   f"{', '.join(reader.fieldnames or ())}")
        try:
            out.append(Query.make(row["ip"], row["port"], row["at"], row.get("window") or default_window))
        except InputError as exc:
            raise InputError.field("batch", f"{path} line {number}: {exc.diagnostics()}") from None
    if not out:
        raise InputError.field("batch", f"{path}: no query after the header")
    return out


class Attributor:
    """Answers queries over one store with one engine (and optional deterministic NAT pools)."""

    def __init__(self, store: Store, engine: str | Engine = "duckdb", master: str | None = None,
                 deterministic: Path | None = None) -> None:
        store.require()
        if not store.is_current():
            raise StoreError(f"the tables of {store.root} are not built from all its sources (an ingest was "
                             "interrupted) or were built by an older version; run `nohaven carrier ingest --store "
                             "DIR` with no file to rebuild them")
        self.store = store
        self.engine = open_engine(engine, master) if isinstance(engine, str) else engine
        self.sources = store.sources_by_id()
        det = deterministic or (store.root / "deterministic.json")
        self.pools: list[DeterministicPool] = load_pools(det) if det.exists() else []

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Attributor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def answer(self, query: Query) -> dict[str, Any]:
        """Every candidate for the query, the subscribers behind them, and whether the answer is ambiguous."""
        ip = to_bytes(query.ip)
        lo, hi = query.lo, query.hi
        candidates: list[dict[str, Any]] = []
        for row in nat_rows(self._rows("nat", lo, hi, lookup_key("nat", ip, query.port),
                                       nat_sql("{t}", ip, query.port, lo, hi))):
            candidates.append(self._candidate("nat", row, query))
        for row in distinct(self._rows("blocks", lo, hi, lookup_key("blocks", ip),
                                       block_sql("{t}", ip, query.port, lo, hi))):
            candidates.append(self._candidate("block", row, query))
        # The address itself may be a subscriber's (IPv6 without NAT, a public IPv4 handed out by RADIUS / DHCP).
        direct = self._subscribers(ip, lo, hi)
        if direct:
            candidates.append({
                "kind": "direct", "public_ip": query.ip, "public_port": query.port, "public_ports": None,
                "private_ip": query.ip, "private_port": None, "protocol": None,
                "start": min(s["start"] for s in direct), "end": max(s["end"] for s in direct),
                "uncertainty_ms": max(s["uncertainty_ms"] for s in direct), "start_logged": True,
                "end_logged": all(s["end_logged"] for s in direct),
                "time_ambiguous": any(s["time_ambiguous"] for s in direct),
                "source": {"note": "the address is assigned to a subscriber; see each subscriber's source"},
                "subscribers": direct,
            })
        for pool in self.pools:
            hit = pool.subscriber_for(query.ip, query.port, lo, hi)
            if hit:
                candidates.append(self._deterministic(pool, hit, query))
        candidates.sort(key=lambda c: (c["start"] or "", c["private_ip"], c["kind"], c["source"].get("line") or 0,
                                       c["source"].get("sha256") or ""))
        return {
            "query": {"ip": query.ip, "port": query.port, "at": query.at_text, "at_utc": iso_ms(query.at_ms),
                      "window_ms": query.window_ms, "from_utc": iso_ms(lo), "to_utc": iso_ms(hi)},
            "engine": self.engine.name,
            "found": bool(candidates),
            **_ambiguity(candidates),
            "candidates": candidates,
        }

    def answer_all(self, queries: Iterable[Query]) -> list[dict[str, Any]]:
        return [self.answer(q) for q in queries]

    def _rows(self, table: str, lo: int, hi: int, key: bytes, sql: str) -> list[dict[str, Any]]:
        """The statement's rows over the files of the window's days that can hold the key (each day's index
        names the one file, or two, a mapping's key can be in: store.DayIndex). An ingest that rewrites a day
        removes the files its new index no longer lists; a lookup that read the previous index then finds one
        gone, and reads the index again."""
        files = self.store.day_files(table, lo, hi, key)
        try:
            return self.engine.rows(files, sql)
        except Exception:
            if all(os.path.exists(f) for f in files):
                raise
        return self.engine.rows(self.store.day_files(table, lo, hi, key), sql)

    # -- building the answer ------------------------------------------------------------------------------------
    def _candidate(self, kind: str, row: dict[str, Any], query: Query) -> dict[str, Any]:
        flags = int(row["flags"])
        priv = from_bytes(row["priv_ip"])
        lo = max(query.lo, row["start_ms"] - row["slack_ms"])
        hi = min(query.hi, row["end_ms"] + row["slack_ms"])
        item = {
            "kind": kind,
            "public_ip": query.ip,
            "public_port": query.port if kind == "nat" else None,
            "public_ports": [row["pub_port"], row["port_hi"]] if kind == "block" else None,
            "private_ip": priv,
            "private_port": row.get("priv_port"),
            "protocol": PROTOCOLS.get(row["proto"]) if row["proto"] is not None else None,
            "start": iso_ms(row["start_ms"]),
            "end": iso_ms(row["end_ms"]),
            "uncertainty_ms": row["slack_ms"],
            "start_logged": not flags & FLAG_START_UNKNOWN,
            "end_logged": not flags & FLAG_END_OPEN,
            "time_ambiguous": bool(flags & FLAG_TIME_AMBIGUOUS),
            "source": self._provenance(row),
            "subscribers": self._subscribers(row["priv_ip"], lo, hi),
        }
        return item

    def _deterministic(self, pool: DeterministicPool, hit: dict[str, Any], query: Query) -> dict[str, Any]:
        ip = to_bytes(hit["private_ip"])
        return {
            "kind": "deterministic", "public_ip": query.ip, "public_port": query.port,
            "public_ports": [hit["port_first"], hit["port_last"]], "private_ip": hit["private_ip"],
            "private_port": None, "protocol": None, "start": iso_ms(pool.valid_from_ms),
            "end": iso_ms(pool.valid_until_ms) if pool.valid_until_ms is not None else None, "uncertainty_ms": 0,
            "start_logged": True, "end_logged": pool.valid_until_ms is not None, "time_ambiguous": False,
            "source": {"config": pool.config, "config_sha256": pool.config_sha256, "pool": pool.name,
                       "calculation": "RFC 7422"},
            "subscribers": self._subscribers(ip, query.lo, query.hi),
        }

    def _provenance(self, row: dict[str, Any]) -> dict[str, Any]:
        def ref(src: int | None, line: int | None, nlines: int | None) -> dict[str, Any] | None:
            if src is None:
                return None
            manifest = self.sources.get(int(src), {})
            return {"file": manifest.get("name"), "sha256": manifest.get("content_sha256"),
                    "format": manifest.get("format"), "line": line, "lines": nlines}

        start = ref(row["src"], row["line"], row["nlines"]) or {}
        return {**start, "end": ref(row["end_src"], row["end_line"], row["end_nlines"])}

    def _subscribers(self, priv_ip: bytes, lo: int, hi: int) -> list[dict[str, Any]]:
        rows = distinct(self._rows("identity", lo, hi, lookup_key("identity", priv_ip),
                                   identity_sql("{t}", priv_ip, lo, hi)))
        out = []
        for row in sorted(rows, key=lambda r: (r["start_ms"], r["src"], r["line"])):
            flags = int(row["flags"])
            out.append({
                "subscriber": row["subscriber"], "station": row["station"], "mac": row["mac"],
                "hostname": row["hostname"], "session": row["session"],
                "address": from_bytes(row["ip_lo"]) if row["ip_lo"] == row["ip_hi"]
                else f"{from_bytes(row['ip_lo'])}-{from_bytes(row['ip_hi'])}",
                "start": iso_ms(row["start_ms"]), "end": iso_ms(row["end_ms"]), "uncertainty_ms": row["slack_ms"],
                "end_logged": not flags & FLAG_END_OPEN, "time_ambiguous": bool(flags & FLAG_TIME_AMBIGUOUS),
                "source": self._provenance(row),
            })
        return out


def _holder(candidate: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    # A RADIUS user name identifies a subscriber; without one, the DHCP hardware address or station does.
    users = {s["subscriber"] for s in candidate["subscribers"] if s["subscriber"]}
    names = tuple(sorted(users or {s["mac"] or s["station"] or "?" for s in candidate["subscribers"]}))
    return candidate["private_ip"], names


def _ambiguity(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    reasons = []
    private = sorted({c["private_ip"] for c in candidates})
    if len(private) > 1:
        reasons.append(f"{len(private)} private addresses held this public address and port within the window: "
                       f"{', '.join(private)}")
    for c in candidates:
        names = _holder(c)[1]
        if len(names) > 1:
            reasons.append(f"{c['private_ip']} was held by {len(names)} subscribers within the window: "
                           f"{', '.join(names)}")
    subscribers = sorted({n for c in candidates for n in _holder(c)[1]})
    if len(private) == 1 and len(subscribers) > 1 and not reasons:
        reasons.append(f"{len(subscribers)} subscribers within the window: {', '.join(subscribers)}")
    return {"ambiguous": bool(reasons), "ambiguity": sorted(set(reasons)),
            "time_flags": sorted({"repeated DST hour" for c in candidates if c["time_ambiguous"]}
                                 | {"end not logged" for c in candidates if not c["end_logged"]}
                                 | {"start not logged" for c in candidates if not c["start_logged"]})}
