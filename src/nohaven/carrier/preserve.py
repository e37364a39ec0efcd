"""Preserve: freeze the raw lines and normalised records behind IP:port over a period into one ZIP.

    manifest.json         format, when, the query, every other member with its SHA-256 and size, the sources
    answer.json           the lookup answer over the period (every candidate, subscribers, ambiguity)
    answer.ts103120.xml   the same answer as a TS 103 120 LD task delivery (when asked for: --ldid ...)
    records.jsonl         one normalised candidate per line
    raw/<sha256>.txt      the cited lines of each source, "line<TAB>text", in line order

The manifest form is interim: the evidence bundle format (`nohaven.evidence`, `nohaven evidence add` then
`nohaven evidence seal`) supersedes it; acquire this ZIP into an evidence store to seal it with a custody log.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import zstandard

from nohaven.carrier.lookup import Attributor, Query
from nohaven.carrier.sources import iter_lines
from nohaven.carrier.store import Store
from nohaven.carrier.timeparse import iso_ms
from nohaven.errors import InputError
from nohaven.timeutil import parse_aware

__all__ = ["PRESERVATION_FORMAT", "preserve"]

PRESERVATION_FORMAT = "nohaven-carrier-preservation/1"
_FIXED = (2026, 1, 1, 0, 0, 0)  # ZIP member times: the bundle's bytes depend on its content only


def preserve(store: Store, ip: str, port: int, start: str, end: str, out: Path, engine: str = "duckdb",
             master: str | None = None, created_at: datetime | None = None,
             disclose: Callable[[Any], bytes] | None = None) -> dict[str, Any]:
    """Write the preservation ZIP to `out`; returns its manifest. `disclose` adds the answer as a TS 103 120
    message (answer.ts103120.xml; see nohaven.carrier.delivery)."""
    lo = parse_aware(start, "from")
    hi = parse_aware(end, "to")
    if hi < lo:
        raise InputError.field("to", "--to is before --from")
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    mid = (lo_ms + hi_ms) // 2
    half = (hi_ms - lo_ms + 1) // 2 + 1
    query = Query.make(ip, port, datetime.fromtimestamp(mid / 1000, UTC).isoformat(), f"{half}ms")
    with Attributor(store, engine, master) as attributor:
        answer = attributor.answer(query)
    answer["query"].update({"from": start, "to": end})
    wanted: dict[str, set[int]] = defaultdict(set)
    for ref in _refs(answer["candidates"]):
        for n in range(int(ref["line"]), int(ref["line"]) + int(ref.get("lines") or 1)):
            wanted[ref["sha256"]].add(n)
    members: dict[str, bytes] = {
        "answer.json": json.dumps(answer, indent=1, sort_keys=True).encode(),
        "records.jsonl": "".join(json.dumps(c, sort_keys=True) + "\n" for c in answer["candidates"]).encode(),
    }
    if disclose is not None:
        members["answer.ts103120.xml"] = disclose(answer)
    sources = store.sources()
    for sha in sorted(wanted):
        members[f"raw/{sha}.txt"] = _raw_lines(store, sha, wanted[sha])
    manifest = {
        "format": PRESERVATION_FORMAT,
        "superseded_by": "the nohaven evidence bundle (nohaven evidence add / seal)",
        "created_at": (created_at or datetime.now(UTC)).isoformat(),
        "query": {"ip": query.ip, "port": query.port, "from": start, "to": end, "from_utc": iso_ms(lo_ms),
                  "to_utc": iso_ms(hi_ms)},
        "ambiguous": answer["ambiguous"],
        "candidates": len(answer["candidates"]),
        "members": [{"path": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                    for name, data in sorted(members.items())],
        "sources": [{k: sources[sha].get(k) for k in ("name", "content_sha256", "file_sha256", "format", "zone")}
                    for sha in sorted(wanted) if sha in sources],
    }
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in [("manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode()),
                           *sorted(members.items())]:
            zf.writestr(zipfile.ZipInfo(name, _FIXED), data)
    os.replace(tmp, out)
    return manifest


def _refs(candidates: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for c in candidates:
        for holder in (c, *c["subscribers"]):
            src = holder["source"]
            for ref in (src, src.get("end")):
                if ref and ref.get("sha256") and ref.get("line"):
                    yield ref


def _raw_lines(store: Store, sha: str, numbers: set[int]) -> bytes:
    """The numbered lines of a stored source, read from its compressed copy and checked against its digest."""
    last = max(numbers)
    out = io.StringIO()
    digest = hashlib.sha256()
    with store.raw_path(sha).open("rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        for chunk in iter(lambda: reader.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() != sha:
        raise InputError.field("store", f"the stored copy of source {sha} no longer matches its SHA-256")
    with store.raw_path(sha).open("rb") as fh:
        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        for number, text in iter_lines(reader):
            if number in numbers:
                out.write(f"{number}\t{text}\n")
            if number >= last:
                break
    return out.getvalue().encode()
