"""Preserve: freeze the raw lines and normalised records behind IP:port over a period as a sealed evidence bundle.

The items of the bundle (`nohaven.evidence`, verified offline by `nohaven verify FILE.zip --trust KEY`):

    preservation.json     what was preserved: the query, the sources (name, digests, format, zone), counts
    answer.json           the lookup answer over the period (every candidate, subscribers, ambiguity)
    answer.ts103120.xml   the same answer as a TS 103 120 LD task delivery (when asked for: --ldid ...)
    records.jsonl         one normalised candidate per line
    raw/<sha256>.txt      the cited lines of each source, "line<TAB>text", in line order

Each item is acquired into an evidence store kept inside the carrier store (STORE/evidence/: content-addressed
items, the custody log, and the carrier's signing key, made on first use), then the case is sealed: the bundle
holds every item preserved in the case so far, the custody events and their proofs, and the signed checkpoint.
"""

from __future__ import annotations

import getpass
import io
import json
import re
import secrets
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, cast

import zstandard

from nohaven.carrier.lookup import Attributor, Query
from nohaven.carrier.sources import HashingReader, iter_lines
from nohaven.carrier.store import Store
from nohaven.carrier.timeparse import iso_ms
from nohaven.errors import InputError
from nohaven.evidence.bundle import seal
from nohaven.evidence.note import NoteError, NoteSigner
from nohaven.evidence.store import Acquisition, DirectoryStore, acquire
from nohaven.timeutil import parse_aware

__all__ = ["PRESERVATION_FORMAT", "Sealing", "carrier_evidence", "preserve"]

PRESERVATION_FORMAT = "nohaven-carrier-preservation/2"
_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")


@dataclass(frozen=True)
class Sealing:
    """Who preserves, for which case and exhibit, under which authority, with which key (None: the store's)."""

    case: str | None = None
    exhibit: str | None = None
    examiner: str | None = None
    authority: str | None = None
    location: str = ""
    key: Path | None = None


def carrier_evidence(store: Store) -> tuple[DirectoryStore, bool]:
    """The evidence store inside the carrier store, made (with a fresh signing key) on first use."""
    root = store.root / "evidence"
    if (root / "store.json").exists():
        return DirectoryStore(root), False
    return DirectoryStore.init(root, f"nohaven.invalid/carrier/{secrets.token_hex(4)}"), True


def _check_out(out: Path) -> None:
    """The bundle can be written where asked (checked before anything is acquired into the custody log)."""
    if out.is_dir():
        raise InputError.field("--out", f"{out} is a directory; name the bundle file (FILE.zip)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError.field("--out", f"cannot create {out.parent}: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise InputError.field("--out", f"cannot write in {out.parent}: {exc.strerror or exc}") from None


def _load_key(key: Path) -> NoteSigner:
    if not key.is_file():
        raise InputError.field("--key", f"no such key file: {key}")
    try:
        return NoteSigner.load(key)
    except NoteError as exc:
        raise InputError.field("--key", str(exc)) from None


def preserve(store: Store, ip: str, port: int, start: str, end: str, out: Path, engine: str = "duckdb",
             master: str | None = None, at: datetime | None = None,
             disclose: Callable[[Any], bytes] | None = None, sealing: Sealing | None = None) -> dict[str, Any]:
    """Write the sealed bundle to `out`; returns what was done (case, items, key, checkpoint).

    `disclose` adds the answer as a TS 103 120 message (answer.ts103120.xml; see nohaven.carrier.delivery)."""
    sealing = sealing or Sealing()
    lo = parse_aware(start, "from")
    hi = parse_aware(end, "to")
    if hi < lo:
        raise InputError.field("to", "--to is before --from")
    lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
    mid = (lo_ms + hi_ms) // 2
    half = (hi_ms - lo_ms + 1) // 2 + 1
    query = Query.make(ip, port, datetime.fromtimestamp(mid / 1000, UTC).isoformat(), f"{half}ms")
    given = _load_key(sealing.key) if sealing.key is not None else None  # refused before anything is written
    _check_out(out)
    with Attributor(store, engine, master) as attributor:
        answer = attributor.answer(query)
    answer["query"].update({"from": start, "to": end})
    wanted: dict[str, set[int]] = defaultdict(set)
    for ref in _refs(answer["candidates"]):
        for n in range(int(ref["line"]), int(ref["line"]) + int(ref.get("lines") or 1)):
            wanted[ref["sha256"]].add(n)
    sources = store.sources()
    cited = [{k: sources[sha].get(k) for k in ("name", "content_sha256", "file_sha256", "format", "zone")}
             for sha in sorted(wanted) if sha in sources]
    query_doc = {"ip": query.ip, "port": query.port, "from": start, "to": end, "from_utc": iso_ms(lo_ms),
                 "to_utc": iso_ms(hi_ms)}
    description = {"format": PRESERVATION_FORMAT, "query": query_doc, "engine": answer["engine"],
                   "ambiguous": answer["ambiguous"], "candidates": len(answer["candidates"]), "sources": cited}
    items: dict[str, bytes] = {
        "preservation.json": json.dumps(description, indent=1, sort_keys=True).encode(),
        "answer.json": json.dumps(answer, indent=1, sort_keys=True).encode(),
        "records.jsonl": "".join(json.dumps(c, sort_keys=True) + "\n" for c in answer["candidates"]).encode(),
    }
    if disclose is not None:
        items["answer.ts103120.xml"] = disclose(answer)
    raw = {f"{sha}.txt": _raw_lines(store, sha, wanted[sha]) for sha in sorted(wanted)}

    evidence, created = carrier_evidence(store)
    signer = given or evidence.signer()
    examiner = sealing.examiner or getpass.getuser()
    stamp = iso_ms(lo_ms).replace("-", "").replace(":", "").replace(".000", "")
    case = sealing.case or f"carrier-{_UNSAFE.sub('_', query.ip)}-{query.port}-{stamp}"
    exhibit = sealing.exhibit or f"{_UNSAFE.sub('_', query.ip)}_{query.port}_{stamp}"
    acquisition = Acquisition(
        case=case, exhibit=exhibit, examiner=examiner, location=sealing.location,
        source="carrier logs: " + ("; ".join(f"{s['name']} (sha256 {s['content_sha256']})" for s in cited)
                                   or f"no record of {query.ip} port {query.port} in the period"),
        authority=sealing.authority or "not stated", tool="nohaven carrier preserve")
    with tempfile.TemporaryDirectory(prefix="nohaven-preserve-") as folder:
        paths = []
        for name, data in items.items():
            (Path(folder) / name).write_bytes(data)
            paths.append(Path(folder) / name)
        if raw:
            (Path(folder) / "raw").mkdir()
            for name, data in raw.items():
                (Path(folder) / "raw" / name).write_bytes(data)
            paths.append(Path(folder) / "raw")
        acquired = acquire(evidence, evidence.log, paths, acquisition, at=at)
    result = seal(evidence, evidence.log, signer, case, out, examiner, at=at)
    key_file = sealing.key or evidence.key_file()
    return {
        "bundle": str(out), "case": case, "exhibit": exhibit, "query": query_doc, "ambiguous": answer["ambiguous"],
        "candidates": len(answer["candidates"]), "sources": cited,
        "items": [{"name": e["details"]["name"], "size": e["details"]["size"], "sha256": e["details"]["sha256"],
                   "event": i} for i, e in acquired],
        "sealed_items": result.items, "custody_events": result.events, "manifest_sha256": result.manifest_sha256,
        "checkpoint": result.checkpoint.serialize().decode(), "evidence_store": str(evidence.root),
        "key": {"name": signer.name, "file": str(key_file), "created": created and sealing.key is None,
                "verifier_key": signer.verifier.vkey, "fingerprint": signer.verifier.fingerprint,
                "verifier_file": str(key_file.with_suffix(".vkey")) if key_file.with_suffix(".vkey").exists()
                else None},
    }


def _refs(candidates: Iterable[dict[str, Any]]) -> Iterable[dict[str, Any]]:
    for c in candidates:
        for holder in (c, *c["subscribers"]):
            src = holder["source"]
            for ref in (src, src.get("end")):
                if ref and ref.get("sha256") and ref.get("line"):
                    yield ref


def _raw_lines(store: Store, sha: str, numbers: set[int]) -> bytes:
    """The numbered lines of a stored source, read from its compressed copy in one pass that also checks the
    copy against its digest (nothing is returned from a copy that no longer matches)."""
    last = max(numbers)
    out = io.StringIO()
    with store.raw_path(sha).open("rb") as fh:
        content = HashingReader(zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True))
        stream = io.BufferedReader(cast(Any, content), 1 << 20)
        for number, text in iter_lines(cast(BinaryIO, stream)):
            if number in numbers:
                out.write(f"{number}\t{text}\n")
            if number >= last:
                break
        content.drain()  # the rest of the copy, for its digest (the line reader may have closed its stream)
    if content.digest.hexdigest() != sha:
        raise InputError.field("store", f"the stored copy of source {sha} no longer matches its SHA-256")
    return out.getvalue().encode()
