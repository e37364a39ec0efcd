"""Evidence in the node: acquire into the blob store, seal, checkpoint and prove, receive and cosign.

Every function asks the policy first (evidence belongs to a case: its members who handle requests, and
supervisors) and audits what it did. Long work — copying and hashing items, writing or verifying a bundle — runs
outside any transaction; the custody events, the rows that describe them and their audit entries are written
afterwards in one short transaction, so the log never holds an event whose item or bundle is not there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject, Target
from nohaven.auth.service import require
from nohaven.blobs import BlobStore
from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.errors import InputError, NotFoundError
from nohaven.evidence.bundle import CHECKPOINT, cosign_bundle, seal
from nohaven.evidence.custody import make_event
from nohaven.evidence.errors import BundleFormatError
from nohaven.evidence.merkle import leaf_hash, verify_consistency
from nohaven.evidence.note import Checkpoint, NoteError, NoteSigner, NoteVerifier, SignedNote
from nohaven.evidence.proofs import InclusionProof, b64, consistency_document
from nohaven.evidence.store import Acquisition, store_items
from nohaven.evidence.verify import BundleReport, verify_bundle
from nohaven.evidence_node.ledger import DatabaseCustodyLog, open_log
from nohaven.evidence_node.models import EvidenceBundle, EvidenceItem
from nohaven.evidence_node.storage import NodeBlobs, log_signer
from nohaven.node import Node
from nohaven.requests.cases import members_of
from nohaven.requests.models import Case
from nohaven.timeutil import utcnow

__all__ = ["Kept", "add_evidence", "bundle_for", "case_evidence", "check_may", "checkpoint", "consistency",
           "cosign_and_keep", "item_for", "log_origin", "prove", "read_checkpoint", "receive_bundle", "record_received",
           "safe_name", "scratch_dir", "seal_case", "signed_by_node"]


def _case(session: Session, subject: Subject, reference: str, action: Action) -> Case:
    """The case, if the policy lets the subject do `action` on its evidence (else 404, audited)."""
    case = session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
    members = members_of(session, case.id) if case is not None else frozenset()
    require(subject, action, object_type="case", object_id=reference, target=Target(case_members=members),
            hide=True)
    if case is None:
        raise NotFoundError(f"case {reference} not found")
    return case


def _log(session: Session, settings: Settings) -> DatabaseCustodyLog:
    return open_log(session, directory.node_identity(session).state_code, settings.federation_node_id)


def log_origin(session: Session, settings: Settings) -> str:
    """The origin of this node's custody log (fixed at first use)."""
    return _log(session, settings).origin


@contextmanager
def scratch_dir(settings: Settings) -> Iterator[Path]:
    """A private temporary directory on the data dir's file system (so results move into the store by rename)."""
    root = settings.data_dir / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix="evidence-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def safe_name(name: str) -> str:
    """A file name from a user (upload name): no directories, no leading dots, 1 to 255 characters."""
    cleaned = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    if not cleaned or len(cleaned) > 255:
        raise InputError.field("name", "give the file a name of 1 to 255 characters")
    return cleaned


def check_may(node: Node, subject: Subject, case: str, action: Action) -> None:
    """Refuse (audited) before a long upload when the subject may not do `action` on the case's evidence."""
    with node.work() as session:
        _case(session, subject, case, action)


def item_view(item: EvidenceItem) -> dict[str, Any]:
    return {"id": item.id, "exhibit": item.exhibit, "name": item.name, "size": item.size, "sha256": item.sha256,
            "sha1": item.sha1, "md5": item.md5, "source": item.source, "authority": item.authority,
            "location": item.location, "tool": item.tool, "tool_version": item.tool_version,
            "acquired_by": item.acquired_by, "acquired_at": item.acquired_at.isoformat(),
            "custody_event": item.event_seq}


def bundle_view(bundle: EvidenceBundle) -> dict[str, Any]:
    return {"id": bundle.id, "kind": bundle.kind, "name": bundle.name, "sha256": bundle.sha256,
            "size": bundle.size, "log_origin": bundle.log_origin, "tree_size": bundle.tree_size,
            "custody_event": bundle.event_seq, "signatures": bundle.signatures,
            "created_at": bundle.created_at.isoformat(), "created_by": bundle.created_by}


# ---- acquisition ----------------------------------------------------------------------------------------------

def add_evidence(node: Node, subject: Subject, *, case: str, exhibit: str, source: str, authority: str,
                 location: str, paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Acquire files for a case: copy them into the blob store (hashed in the same pass) and log `acquired`."""
    acquisition = Acquisition(case=case, exhibit=exhibit, examiner=subject.username, source=source,
                              authority=authority, location=location)
    acquisition.check()
    with node.work() as session:  # refuse before copying anything
        _case(session, subject, case, Action.EVIDENCE_ADD)
    events = store_items(NodeBlobs(node.settings), paths, acquisition)
    with node.work() as session:
        found = _case(session, subject, case, Action.EVIDENCE_ADD)
        positions = _log(session, node.settings).append_many(events)
        items = []
        for seq, event in zip(positions, events, strict=True):
            d = event["details"]
            item = EvidenceItem(case_id=found.id, exhibit=d["exhibit"], name=d["name"], size=d["size"],
                                sha256=d["sha256"], sha1=d["sha1"], md5=d["md5"], source=d["source"],
                                authority=d["authority"], location=d["location"], tool=d["tool"],
                                tool_version=d["tool_version"], acquired_by=event["actor"],
                                acquired_at=utcnow(), event_seq=seq)
            session.add(item)
            items.append(item)
        session.flush()
        for item in items:
            audit.record(session, actor=subject.username, action="evidence.add", object_type="case",
                         object_id=case, detail={"exhibit": item.exhibit, "name": item.name, "size": item.size,
                                                 "sha256": item.sha256, "custody_event": item.event_seq})
        return [item_view(i) for i in items]


def case_evidence(session: Session, subject: Subject, case: str) -> dict[str, Any]:
    """A case's items and bundles (audited read)."""
    found = _case(session, subject, case, Action.EVIDENCE_READ)
    items = session.execute(select(EvidenceItem).where(EvidenceItem.case_id == found.id)
                            .order_by(EvidenceItem.id)).scalars()
    bundles = session.execute(select(EvidenceBundle).where(EvidenceBundle.case_id == found.id)
                              .order_by(EvidenceBundle.id)).scalars()
    audit.record(session, actor=subject.username, action="evidence.list", object_type="case", object_id=case)
    return {"case": case, "items": [item_view(i) for i in items], "bundles": [bundle_view(b) for b in bundles]}


def _log_taking(session: Session, settings: Settings, subject: Subject, case: str, kind: str, items: list[str],
                details: dict[str, Any]) -> int:
    """Log who took a copy of the case's evidence (`accessed` for an item, `exported` for a bundle), and when."""
    event = make_event(kind, at=utcnow(), actor=subject.username, case=case, items=items, details=details)
    return _log(session, settings).append(event)


def item_for(session: Session, settings: Settings, subject: Subject, case: str, item_id: int, *,
             via: str) -> EvidenceItem:
    """An acquired item of the case the subject may read, to download: audited, and logged as an `accessed`
    custody event (`via`: the surface it is downloaded through, e.g. "api" or "web")."""
    found = _case(session, subject, case, Action.EVIDENCE_READ)
    item = session.get(EvidenceItem, item_id)
    if item is None or item.case_id != found.id:
        raise NotFoundError(f"item {item_id} of case {case} not found")
    seq = _log_taking(session, settings, subject, case, "accessed", [item.sha256],
                      {"item": item.id, "exhibit": item.exhibit, "name": item.name, "size": item.size,
                       "sha256": item.sha256, "via": via})
    audit.record(session, actor=subject.username, action="evidence.item.read", object_type="case",
                 object_id=case, detail={"item": item.id, "sha256": item.sha256, "custody_event": seq})
    return item


def bundle_for(session: Session, settings: Settings, subject: Subject, case: str, bundle_id: int, *,
               via: str) -> EvidenceBundle:
    """A kept bundle of the case the subject may read, to download: audited, and logged as an `exported`
    custody event."""
    found = _case(session, subject, case, Action.EVIDENCE_READ)
    bundle = session.get(EvidenceBundle, bundle_id)
    if bundle is None or bundle.case_id != found.id:
        raise NotFoundError(f"bundle {bundle_id} of case {case} not found")
    seq = _log_taking(session, settings, subject, case, "exported", [],
                      {"bundle": bundle.id, "kind": bundle.kind, "name": bundle.name, "size": bundle.size,
                       "bundle_sha256": bundle.sha256, "via": via})
    audit.record(session, actor=subject.username, action="evidence.bundle.read", object_type="case",
                 object_id=case, detail={"bundle": bundle_id, "sha256": bundle.sha256, "custody_event": seq})
    return bundle


# ---- sealing --------------------------------------------------------------------------------------------------

def _signature_names(note: SignedNote) -> list[dict[str, str]]:
    return [{"name": s.name, "key_id": s.key_id.hex()} for s in note.signatures]


def _keep(settings: Settings, path: Path) -> tuple[str, int]:
    return BlobStore(settings.blob_dir).put_file(path)


def seal_case(node: Node, subject: Subject, case: str) -> dict[str, Any]:
    """Seal the case's evidence into a bundle, kept in the blob store; returns its view (with `sha256`).

    The seal runs in one transaction: its `sealed` event and checkpoint commit only with the bundle's record.
    """
    with scratch_dir(node.settings) as scratch, node.work() as session:
        found = _case(session, subject, case, Action.EVIDENCE_SEAL)
        log = _log(session, node.settings)
        signer = log_signer(node.settings, log.origin)
        out = scratch / f"{_safe(case)}-evidence.zip"
        result = seal(NodeBlobs(node.settings), log, signer, case, out, subject.username)
        digest, size = _keep(node.settings, out)
        bundle = EvidenceBundle(case_id=found.id, kind="sealed", name=out.name, sha256=digest, size=size,
                                log_origin=log.origin, tree_size=Checkpoint.from_text(result.checkpoint.text).size,
                                event_seq=result.sealed_index, signatures=_signature_names(result.checkpoint),
                                created_at=utcnow(), created_by=subject.username)
        session.add(bundle)
        session.flush()
        audit.record(session, actor=subject.username, action="evidence.seal", object_type="case", object_id=case,
                     detail={"bundle": bundle.id, "sha256": digest, "items": result.items,
                             "custody_event": result.sealed_index, "manifest_sha256": result.manifest_sha256})
        return {**bundle_view(bundle), "items": result.items, "events": result.events,
                "checkpoint": result.checkpoint.serialize().decode()}


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:100] or "case"


# ---- the custody log ------------------------------------------------------------------------------------------

def checkpoint(node: Node, subject: Subject) -> dict[str, Any]:
    """Sign a checkpoint of the node's custody log as it is now."""
    with node.work() as session:
        require(subject, Action.CUSTODY_READ, object_type="custody_log")
        log = _log(session, node.settings)
        note = log.checkpoint(log_signer(node.settings, log.origin))
        audit.record(session, actor=subject.username, action="custody.checkpoint", object_type="custody_log",
                     object_id=log.origin, detail={"size": log.size})
        return {"origin": log.origin, "size": log.size, "root": b64(log.root()),
                "checkpoint": note.serialize().decode(),
                "verifier_key": log_signer(node.settings, log.origin).verifier.vkey}


def prove(node: Node, subject: Subject, index: int) -> dict[str, Any]:
    """Inclusion proof of event `index` in a checkpoint that covers it (the latest, or a new one)."""
    with node.work() as session:
        require(subject, Action.CUSTODY_READ, object_type="custody_log")
        log = _log(session, node.settings)
        case = log.case_of(index)
        _case(session, subject, case, Action.EVIDENCE_READ)  # the event's content is the case's
        note = log.latest_checkpoint()
        if note is None or Checkpoint.from_text(note.text).size <= index:
            note = log.checkpoint(log_signer(node.settings, log.origin))
        size = Checkpoint.from_text(note.text).size
        proof = InclusionProof(index, tuple(log.inclusion_proof(index, size)), note)
        event = log.event_bytes(index)
        audit.record(session, actor=subject.username, action="custody.prove", object_type="custody_log",
                     object_id=log.origin, detail={"index": index, "case": case})
        return {"index": index, "tree_size": size, "leaf_hash": b64(leaf_hash(event)), "event": json.loads(event),
                "proof": [b64(h) for h in proof.path], "tlog_proof": proof.serialize().decode()}


def consistency(node: Node, subject: Subject, old: int, new: int | None) -> dict[str, Any]:
    """Consistency proof of the log between two sizes (checked before it is returned)."""
    with node.work() as session:
        require(subject, Action.CUSTODY_READ, object_type="custody_log")
        log = _log(session, node.settings)
        new_size = log.size if new is None else new
        proof = log.consistency_proof(old, new_size)
        old_root, new_root = log.root(old), log.root(new_size)
        verify_consistency(old, new_size, old_root, new_root, proof)
        audit.record(session, actor=subject.username, action="custody.consistency", object_type="custody_log",
                     object_id=log.origin, detail={"old": old, "new": new_size})
        return consistency_document(log.origin, old, old_root, new_size, new_root, proof)


# ---- receiving another State's bundle -------------------------------------------------------------------------

@dataclass(frozen=True)
class Received:
    view: dict[str, Any]
    report: BundleReport


def read_checkpoint(bundle: Path) -> SignedNote:
    """The signed checkpoint of a bundle (not verified)."""
    try:
        with zipfile.ZipFile(bundle) as zf:
            return SignedNote.parse(zf.read(CHECKPOINT))
    except (OSError, zipfile.BadZipFile, KeyError, NoteError) as exc:
        raise BundleFormatError(CHECKPOINT, f"cannot be read: {exc}") from None


def directory_verifiers(node: Node, note: SignedNote) -> list[tuple[NoteVerifier, str]]:
    """The checkpoint's signers whose key the network directory lists as a node's key (now valid), with that
    node (`XA/xa-node`): the directory is the trust. Empty when federation is off."""
    if not node.settings.federation_enabled:
        return []
    from nohaven.federation.context import load_context  # the federation is optional; load it only when on

    ctx = load_context(node)
    if ctx is None:
        return []
    now = utcnow()
    found = []
    for sig in note.signatures:
        for entry in ctx.directory().nodes:
            for key in entry.keys:
                verifier = NoteVerifier(sig.name, key.verify_key().raw)
                if key.valid_at(now) and verifier.key_id == sig.key_id:
                    found.append((verifier, f"{entry.state}/{entry.node_id}"))
    return found


def receive_bundle(node: Node, subject: Subject, *, case: str, bundle: Path, trusted: Sequence[NoteVerifier],
                   received_from: str = "") -> Received:
    """Verify another State's bundle, cosign its checkpoint with this node's key, keep the cosigned bundle and
    log a `received` event in this node's custody log. Without `trusted` keys, the network directory's are used."""
    with node.work() as session:  # refuse before reading anything
        _case(session, subject, case, Action.EVIDENCE_RECEIVE)
        origin = _log(session, node.settings).origin
    note = read_checkpoint(bundle)
    keys = list(trusted)
    if not keys:
        listed = directory_verifiers(node, note)
        keys = [v for v, _n in listed]
        received_from = received_from or ", ".join(n for _v, n in listed)
    if not keys:
        raise InputError.field("--trust", "name the sender's verifier key (the network directory lists no "
                               "signer of this bundle's checkpoint)")
    report = verify_bundle(bundle, keys)
    signer = log_signer(node.settings, origin)
    if signed_by_node(note, signer):
        raise InputError.field("FILE", "this bundle already carries this node's signature")
    kept = cosign_and_keep(node.settings, bundle, signer, note)
    with node.work() as session:
        found = _case(session, subject, case, Action.EVIDENCE_RECEIVE)
        row = record_received(session, node.settings, found, report, kept, actor=subject.username,
                              received_from=received_from)
        return Received({**bundle_view(row), "checkpoint": kept.checkpoint.serialize().decode()}, report)


def signed_by_node(note: SignedNote, signer: NoteSigner) -> bool:
    """Whether the checkpoint already carries a signature or cosignature line of this node's key."""
    ids = {signer.verifier.key_id, signer.verifier.cosigner.key_id}
    return any(s.name == signer.name and s.key_id in ids for s in note.signatures)


@dataclass(frozen=True)
class Kept:
    """A received bundle, cosigned and kept in the blob store."""

    name: str
    source_sha256: str
    sha256: str
    size: int
    checkpoint: SignedNote
    cosigned_by: str


def cosign_and_keep(settings: Settings, bundle: Path, signer: NoteSigner, note: SignedNote) -> Kept:
    """Copy a verified bundle with this node's cosignature on its checkpoint into the blob store."""
    with scratch_dir(settings) as scratch:
        out = scratch / bundle.name
        cosigned = cosign_bundle(bundle, out, signer, note)
        digest, size = _keep(settings, out)
    return Kept(bundle.name, _sha256_of(bundle), digest, size, cosigned, signer.name)


def record_received(session: Session, settings: Settings, case: Case, report: BundleReport, kept: Kept, *,
                    actor: str, received_from: str, name: str | None = None) -> EvidenceBundle:
    """Log the `received` event in this node's custody log (and a checkpoint over it), keep the bundle's row and
    audit it, in the caller's transaction."""
    log = _log(session, settings)
    shown = name or kept.name
    event = make_event("received", at=utcnow(), actor=actor, case=case.reference, items=[],
                       details={"from_log": report.origin, "from_case": report.case,
                                "tree_size": report.tree_size, "root": report.root, "items": report.items,
                                "bundle": shown, "bundle_sha256": kept.source_sha256,
                                "cosigned_bundle_sha256": kept.sha256, "cosigned_by": kept.cosigned_by,
                                "received_from": received_from})
    seq = log.append(event)
    log.checkpoint(log_signer(settings, log.origin))
    row = EvidenceBundle(case_id=case.id, kind="received", name=shown[:255], sha256=kept.sha256, size=kept.size,
                         log_origin=report.origin, tree_size=report.tree_size, event_seq=seq,
                         signatures=_signature_names(kept.checkpoint), created_at=utcnow(), created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="evidence.receive", object_type="case", object_id=case.reference,
                 detail={"bundle": row.id, "from_log": report.origin, "from_case": report.case,
                         "sha256": kept.source_sha256, "cosigned_sha256": kept.sha256, "custody_event": seq,
                         "received_from": received_from})
    return row


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.hexdigest()
