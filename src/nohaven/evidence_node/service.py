"""Evidence in the node: acquire into the blob store, seal, checkpoint and prove, receive and cosign.

Every function asks the policy first (evidence belongs to a case: its members who handle requests, and
supervisors) and audits what it did. Long work — copying and hashing items, writing or verifying a bundle — runs
outside any transaction; the custody events, the rows that describe them and their audit entries are written
afterwards in one short transaction, so the log never holds an event whose item or bundle is not there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
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
from nohaven.evidence.bundle import sealing
from nohaven.evidence.custody import make_event, parse_event
from nohaven.evidence.merkle import leaf_hash, verify_consistency
from nohaven.evidence.note import Checkpoint, SignedNote
from nohaven.evidence.proofs import InclusionProof, b64, consistency_document
from nohaven.evidence.store import Acquisition, store_items
from nohaven.evidence.timestamp import request_token
from nohaven.evidence_node.ledger import DatabaseCustodyLog, open_log
from nohaven.evidence_node.models import EvidenceBundle, EvidenceItem
from nohaven.evidence_node.storage import NodeBlobs, log_signer
from nohaven.node import Node
from nohaven.requests.cases import members_of
from nohaven.requests.models import Case
from nohaven.timeutil import utcnow

__all__ = ["add_evidence", "bundle_for", "bundle_view", "case_evidence", "check_may", "checkpoint", "consistency",
           "item_for", "item_view", "log_origin", "prove", "safe_name", "scratch_dir", "seal_case"]


def evidence_case(session: Session, subject: Subject, reference: str, action: Action) -> Case:
    """The case, if the policy lets the subject do `action` on its evidence (else 404, audited)."""
    case = session.execute(select(Case).where(Case.reference == reference)).scalar_one_or_none()
    members = members_of(session, case.id) if case is not None else frozenset()
    require(subject, action, object_type="case", object_id=reference, target=Target(case_members=members),
            hide=True)
    if case is None:
        raise NotFoundError(f"case {reference} not found")
    return case


def node_log(session: Session, settings: Settings) -> DatabaseCustodyLog:
    return open_log(session, directory.node_identity(session).state_code, settings.federation_node_id)


def log_origin(session: Session, settings: Settings) -> str:
    """The origin of this node's custody log (fixed at first use)."""
    return node_log(session, settings).origin


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
        evidence_case(session, subject, case, action)


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
        evidence_case(session, subject, case, Action.EVIDENCE_ADD)
    events = store_items(NodeBlobs(node.settings), paths, acquisition)
    with node.work() as session:
        found = evidence_case(session, subject, case, Action.EVIDENCE_ADD)
        positions = node_log(session, node.settings).append_many(events)
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
    found = evidence_case(session, subject, case, Action.EVIDENCE_READ)
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
    return node_log(session, settings).append(event)


def item_for(session: Session, settings: Settings, subject: Subject, case: str, item_id: int, *,
             via: str) -> EvidenceItem:
    """An acquired item of the case the subject may read, to download: audited, and logged as an `accessed`
    custody event (`via`: the surface it is downloaded through, e.g. "api" or "web")."""
    found = evidence_case(session, subject, case, Action.EVIDENCE_READ)
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
    found = evidence_case(session, subject, case, Action.EVIDENCE_READ)
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

def signature_names(note: SignedNote) -> list[dict[str, str]]:
    return [{"name": s.name, "key_id": s.key_id.hex()} for s in note.signatures]


def keep_file(settings: Settings, path: Path) -> tuple[str, int]:
    return BlobStore(settings.blob_dir).put_file(path)


def seal_case(node: Node, subject: Subject, case: str, *, tsa_url: str | None = None) -> dict[str, Any]:
    """Seal the case's evidence into a bundle, kept in the blob store; returns its view (with `sha256`).

    No transaction is held while the ZIP is written: the case's events are read in a short one, the items are
    copied into the bundle outside any, the `sealed` event, its checkpoint and the proofs are made in a second
    short one, the rest of the bundle (and an RFC 3161 timestamp, with `tsa_url` or NOHAVEN_EVIDENCE_TSA_URL) is
    written outside again, and the bundle's row and audit entry are a third. A failure after the second leaves
    the `sealed` event in the log (an honest record of the attempt) and no bundle.
    """
    tsa_url = tsa_url or node.settings.evidence_tsa_url
    with node.work() as session:
        evidence_case(session, subject, case, Action.EVIDENCE_SEAL)
        log = node_log(session, node.settings)
        origin = log.origin
        events = [(i, d, parse_event(d, f"custody event {i}")) for i, d in log.case_events(case)]
    signer = log_signer(node.settings, origin)
    with scratch_dir(node.settings) as scratch:
        out = scratch / f"{_safe(case)}-evidence.zip"
        with sealing(NodeBlobs(node.settings), events, case, out, subject.username, origin) as state:
            with node.work() as session:
                evidence_case(session, subject, case, Action.EVIDENCE_SEAL)  # still allowed, now that the copy is done
                note = state.log_seal(node_log(session, node.settings), signer)
            token = request_token(tsa_url, note.text) if tsa_url else None
            result = state.finish(token)
        digest, size_bytes = keep_file(node.settings, out)
    with node.work() as session:
        found = evidence_case(session, subject, case, Action.EVIDENCE_SEAL)
        bundle = EvidenceBundle(case_id=found.id, kind="sealed", name=out.name, sha256=digest, size=size_bytes,
                                log_origin=origin, tree_size=Checkpoint.from_text(note.text).size,
                                event_seq=result.sealed_index,
                                signatures=signature_names(note), created_at=utcnow(), created_by=subject.username)
        session.add(bundle)
        session.flush()
        audit.record(session, actor=subject.username, action="evidence.seal", object_type="case", object_id=case,
                     detail={"bundle": bundle.id, "sha256": digest, "items": result.items,
                             "custody_event": result.sealed_index, "manifest_sha256": result.manifest_sha256,
                             "timestamped_by": tsa_url})
        return {**bundle_view(bundle), "items": result.items, "events": result.events,
                "checkpoint": note.serialize().decode(), "timestamped": token is not None}


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:100] or "case"


# ---- the custody log ------------------------------------------------------------------------------------------

def checkpoint(node: Node, subject: Subject) -> dict[str, Any]:
    """Sign a checkpoint of the node's custody log as it is now."""
    with node.work() as session:
        require(subject, Action.CUSTODY_READ, object_type="custody_log")
        log = node_log(session, node.settings)
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
        log = node_log(session, node.settings)
        case = log.case_of(index)
        evidence_case(session, subject, case, Action.EVIDENCE_READ)  # the event's content is the case's
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
        log = node_log(session, node.settings)
        new_size = log.size if new is None else new
        proof = log.consistency_proof(old, new_size)
        old_root, new_root = log.root(old), log.root(new_size)
        verify_consistency(old, new_size, old_root, new_root, proof)
        audit.record(session, actor=subject.username, action="custody.consistency", object_type="custody_log",
                     object_id=log.origin, detail={"old": old, "new": new_size})
        return consistency_document(log.origin, old, old_root, new_size, new_root, proof)
