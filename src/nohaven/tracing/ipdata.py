"""Dated snapshots of IP registry data (RIR delegated files, ip2asn tables) and batched look-ups in them.

A store is a directory: `snapshots.json` lists what was loaded (kind, source, date, counts, bad lines) and each
snapshot's ranges live beside it as sorted integer arrays (`<id>.npz`, see `_ipdata_arrays`).

**The snapshot in force.** Snapshots form series: one per registry for RIR files, one per address family for
ip2asn tables. A look-up at an instant uses, in every series, the latest snapshot dated on or before that
instant's UTC day; with no instant, the latest one. A series whose snapshots are all newer than the instant is
not used, and `find()` says so, naming its oldest snapshot: a newer snapshot is never used silently.

**One record from two kinds.** The RIR answer gives registry, country and status; the ip2asn answer gives the
autonomous system and its holder. The record's range is the part of the address space both answers agree on;
when they name different countries, the record keeps the registry's and says so in `notes`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import gzip
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from nohaven.errors import ConflictError, InputError
from nohaven.tracing._ipdata_arrays import SnapshotArrays, build_arrays
from nohaven.tracing._ipdata_view import (
    Hit,
    SnapshotView,
    address_text,
    cidr_within,
    format_ip,
    parse_ip,
    parse_value,
)
from nohaven.tracing.ip2asn import looks_like_ip2asn, parse_ip2asn
from nohaven.tracing.rir import BadLine, ParsedFile, parse_rir

__all__ = ["Finding", "IpDataStore", "IpRecord", "Kind", "SnapshotInfo"]

Kind = Literal["auto", "rir", "ip2asn"]
MANIFEST = "snapshots.json"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class IpRecord:
    """What the snapshots in force say about one address."""

    ip: str
    prefix: str  # the largest CIDR block holding the address inside the range
    range_first: str
    range_last: str
    asn: int | None
    holder: str | None
    registry: str | None
    country: str | None  # ISO 3166 alpha-2 as written (user-assigned XA… included); None for ZZ or unknown
    status: str  # RIR status (allocated, assigned, available, reserved), else "routed" / "not routed"
    rir_snapshot: date | None
    asn_snapshot: date | None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form (dates as ISO text)."""
        out = asdict(self)
        out["rir_snapshot"] = self.rir_snapshot.isoformat() if self.rir_snapshot else None
        out["asn_snapshot"] = self.asn_snapshot.isoformat() if self.asn_snapshot else None
        out["notes"] = list(self.notes)
        return out


@dataclass(frozen=True)
class SnapshotInfo:
    """One loaded file: its kind, series, date, what it held and what could not be read."""

    id: str
    kind: str
    source: str
    snapshot_date: date
    file: str
    sha256: str
    loaded_at: datetime
    v4_ranges: int
    v6_ranges: int
    bad_count: int
    bad_lines: tuple[BadLine, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    replaced: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"id": self.id, "kind": self.kind, "source": self.source,
                "snapshot_date": self.snapshot_date.isoformat(), "file": self.file, "sha256": self.sha256,
                "loaded_at": self.loaded_at.isoformat(), "v4_ranges": self.v4_ranges, "v6_ranges": self.v6_ranges,
                "bad_count": self.bad_count, "bad_lines": [b.to_dict() for b in self.bad_lines],
                "skipped": dict(self.skipped), "warnings": list(self.warnings), "replaced": self.replaced}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SnapshotInfo:
        """Read back the JSON form."""
        return cls(id=data["id"], kind=data["kind"], source=data["source"],
                   snapshot_date=date.fromisoformat(data["snapshot_date"]), file=data["file"], sha256=data["sha256"],
                   loaded_at=datetime.fromisoformat(data["loaded_at"]), v4_ranges=data["v4_ranges"],
                   v6_ranges=data["v6_ranges"], bad_count=data["bad_count"],
                   bad_lines=tuple(BadLine(b["line"], b["text"], b["reason"]) for b in data["bad_lines"]),
                   skipped=dict(data["skipped"]), warnings=tuple(data["warnings"]))

    @property
    def series(self) -> tuple[str, str]:
        return (self.kind, self.source)


@dataclass(frozen=True)
class Finding:
    """A look-up's record (or None) and what the caller must know about the snapshots behind it."""

    record: IpRecord | None
    problems: tuple[str, ...]


class IpDataStore:
    """The snapshots kept in one directory; node-free."""

    _shared: dict[Path, IpDataStore] = {}
    _shared_lock = threading.Lock()

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.RLock()
        self._manifest_stamp: tuple[int, int, int] | None = None
        self._infos: list[SnapshotInfo] = []
        self._arrays: dict[str, tuple[datetime, SnapshotArrays]] = {}  # by id, with the load they came from

    @classmethod
    def shared(cls, directory: Path) -> IpDataStore:
        """The process's one store for `directory`: it keeps the arrays it has read (tens of MB for full
        registry data) and still notices snapshots loaded since, by any process."""
        key = Path(directory).resolve()
        with cls._shared_lock:
            if key not in cls._shared:
                cls._shared[key] = cls(key)
            return cls._shared[key]

    # -- loading ---------------------------------------------------------------------------------------------

    def load(self, path: Path, *, kind: Kind = "auto", snapshot_date: date | None = None,
             progress: Progress | None = None) -> SnapshotInfo:
        """Load one file as a dated snapshot; a file that yields no range is refused and nothing is stored."""
        path = Path(path)
        chosen = self._kind_of(path) if kind == "auto" else kind
        if chosen not in ("rir", "ip2asn"):
            raise InputError.field("--kind", f"{kind!r} is none of auto, rir, ip2asn")
        if chosen == "ip2asn" and snapshot_date is None:
            raise InputError.field("--date", f"{path.name}: ip2asn tables carry no date; give the day the table "
                                   "describes with --date YYYY-MM-DD (it is never guessed, not even from the "
                                   "file name)")
        lines = _lines(path, progress)
        parsed = parse_rir(lines) if chosen == "rir" else parse_ip2asn(lines)
        day = self._snapshot_day(path, parsed, snapshot_date)
        if parsed.kind == "ip2asn":
            parsed.source = "ip2asn-v4" if not parsed.v6 else "ip2asn-v6" if not parsed.v4 else "ip2asn"
        arrays = build_arrays(parsed)
        if not len(arrays.v4) and not len(arrays.v6):
            first = (f"; first: line {parsed.bad_lines[0].line}: {parsed.bad_lines[0].reason}"
                     if parsed.bad_lines else "")
            raise InputError.field("FILE", f"{path.name}: no address range could be read ({parsed.bad_count} bad "
                                   f"line(s){first}); nothing was stored")
        prefix = "" if parsed.kind == "ip2asn" else "rir-"
        snapshot_id = f"{prefix}{parsed.source}-{day:%Y%m%d}"
        info = SnapshotInfo(id=snapshot_id, kind=parsed.kind, source=parsed.source, snapshot_date=day,
                            file=path.name, sha256=_file_digest(path), loaded_at=datetime.now(UTC),
                            v4_ranges=len(arrays.v4), v6_ranges=len(arrays.v6), bad_count=parsed.bad_count,
                            bad_lines=tuple(sorted(parsed.bad_lines, key=lambda b: b.line)),
                            skipped=dict(parsed.skipped), warnings=tuple(parsed.warnings))
        with self._locked():
            infos = self._read_manifest()
            replaced = any(i.id == snapshot_id for i in infos)
            arrays.save(self.directory / f"{snapshot_id}.npz")
            infos = [i for i in infos if i.id != snapshot_id] + [info]
            self._write_manifest(infos)
        with self._lock:
            self._arrays[snapshot_id] = (info.loaded_at, arrays)
        return dataclasses.replace(info, replaced=replaced)

    def _kind_of(self, path: Path) -> str:
        for line in _lines(path, None):
            text = line.lstrip("\ufeff").strip()
            if not text or text.startswith("#"):
                continue
            if looks_like_ip2asn(line):
                return "ip2asn"
            if "|" in text:
                return "rir"
            break
        raise InputError.field("--kind", f"cannot tell what {path.name} is (neither a RIR delegated file nor an "
                               "ip2asn table by its first line); give --kind rir or --kind ip2asn")

    @staticmethod
    def _snapshot_day(path: Path, parsed: ParsedFile, given: date | None) -> date:
        if parsed.kind == "ip2asn":
            assert given is not None
            return given
        if parsed.snapshot_date is None:
            if given is None:
                raise InputError.field("--date", f"{path.name}: the version line carries no date; give the day "
                                       "the file describes with --date YYYY-MM-DD")
            return given
        if given is not None and given != parsed.snapshot_date:
            raise InputError.field("--date", f"{path.name}: its version line dates it {parsed.snapshot_date}, "
                                   f"--date says {given}; leave --date out for RIR files that carry their date")
        return parsed.snapshot_date

    # -- the manifest ----------------------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read_manifest(self) -> list[SnapshotInfo]:
        with self._lock:
            return self._read_manifest_unlocked()

    def _read_manifest_unlocked(self) -> list[SnapshotInfo]:
        path = self.directory / MANIFEST
        try:
            status = path.stat()
            # Every write renames a new file into place: a new inode even when the clock did not tick.
            stamp = (status.st_ino, status.st_mtime_ns, status.st_size)
        except FileNotFoundError:
            self._manifest_stamp, self._infos = None, []
            return []
        if stamp != self._manifest_stamp:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._infos = [SnapshotInfo.from_dict(item) for item in data["snapshots"]]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConflictError(f"the IP data store {self.directory} is damaged: {MANIFEST} cannot be read "
                                    f"({type(exc).__name__}); move the directory away and load the files again",
                                    ) from None
            self._manifest_stamp = stamp
            # Arrays read earlier stay valid only if their snapshot was not loaded again since.
            current = {i.id: i.loaded_at for i in self._infos}
            self._arrays = {k: v for k, v in self._arrays.items() if current.get(k) == v[0]}
        return list(self._infos)

    def _write_manifest(self, infos: list[SnapshotInfo]) -> None:
        ordered = sorted(infos, key=lambda i: (i.kind, i.source, i.snapshot_date))
        body = json.dumps({"format": "nohaven-ipdata/1", "snapshots": [i.to_dict() for i in ordered]}, indent=1)
        temp = self.directory / f".{MANIFEST}.{os.getpid()}"
        temp.write_text(body + "\n", encoding="utf-8")
        os.replace(temp, self.directory / MANIFEST)

    def snapshots(self) -> list[SnapshotInfo]:
        """Every loaded snapshot, by kind, source and date."""
        return self._read_manifest()

    def arrays(self, snapshot_id: str) -> SnapshotArrays:
        """A snapshot's arrays (read once, then kept in memory)."""
        with self._lock:
            return self._arrays_unlocked(snapshot_id)

    def _arrays_unlocked(self, snapshot_id: str) -> SnapshotArrays:
        if snapshot_id not in self._arrays:
            info = next(i for i in self._infos if i.id == snapshot_id)
            try:
                self._arrays[snapshot_id] = (info.loaded_at,
                                             SnapshotArrays.open(self.directory / f"{snapshot_id}.npz"))
            except (OSError, ValueError, KeyError) as exc:
                raise ConflictError(f"the IP data store is damaged: {snapshot_id}.npz cannot be read "
                                    f"({type(exc).__name__}); load {info.file} again") from None
        return self._arrays[snapshot_id][1]

    # -- look-ups --------------------------------------------------------------------------------------------

    def view(self, at: datetime | None = None) -> SnapshotView:
        """The snapshots in force at `at` (aware), and what is missing for that instant."""
        if at is not None and (at.tzinfo is None or at.utcoffset() is None):
            raise InputError.field("at", "the instant has no UTC offset; give one, e.g. 2026-11-27T03:14:07+01:00")
        try:
            day = at.astimezone(UTC).date() if at is not None else None
        except OverflowError:
            raise InputError.field("at", f"{at} is outside the years 1 to 9999 once turned into UTC") from None
        series: dict[tuple[str, str], list[SnapshotInfo]] = {}
        for info in self._read_manifest():
            series.setdefault(info.series, []).append(info)
        chosen: list[SnapshotInfo] = []
        problems: list[str] = []
        if not series:
            problems.append("no IP data is loaded (load RIR or ip2asn files with `nohaven ipdata load`)")
        for (kind, source), infos in sorted(series.items()):
            usable = [i for i in infos if day is None or i.snapshot_date <= day]
            if usable:
                chosen.append(max(usable, key=lambda i: i.snapshot_date))
            else:
                dates = ", ".join(sorted(i.snapshot_date.isoformat() for i in infos))
                problems.append(f"{source} ({kind}): no snapshot dated on or before {day}; only {dates} — a "
                                "newer one is not used for an older instant")
        return SnapshotView([(i, self.arrays(i.id)) for i in chosen], tuple(problems))

    def find(self, ip: str, at: datetime | None = None) -> Finding:
        """The record for `ip` at `at`, with every problem of the snapshots behind it."""
        view = self.view(at)
        record = self._records([ip], view, "ip")[0]
        problems = list(view.problems)
        if record is None and view.snapshots:
            problems.append(f"{format_ip(parse_ip(ip, 'ip'))} is in no range of the snapshots in force")
        elif record is not None and record.rir_snapshot is None:
            problems.append(f"no RIR snapshot in force holds {record.ip}: registry unknown, country and status "
                            "from the routing table only")
        elif record is not None and record.asn_snapshot is None:
            problems.append(f"no ip2asn snapshot in force holds {record.ip}: the autonomous system and its holder "
                            "are unknown")
        return Finding(record, tuple(problems))

    def lookup(self, ip: str, at: datetime | None = None) -> IpRecord | None:
        """The record for one address at `at` (None: in no range of the snapshots in force)."""
        return self._records([ip], self.view(at), "ip")[0]

    def lookup_many(self, ips: Sequence[str], at: datetime | None = None) -> list[IpRecord | None]:
        """Records for many addresses at one instant, searched in one batch per family."""
        return self._records(ips, self.view(at), "ips")

    def _records(self, ips: Sequence[str], view: SnapshotView, field_name: str) -> list[IpRecord | None]:
        values = [parse_value(text, f"{field_name}[{n}]" if field_name == "ips" else field_name)
                  for n, text in enumerate(ips)]
        out: list[IpRecord | None] = [None] * len(values)
        for family in (4, 6):
            positions = [n for n, (f, _) in enumerate(values) if f == family]
            if not positions:
                continue
            located = view.locate(family, [values[n][1] for n in positions])
            for n, hit in zip(positions, located, strict=True):
                if hit is not None:
                    out[n] = _record(family, values[n][1], hit)
        return out


def _record(family: int, value: int, hit: Hit) -> IpRecord:
    return IpRecord(ip=address_text(value, family), prefix=cidr_within(value, hit.first, hit.last, family),
                    range_first=address_text(hit.first, family), range_last=address_text(hit.last, family),
                    asn=hit.asn, holder=hit.holder, registry=hit.registry, country=hit.country, status=hit.status,
                    rir_snapshot=hit.rir_snapshot, asn_snapshot=hit.asn_snapshot, notes=hit.notes)


def _file_digest(path: Path) -> str:
    """SHA-256 of the file as given (compressed or not), so the snapshot names exactly what was loaded."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _lines(path: Path, progress: Progress | None) -> Iterator[str]:
    """The file's lines as text (gzip-compressed files too), reporting progress."""
    try:
        total = path.stat().st_size
        raw = path.open("rb")
    except OSError as exc:
        raise InputError.field("FILE", f"cannot read {path}: {exc.strerror}") from None
    with raw:
        compressed = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if compressed else raw
        done = 0
        try:
            for number, line in enumerate(stream):
                if progress is not None and number % 50_000 == 0:
                    done = raw.tell()
                    progress(done, total)
                yield line.decode("utf-8", errors="replace")
        except (OSError, EOFError) as exc:
            raise InputError.field("FILE", f"{path.name}: cannot be read to its end ({exc})") from None
        if progress is not None:
            progress(total, total)
