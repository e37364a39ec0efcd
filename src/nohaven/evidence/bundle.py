"""Sealed evidence bundles: writing one from a store and its custody log, and cosigning a received one.

A bundle is a ZIP64 file (see docs/evidence.md):

    manifest.json                       what is sealed: case, items (path, digests, size, acquisition), events
    case.jsonld                         the CASE/UCO view
    items/<exhibit>/<name>              each item, stored uncompressed
    custody/events/<index>.json         each custody event of the case, its exact logged bytes
    custody/proofs/<index>.tlog-proof   its inclusion in the checkpointed tree (C2SP tlog-proof)
    custody/checkpoint                  the signed checkpoint (C2SP tlog-checkpoint), with any cosignatures
    custody/checkpoint.tsr              optional: an RFC 3161 timestamp of the checkpoint text (TimeStampResp)

The seal itself is a custody event (`sealed`) recording the SHA-256 of manifest.json and case.jsonld; it is
logged, checkpointed and proven like the others, so the signature on the checkpoint covers every byte.
Items are streamed through (copied and hashed in one pass); the file appears only once complete (temporary
file, then rename).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from nohaven import durable
from nohaven.errors import InputError
from nohaven.evidence.canonical import canonical_bytes
from nohaven.evidence.caseuco import case_graph
from nohaven.evidence.custody import CustodyLedger, make_event, parse_event
from nohaven.evidence.errors import StoreError
from nohaven.evidence.hashing import MultiHasher, Progress, TeeReader
from nohaven.evidence.merkle import leaf_hash
from nohaven.evidence.note import Checkpoint, NoteSigner, SignedNote
from nohaven.evidence.proofs import InclusionProof
from nohaven.evidence.store import BlobSource
from nohaven.evidence.timestamp import TIMESTAMP, request_token
from nohaven.timeutil import require_aware, utcnow

__all__ = ["BUNDLE_FORMAT", "SealResult", "Sealing", "case_events", "cosign_bundle", "seal", "sealing",
           "write_atomically"]

BUNDLE_FORMAT = "nohaven-evidence-bundle/1"
MANIFEST = "manifest.json"
CASE_JSONLD = "case.jsonld"
CHECKPOINT = "custody/checkpoint"
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def event_member(index: int) -> str:
    return f"custody/events/{index}.json"


def proof_member(index: int) -> str:
    return f"custody/proofs/{index}.tlog-proof"


@dataclass(frozen=True)
class SealResult:
    path: Path
    case: str
    items: int
    events: int
    sealed_index: int
    checkpoint: SignedNote
    manifest_sha256: str


@contextlib.contextmanager
def write_atomically(out: Path) -> Iterator[IO[bytes]]:
    """A temporary file beside `out`, renamed over it only when the block finishes without error."""
    durable.mkdir(out.parent)
    fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "w+b") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        durable.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _segment(text: str) -> str:
    cleaned = _UNSAFE.sub("_", text).strip(" .") or "_"
    return cleaned[:120]


def _item_path(exhibit: str, name: str, taken: set[str]) -> str:
    parts = [_segment(p) for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    path = "/".join(["items", _segment(exhibit), *(parts or ["item"])])
    base, n = path, 1
    while path in taken:
        n += 1
        path = f"{base}.{n}"
    taken.add(path)
    return path


def _zip_info(name: str, when: datetime, stored: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when.timetuple()[:6])
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    info.external_attr = 0o444 << 16
    return info


def case_events(log: CustodyLedger, case: str) -> list[tuple[int, bytes, dict[str, Any]]]:
    """Every event of the case in the log, in log order."""
    out = []
    for index, data in log.events():
        try:
            event = parse_event(data, f"custody event {index}")
        except ValueError as exc:
            raise StoreError(f"the custody log is damaged: {exc}") from None
        if event["case"] == case:
            out.append((index, data, event))
    return out


def manifest_for(case: str, events: Sequence[tuple[int, bytes, dict[str, Any]]], sealed_at: datetime,
                 sealed_by: str, origin: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    taken: set[str] = set()
    for index, _data, event in events:
        if event["event"] != "acquired":
            continue
        d = event["details"]
        acquisition = {k: d[k] for k in ("source", "authority", "location", "tool", "tool_version", "started_at",
                                         "ended_at") if k in d}
        acquisition["examiner"] = event["actor"]
        items.append({"path": _item_path(d["exhibit"], d["name"], taken), "exhibit": d["exhibit"], "name": d["name"],
                      "size": d["size"], "sha256": d["sha256"], "sha1": d["sha1"], "md5": d["md5"],
                      "acquired_event": index, "acquisition": acquisition})
    return {"format": BUNDLE_FORMAT, "case": case, "log_origin": origin,
            "sealed_at": require_aware(sealed_at, "sealed_at").isoformat().replace("+00:00", "Z"),
            "sealed_by": sealed_by, "items": items, "events": [index for index, _d, _e in events]}


class Sealing:
    """A bundle being written: its items are in; the caller has `log_seal` log the seal and sign a checkpoint
    over it (in the log's transaction, where there is one), then calls `finish`, which writes the rest."""

    def __init__(self, zf: zipfile.ZipFile, case: str, manifest: dict[str, Any], manifest_bytes: bytes,
                 graph_bytes: bytes, events: Sequence[tuple[int, bytes, dict[str, Any]]], event: dict[str, Any],
                 sealed_at: datetime, out: Path) -> None:
        self._zf, self.case, self.manifest, self.event = zf, case, manifest, event
        self._manifest_bytes, self._graph_bytes, self._events = manifest_bytes, graph_bytes, events
        self._sealed_at, self._out = sealed_at, out
        self._logged: tuple[int, bytes, SignedNote, dict[int, list[bytes]]] | None = None
        self.result: SealResult | None = None

    def log_seal(self, log: CustodyLedger, signer: NoteSigner) -> SignedNote:
        """Append the `sealed` event to `log`, sign a checkpoint over it and take every event's inclusion proof
        in it; returns the checkpoint."""
        sealed_index = log.append(self.event)
        note = log.checkpoint(signer)
        size = Checkpoint.from_text(note.text).size
        proofs = {i: log.inclusion_proof(i, size) for i in [*(i for i, _d, _e in self._events), sealed_index]}
        self._logged = (sealed_index, log.event_bytes(sealed_index), note, proofs)
        return note

    def finish(self, timestamp: bytes | None = None) -> SealResult:
        """Write manifest, CASE/UCO, checkpoint (and its RFC 3161 token), every event and its inclusion proof."""
        if self._logged is None:
            raise StoreError(f"the seal of {self.case} was not logged; nothing was written")
        sealed_index, sealed_bytes, note, proofs = self._logged
        zf, when = self._zf, self._sealed_at
        zf.writestr(_zip_info(MANIFEST, when, False), self._manifest_bytes)
        zf.writestr(_zip_info(CASE_JSONLD, when, False), self._graph_bytes)
        zf.writestr(_zip_info(CHECKPOINT, when, False), note.serialize())
        if timestamp is not None:
            zf.writestr(_zip_info(TIMESTAMP, when, False), timestamp)
        all_events = [(i, d) for i, d, _e in self._events] + [(sealed_index, sealed_bytes)]
        for index, data in all_events:
            zf.writestr(_zip_info(event_member(index), when, False), data)
            proof = InclusionProof(index, tuple(proofs[index]), note)
            zf.writestr(_zip_info(proof_member(index), when, False), proof.serialize())
        self.result = SealResult(self._out, self.case, len(self.manifest["items"]), len(all_events), sealed_index,
                                 note, hashlib.sha256(self._manifest_bytes).hexdigest())
        return self.result


@contextlib.contextmanager
def sealing(blobs: BlobSource, events: Sequence[tuple[int, bytes, dict[str, Any]]], case: str, out: Path,
            sealed_by: str, origin: str, at: datetime | None = None,
            progress: Progress | None = None) -> Iterator[Sealing]:
    """Start the bundle of a case's `events` (from `case_events`): copy every item in while checking its digests,
    then hand over a `Sealing` to `log_seal` and `finish`. The file appears at `out` only when finished."""
    if not sealed_by.strip():
        raise InputError.field("--by", "say who seals the bundle")
    sealed_at = require_aware(at, "at") if at is not None else utcnow()
    if not any(e["event"] == "acquired" for _i, _d, e in events):
        raise InputError.field("--case", f"the case {case!r} has no acquired items in this store")
    manifest = manifest_for(case, events, sealed_at, sealed_by, origin)
    manifest_bytes = canonical_bytes(manifest, "manifest")
    graph = case_graph(case, manifest["items"], [(i, e) for i, _d, e in events], origin)
    graph_bytes = canonical_bytes(graph, "case.jsonld")
    with write_atomically(out) as f, zipfile.ZipFile(f, "w", allowZip64=True) as zf:
        with MultiHasher() as hasher:
            for item in manifest["items"]:
                with blobs.open_blob(item["sha256"]) as source, \
                        zf.open(_zip_info(item["path"], sealed_at, True), "w", force_zip64=True) as dst:
                    got = hasher.hash_stream(TeeReader(source, dst), progress)
                expected = {k: item[k] for k in ("sha256", "sha1", "md5")}
                if got.digests != expected or got.size != item["size"]:
                    raise StoreError(f"the stored copy of {item['path']} no longer matches its acquisition "
                                     f"(event {item['acquired_event']}); nothing was sealed")
        event = make_event("sealed", at=sealed_at, actor=sealed_by, case=case,
                           items=sorted({i["sha256"] for i in manifest["items"]}),
                           details={"bundle_format": BUNDLE_FORMAT,
                                    "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest(),
                                    "case_jsonld_sha256": hashlib.sha256(graph_bytes).hexdigest(),
                                    # pins each event, so a verifier can tell a changed event from a changed proof
                                    "event_leaf_hashes": {str(i): leaf_hash(d).hex() for i, d, _e in events}})
        state = Sealing(zf, case, manifest, manifest_bytes, graph_bytes, events, event, sealed_at, out)
        yield state
        if state.result is None:
            raise StoreError(f"the bundle of {case} was not finished; nothing was written")


def seal(blobs: BlobSource, log: CustodyLedger, signer: NoteSigner, case: str, out: Path, sealed_by: str,
         at: datetime | None = None, progress: Progress | None = None, tsa_url: str | None = None) -> SealResult:
    """Write the sealed bundle of a case to `out` (see the module docstring); with `tsa_url`, the checkpoint is
    timestamped by that RFC 3161 TSA and the token kept in the bundle."""
    with sealing(blobs, case_events(log, case), case, out, sealed_by, log.origin, at, progress) as state:
        note = state.log_seal(log, signer)
        result = state.finish(request_token(tsa_url, note.text) if tsa_url else None)
    return result


def cosign_bundle(source: Path, out: Path, signer: NoteSigner, note: SignedNote,
                  at: datetime | None = None) -> SignedNote:
    """Copy a (verified) bundle to `out` with the signer's tlog-cosignature (timestamped `at`, default now) on its
    checkpoint, in the checkpoint and in every proof."""
    cosigned = note.with_cosignature(signer, require_aware(at, "at") if at is not None else utcnow())
    with zipfile.ZipFile(source) as zin, write_atomically(out) as f, zipfile.ZipFile(f, "w", allowZip64=True) as zout:
        for info in zin.infolist():
            if info.filename == CHECKPOINT:
                zout.writestr(info, cosigned.serialize())
            elif info.filename.startswith("custody/proofs/"):
                proof = InclusionProof.parse(zin.read(info))
                zout.writestr(info, InclusionProof(proof.index, proof.path, cosigned, proof.extra).serialize())
            else:
                with zin.open(info) as src, zout.open(info, "w", force_zip64=True) as dst:
                    while chunk := src.read(1024 * 1024):
                        dst.write(chunk)
    return cosigned
