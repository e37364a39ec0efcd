"""The offline verifier: a bundle and trusted public keys in, VERIFIED or the first failed check out.

Needs only the standard library, `cryptography` and `rfc8785`: no database, server or network. Checks, in order:

1. the ZIP is readable and holds manifest.json, case.jsonld and custody/checkpoint;
2. the checkpoint is a well-formed signed note; every trusted key has a valid signature on it, or a valid C2SP
   tlog-cosignature (whose time is reported); a line that names a trusted key but does not verify fails; other
   signature lines are reported as not checked;
3. every custody event is canonical, is in the checkpointed tree (its tlog-proof, whose checkpoint must be the
   same), and belongs to the case;
4. a `sealed` event records the SHA-256 of manifest.json and case.jsonld;
5. the manifest agrees with the `acquired` event of each item, and lists exactly the events in the bundle;
6. every item's bytes have the manifest's size, SHA-256, SHA-1 and MD5; the ZIP holds nothing else.

An RFC 3161 timestamp of the checkpoint, when the bundle has one, is checked after step 2 (see timestamp.py).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nohaven.evidence.bundle import BUNDLE_FORMAT, CASE_JSONLD, CHECKPOINT, MANIFEST, event_member, proof_member
from nohaven.evidence.canonical import parse_strict
from nohaven.evidence.custody import parse_event
from nohaven.evidence.errors import BundleFormatError, VerificationError
from nohaven.evidence.hashing import MultiHasher, Progress
from nohaven.evidence.merkle import ProofError, leaf_hash, verify_inclusion
from nohaven.evidence.note import ED25519, Checkpoint, NoteError, NoteVerifier, SignedNote
from nohaven.evidence.proofs import InclusionProof
from nohaven.evidence.timestamp import TIMESTAMP, describe_token

__all__ = ["BundleReport", "SignatureReport", "verify_bundle"]

_EVENT_NAME = re.compile(r"^custody/events/(0|[1-9][0-9]*)\.json$")
_PROOF_NAME = re.compile(r"^custody/proofs/(0|[1-9][0-9]*)\.tlog-proof$")
_MAX_SMALL_MEMBER = 64 * 1024 * 1024


@dataclass(frozen=True)
class SignatureReport:
    name: str
    key_id: str
    fingerprint: str | None  # SHA-256 of the public key, when the key is trusted
    status: str  # "verified" or "not checked (key not trusted)"
    kind: str = "signature"  # "signature" (the log's), "cosignature" (C2SP tlog-cosignature) or "unknown"
    cosigned_at: str | None = None  # the time a cosigner stated, ISO 8601 UTC


@dataclass
class BundleReport:
    case: str = ""
    origin: str = ""
    tree_size: int = 0
    root: str = ""
    items: int = 0
    total_bytes: int = 0
    events: dict[str, int] = field(default_factory=dict)
    signatures: list[SignatureReport] = field(default_factory=list)
    sealed_at: str = ""
    sealed_by: str = ""
    timestamp: dict[str, Any] | None = None  # the RFC 3161 token of the checkpoint, when the bundle has one

    def as_dict(self) -> dict[str, Any]:
        return {"verified": True, "case": self.case, "log_origin": self.origin, "tree_size": self.tree_size,
                "root": self.root, "items": self.items, "total_bytes": self.total_bytes, "events": self.events,
                "sealed_at": self.sealed_at, "sealed_by": self.sealed_by,
                "signatures": [s.__dict__ for s in self.signatures], "timestamp": self.timestamp}


def _read(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        info = zf.getinfo(name)
    except KeyError:
        raise BundleFormatError(name, "missing from the bundle") from None
    if info.file_size > _MAX_SMALL_MEMBER:
        raise BundleFormatError(name, f"is {info.file_size} bytes, far more than such a file holds")
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise BundleFormatError(name, f"cannot be read from the ZIP: {exc}") from None


def _check_signatures(note: SignedNote, trusted: Sequence[NoteVerifier]) -> list[SignatureReport]:
    """Every trusted key must have signed (type 0x01) or cosigned (tlog-cosignature, type 0x04) the checkpoint."""
    reports = []
    verified: set[tuple[str, bytes]] = set()
    for key in trusted:
        where = f"{CHECKPOINT} signature of {key.name}"
        try:
            sig = note.signed_by(key) if key.algorithm == ED25519 else None
            cosig = note.cosigned_by(key) if sig is None else None
        except NoteError as exc:
            raise VerificationError(where, str(exc), check="signature") from None
        if sig is not None:
            verified.add((sig.name, sig.key_id))
            reports.append(SignatureReport(key.name, sig.key_id.hex(), key.fingerprint, "verified"))
        elif cosig is not None:
            verified.add((cosig.line.name, cosig.line.key_id))
            reports.append(SignatureReport(key.name, cosig.line.key_id.hex(), key.fingerprint, "verified",
                                           "cosignature", cosig.at.isoformat().replace("+00:00", "Z")))
        else:
            raise VerificationError(f"{CHECKPOINT}", f"has no signature by the trusted key {key.name} (key "
                                    f"id {key.key_id.hex()}), neither the log's nor a cosignature", check="signature")
    for line in note.signatures:
        if (line.name, line.key_id) not in verified:
            reports.append(SignatureReport(line.name, line.key_id.hex(), None, "not checked (key not trusted)",
                                           "unknown"))
    return reports


def _field(where: str, manifest_item: dict[str, Any], key: str, kind: type) -> Any:
    value = manifest_item.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise VerificationError(f"{MANIFEST} {where}.{key}", f"missing or not a {kind.__name__}", check="manifest")
    return value


def verify_bundle(path: Path, trusted: Sequence[NoteVerifier], progress: Progress | None = None,
                  tsa_roots: Sequence[Any] = ()) -> BundleReport:
    """Verify a bundle offline; raises VerificationError (or BundleFormatError) naming the first failed check.

    `tsa_roots`: root certificates of the time-stamping authority; given, the bundle must carry an RFC 3161
    timestamp of its checkpoint whose signature verifies to one of them."""
    if not trusted:
        raise VerificationError("--trust", "name at least one trusted key (a verifier key such as "
                                "origin+1a2b3c4d+AbC...); without one nothing can be verified", check="trust")
    try:
        zf = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise BundleFormatError(str(path), "no such file") from None
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise BundleFormatError(str(path), f"not a readable ZIP file (corrupt or truncated): {exc}") from None
    with zf:
        return _verify(zf, trusted, progress, tsa_roots)


def _verify(zf: zipfile.ZipFile, trusted: Sequence[NoteVerifier], progress: Progress | None,
            tsa_roots: Sequence[Any]) -> BundleReport:
    report = BundleReport()
    names = [i.filename for i in zf.infolist()]
    duplicates = [n for n, c in Counter(names).items() if c > 1]
    if duplicates:
        raise BundleFormatError(duplicates[0], "appears twice in the ZIP")

    # 2. The checkpoint and its signatures.
    try:
        note = SignedNote.parse(_read(zf, CHECKPOINT))
        checkpoint = Checkpoint.from_text(note.text)
    except NoteError as exc:
        raise VerificationError(CHECKPOINT, str(exc), check="checkpoint") from None
    report.signatures = _check_signatures(note, trusted)
    report.origin, report.tree_size, report.root = checkpoint.origin, checkpoint.size, checkpoint.root.hex()
    signature_lines = {s.line for s in note.signatures}
    if TIMESTAMP in names:
        report.timestamp = describe_token(_read(zf, TIMESTAMP), note.text, tsa_roots)
    elif tsa_roots:
        raise BundleFormatError(TIMESTAMP, "missing: --tsa-cert asks for the RFC 3161 timestamp of the checkpoint, "
                                "and this bundle carries none")

    # 3. Events and their proofs: well-formed, each proof for its own event and for this very checkpoint.
    events: dict[int, dict[str, Any]] = {}
    event_data: dict[int, bytes] = {}
    proofs: dict[int, InclusionProof] = {}
    event_indexes = sorted(int(m.group(1)) for n in names if (m := _EVENT_NAME.match(n)))
    proof_indexes = sorted(int(m.group(1)) for n in names if (m := _PROOF_NAME.match(n)))
    for index in proof_indexes:
        if index not in event_indexes:
            raise BundleFormatError(proof_member(index), "is a proof for an event the bundle does not hold")
    for index in event_indexes:
        where, proof_where = event_member(index), proof_member(index)
        data = _read(zf, where)
        try:
            proof = InclusionProof.parse(_read(zf, proof_where))
        except ValueError as exc:
            raise VerificationError(proof_where, str(exc), check="proof") from None
        if proof.index != index:
            raise VerificationError(proof_where, f"proves index {proof.index}, not {index}", check="proof")
        if proof.checkpoint.text != note.text:
            raise VerificationError(proof_where, "its checkpoint differs from custody/checkpoint", check="proof")
        if any(s.line not in signature_lines for s in proof.checkpoint.signatures):
            raise VerificationError(proof_where, "its checkpoint carries a signature custody/checkpoint does not",
                                    check="proof")
        try:
            events[index] = parse_event(data, where)
        except ValueError as exc:
            raise VerificationError(where, str(exc), check="event") from None
        event_data[index], proofs[index] = data, proof

    def prove(index: int, blame: str) -> None:
        try:
            verify_inclusion(index, checkpoint.size, leaf_hash(event_data[index]), proofs[index].path,
                             checkpoint.root)
        except ProofError as exc:
            raise VerificationError(blame, f"not in the checkpointed custody log: {exc}", check="inclusion") from None

    # 4. The seal: a sealed event, proven in the log, records manifest.json, case.jsonld and every other event.
    for index, event in events.items():
        if event["event"] == "sealed":
            prove(index, f"{event_member(index)} (or {proof_member(index)})")
    manifest_bytes = _read(zf, MANIFEST)
    graph_bytes = _read(zf, CASE_JSONLD)
    manifest_digest = hashlib.sha256(manifest_bytes).hexdigest()
    sealed = [(i, e) for i, e in events.items() if e["event"] == "sealed"
              and e["details"].get("manifest_sha256") == manifest_digest]
    if not sealed:
        raise VerificationError(MANIFEST, f"no sealed custody event records its SHA-256 ({manifest_digest}): the "
                                "manifest was changed after sealing", check="seal")
    sealed_index, sealed_event = sealed[-1]
    if sealed_event["details"].get("case_jsonld_sha256") != hashlib.sha256(graph_bytes).hexdigest():
        raise VerificationError(CASE_JSONLD, f"its SHA-256 is not the one sealed in event {sealed_index}",
                                check="seal")
    pinned = sealed_event["details"].get("event_leaf_hashes")
    if not isinstance(pinned, dict):
        raise VerificationError(event_member(sealed_index), "records no event_leaf_hashes", check="seal")
    for index in events:
        if index == sealed_index:
            continue
        if pinned.get(str(index)) != leaf_hash(event_data[index]).hex():
            raise VerificationError(event_member(index), f"is not the event sealed in event {sealed_index} (changed "
                                    "or added after sealing)", check="event")
        prove(index, proof_member(index))
    missing = sorted(int(i) for i in pinned if int(i) not in events)
    if missing:
        raise BundleFormatError(event_member(missing[0]), "sealed but missing from the bundle")
    try:
        manifest = parse_strict(manifest_bytes, MANIFEST)
    except ValueError as exc:
        raise VerificationError(MANIFEST, str(exc), check="manifest") from None
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        raise VerificationError(MANIFEST, f"is not a {BUNDLE_FORMAT} manifest", check="manifest")
    case = manifest.get("case")
    if not isinstance(case, str) or case != sealed_event["case"]:
        raise VerificationError(f"{MANIFEST} case", "differs from the case of the sealed event", check="manifest")
    if manifest.get("log_origin") != checkpoint.origin:
        raise VerificationError(f"{MANIFEST} log_origin", "differs from the checkpoint's origin", check="manifest")
    report.case, report.sealed_at, report.sealed_by = case, str(manifest.get("sealed_at")), sealed_event["actor"]

    # 5. Manifest against events.
    listed = manifest.get("events")
    if not isinstance(listed, list) or sorted(listed) != sorted(i for i in events if i != sealed_index):
        raise VerificationError(f"{MANIFEST} events", "does not list exactly the custody events in the bundle",
                                check="manifest")
    for index, event in events.items():
        if event["case"] != case:
            raise VerificationError(event_member(index), f"belongs to case {event['case']!r}, not {case!r}",
                                    check="event")
    items = manifest.get("items")
    if not isinstance(items, list) or not items:
        raise VerificationError(f"{MANIFEST} items", "missing or empty", check="manifest")
    item_paths: set[str] = set()
    for n, item in enumerate(items):
        where = f"items[{n}]"
        if not isinstance(item, dict):
            raise VerificationError(f"{MANIFEST} {where}", "is not an object", check="manifest")
        path = _field(where, item, "path", str)
        if not path.startswith("items/") or path in item_paths:
            raise VerificationError(f"{MANIFEST} {where}.path", "not under items/ or listed twice", check="manifest")
        item_paths.add(path)
        index = _field(where, item, "acquired_event", int)
        acquired = events.get(index)
        if acquired is None or acquired["event"] != "acquired":
            raise VerificationError(f"{MANIFEST} {where}.acquired_event", f"event {index} is not an acquired "
                                    "event in the bundle", check="manifest")
        for key in ("exhibit", "name", "size", "sha256", "sha1", "md5"):
            if item.get(key) != acquired["details"].get(key):
                raise VerificationError(f"{MANIFEST} {where}.{key}", f"differs from acquired event {index}",
                                        check="manifest")
        if acquired["items"] != [item["sha256"]] or item["sha256"] not in sealed_event["items"]:
            raise VerificationError(event_member(index), "does not name the item the manifest lists",
                                    check="event")

    # 6. The items' bytes; and nothing in the ZIP that the checks above did not cover.
    expected = {MANIFEST, CASE_JSONLD, CHECKPOINT, TIMESTAMP, *item_paths, *(event_member(i) for i in events),
                *(proof_member(i) for i in events)}
    for name in names:
        if name not in expected and not name.endswith("/"):
            raise VerificationError(name, "is in the bundle but not covered by the seal", check="unexpected")
    with MultiHasher() as hasher:
        for n, item in enumerate(items):
            path = item["path"]
            try:
                with zf.open(path) as member:
                    got = hasher.hash_stream(member, progress)
            except KeyError:
                raise BundleFormatError(path, "missing from the bundle") from None
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
                raise VerificationError(path, f"cannot be read from the ZIP (corrupt or changed): {exc}",
                                        check="item") from None
            if got.size != item["size"]:
                raise VerificationError(path, f"has {got.size} bytes; {item['size']} were sealed", check="item")
            for algo in ("sha256", "sha1", "md5"):
                if got.digests[algo] != item[algo]:
                    raise VerificationError(path, f"{algo.upper()} is {got.digests[algo]}, sealed as "
                                            f"{item[algo]} ({MANIFEST} items[{n}])", check="item")
            report.total_bytes += got.size
    report.items = len(items)
    report.events = dict(Counter(e["event"] for e in events.values()))
    return report
