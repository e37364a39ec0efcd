"""Receiving another State's sealed bundle: verify it, cosign its checkpoint (C2SP tlog-cosignature) with this
node's key, keep the cosigned copy in the blob store and log a `received` event in this node's custody log.

`receive_bundle` is what an officer does (CLI, API, web page), through the policy; `cosign_and_keep` and
`record_received` are its steps, which the federation delivery hook (arrivals.py) runs inside a delivery's
transaction. The verification and the copy run outside any transaction.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Action, Subject
from nohaven.config import Settings
from nohaven.errors import InputError
from nohaven.evidence.bundle import CHECKPOINT, cosign_bundle
from nohaven.evidence.custody import make_event
from nohaven.evidence.errors import BundleFormatError
from nohaven.evidence.hashing import hash_file
from nohaven.evidence.note import NoteError, NoteSigner, NoteVerifier, SignedNote
from nohaven.evidence.verify import BundleReport, verify_bundle
from nohaven.evidence_node.models import EvidenceBundle
from nohaven.evidence_node.service import (
    bundle_view,
    evidence_case,
    keep_file,
    node_log,
    scratch_dir,
    signature_names,
)
from nohaven.evidence_node.storage import log_signer
from nohaven.node import Node
from nohaven.requests.models import Case
from nohaven.timeutil import utcnow

if TYPE_CHECKING:
    from nohaven.federation.network_directory import NodeEntry

__all__ = ["Kept", "Received", "cosign_and_keep", "directory_verifiers", "listed_verifiers", "read_checkpoint",
           "receive_bundle", "record_received", "signed_by_node"]


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
    return listed_verifiers(ctx.directory().nodes, note, utcnow())


def listed_verifiers(entries: Iterable[NodeEntry], note: SignedNote,
                     now: datetime) -> list[tuple[NoteVerifier, str]]:
    """The checkpoint's signers (or cosigners) whose key one of these directory entries lists, valid `now`, each
    with its node (`XA/xa-node`)."""
    nodes = list(entries)
    found = []
    for sig in note.signatures:
        for entry in nodes:
            for key in entry.keys:
                verifier = NoteVerifier(sig.name, key.verify_key().raw)
                # its own log's signature, or its cosignature of a bundle it received and now passes on
                if key.valid_at(now) and sig.key_id in (verifier.key_id, verifier.cosigner.key_id):
                    found.append((verifier, f"{entry.state}/{entry.node_id}"))
    return found


def receive_bundle(node: Node, subject: Subject, *, case: str, bundle: Path, trusted: Sequence[NoteVerifier],
                   received_from: str = "") -> Received:
    """Verify another State's bundle, cosign its checkpoint with this node's key, keep the cosigned bundle and
    log a `received` event in this node's custody log. Without `trusted` keys, the network directory's are used."""
    with node.work() as session:  # refuse before reading anything
        evidence_case(session, subject, case, Action.EVIDENCE_RECEIVE)
        origin = node_log(session, node.settings).origin
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
        found = evidence_case(session, subject, case, Action.EVIDENCE_RECEIVE)
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


def cosign_and_keep(settings: Settings, bundle: Path, signer: NoteSigner, note: SignedNote, *,
                    source_sha256: str | None = None) -> Kept:
    """Copy a verified bundle with this node's cosignature on its checkpoint into the blob store.
    `source_sha256`: the bundle's SHA-256 when already known (a delivered attachment's), else it is computed."""
    with scratch_dir(settings) as scratch:
        out = scratch / bundle.name
        cosigned = cosign_bundle(bundle, out, signer, note)
        digest, size = keep_file(settings, out)
    if source_sha256 is None:
        source_sha256 = hash_file(bundle, ("sha256",)).digests["sha256"]
    return Kept(bundle.name, source_sha256, digest, size, cosigned, signer.name)


def record_received(session: Session, settings: Settings, case: Case, report: BundleReport, kept: Kept, *,
                    actor: str, received_from: str, name: str | None = None) -> EvidenceBundle:
    """Log the `received` event in this node's custody log (and a checkpoint over it), keep the bundle's row and
    audit it, in the caller's transaction."""
    log = node_log(session, settings)
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
                         signatures=signature_names(kept.checkpoint), created_at=utcnow(), created_by=actor)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="evidence.receive", object_type="case", object_id=case.reference,
                 detail={"bundle": row.id, "from_log": report.origin, "from_case": report.case,
                         "sha256": kept.source_sha256, "cosigned_sha256": kept.sha256, "custody_event": seq,
                         "received_from": received_from})
    return row

