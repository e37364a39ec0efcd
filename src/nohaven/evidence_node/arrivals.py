"""A sealed bundle that arrives with a federation delivery is verified, cosigned and logged on arrival.

The requests package runs every registered delivery hook inside the delivery's transaction (in a savepoint).
This one looks at each delivered file; one that is a nohaven sealed bundle (a ZIP holding the bundle's manifest
and checkpoint) is verified with the keys the network directory lists for the node that sent it. A bundle that
verifies gets this node's tlog-cosignature on its checkpoint, the cosigned copy is kept in the blob store beside
the delivered one, a `received` event goes into this node's custody log, and the request's timeline says so. A
bundle that does not verify stays the plain attachment it is: the timeline names the failed check and the
failure is audited. Bad content never raises (the delivery is the sender's, and it was already accepted).

Verifying reads every item of the bundle, so it is done before the delivery's transaction opens (the
`before_delivery` preparer, on the stored content, with the sending node the envelope was verified for); the hook
then uses that report for the same content and sender, and verifies itself only where nothing was prepared.

The hook is handed the receiving node's settings and the network directory it trusts (`peer.Arrival`); a node
outside a federation has no directory, and its bundles are kept unverified with a note saying how to receive them.
"""

from __future__ import annotations

import json
import logging
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from nohaven.audit import log as audit
from nohaven.auth.policy import Peer
from nohaven.blobs import BlobStore
from nohaven.errors import NohavenError
from nohaven.evidence.bundle import BUNDLE_FORMAT, CHECKPOINT, MANIFEST
from nohaven.evidence.errors import VerificationError
from nohaven.evidence.note import NoteVerifier, SignedNote
from nohaven.evidence.verify import verify_bundle
from nohaven.evidence_node.receiving import (
    cosign_and_keep,
    listed_verifiers,
    read_checkpoint,
    record_received,
    signed_by_node,
)
from nohaven.evidence_node.service import log_origin
from nohaven.evidence_node.storage import log_signer
from nohaven.requests import peer
from nohaven.requests.models import CooperationRequest, RequestAttachment, RequestEvent

__all__ = ["is_sealed_bundle", "sender_verifiers", "verify_before"]

log = logging.getLogger("nohaven.evidence")
ACTOR = "federation-inbox"
_MAX_MANIFEST = 64 * 1024 * 1024


def is_sealed_bundle(path: Path) -> bool:
    """Cheaply: a ZIP whose manifest.json names the bundle format and which holds a checkpoint."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo(MANIFEST)
            zf.getinfo(CHECKPOINT)
            if info.file_size > _MAX_MANIFEST:
                return False
            manifest = json.loads(zf.read(info))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == BUNDLE_FORMAT


def sender_verifiers(arrival: peer.Arrival, note: SignedNote, state: str, node_id: str | None,
                     now: datetime) -> list[NoteVerifier]:
    """The checkpoint's signers (or cosigners) whose key the directory lists, valid now, for the node that sent
    the bundle."""
    if arrival.directory is None:
        return []
    sender = [e for e in arrival.directory().nodes if e.state == state and node_id in (None, e.node_id)]
    return [verifier for verifier, _node in listed_verifiers(sender, note, now)]


def _note(req: CooperationRequest, now: datetime, kind: str, text: str) -> None:
    req.events.append(RequestEvent(at=now, actor="system", kind=kind, note=text[:4000]))


@peer.before_delivery("evidence")
def verify_before(arrival: peer.Arrival, sender: Peer, items: list[dict[str, Any]],
                  now: datetime) -> dict[str, tuple[str, str | None, Any]]:
    """Each delivered sealed bundle verified against the keys the directory lists for the sender:
    {sha256: (sender, node id, report or the NohavenError it raised)}."""
    found: dict[str, tuple[str, str | None, Any]] = {}
    if arrival.directory is None:
        return found
    for item in items:
        path = BlobStore(arrival.blob_dir).path(item["sha256"])
        if is_sealed_bundle(path):
            outcome = _verify(arrival, path, sender.state, sender.node_id, now)
            found[item["sha256"]] = (sender.state, sender.node_id, outcome)
            log.debug("sealed bundle %s from %s checked before the delivery's transaction: %s", item["sha256"][:16],
                     sender, "verified" if not isinstance(outcome, NohavenError) else "did not verify")
    return found


def _verify(arrival: peer.Arrival, path: Path, state: str, node_id: str | None, now: datetime) -> Any:
    """(checkpoint, report), or the NohavenError that says why the bundle does not verify."""
    try:
        note = read_checkpoint(path)
        keys = sender_verifiers(arrival, note, state, node_id, now)
        if not keys:
            sender = f"{state}/{node_id}" if node_id else state
            raise VerificationError(CHECKPOINT, f"carries no signature by a key the network directory lists for "
                                    f"{sender}", check="signature")
        return note, verify_bundle(path, keys)
    except NohavenError as exc:
        return exc


@peer.on_delivery("evidence")
def bundles_delivered(session: Session, req: CooperationRequest, attachments: list[RequestAttachment],
                      arrival: peer.Arrival, now: datetime) -> None:
    """The delivery hook: receive each delivered sealed bundle (see the module docstring)."""
    prepared = arrival.prepared.get("evidence") or {}
    for attachment in attachments:
        path = BlobStore(arrival.blob_dir).path(attachment.sha256)
        if attachment.sha256 not in prepared and not is_sealed_bundle(path):  # the preparer found the bundles
            continue
        if arrival.directory is None:
            _note(req, now, "evidence_not_verified", f"{attachment.name} is a sealed bundle; this node has no "
                  "network directory to check the sender's key against, so it was kept as an attachment without "
                  "being verified (receive it on the case's evidence page or with `nohaven evidence receive`)")
            continue
        _receive(session, arrival, req, attachment, path, now)


def _receive(session: Session, arrival: peer.Arrival, req: CooperationRequest, attachment: RequestAttachment,
             path: Path, now: datetime) -> None:
    sender = f"{req.peer_country}/{req.peer_node_id}" if req.peer_node_id else str(req.peer_country)
    case = req.case
    prepared = (arrival.prepared.get("evidence") or {}).get(attachment.sha256)
    if prepared is not None and prepared[:2] == (req.peer_country, req.peer_node_id):
        outcome = prepared[2]
    else:  # nothing prepared for this content and sender: verify here
        outcome = _verify(arrival, path, str(req.peer_country), req.peer_node_id, now)
    if isinstance(outcome, NohavenError):
        exc = outcome
        _note(req, now, "evidence_not_verified", f"{attachment.name} from {sender} did not verify as a sealed "
              f"bundle and is kept as a plain attachment: {exc.message}")
        audit.record(session, actor=ACTOR, action="evidence.receive", object_type="case", object_id=case.reference,
                     outcome="failed", detail={"request": req.id, "attachment": attachment.id,
                                               "sha256": attachment.sha256, "received_from": sender,
                                               "reason": exc.message[:1000]})
        return
    note, report = outcome
    signer = log_signer(arrival.settings, log_origin(session, arrival.settings))
    if signed_by_node(note, signer):
        _note(req, now, "evidence_received", f"{attachment.name} verified; it carries this node's signature "
              "already, so it was not cosigned again")
        return
    kept = cosign_and_keep(arrival.settings, path, signer, note, source_sha256=attachment.sha256)  # its blob name
    row = record_received(session, arrival.settings, case, report, kept, actor=ACTOR, received_from=sender,
                          name=attachment.name)
    signers = ", ".join(s.name for s in report.signatures if s.status == "verified")
    _note(req, now, "evidence_received", f"{attachment.name} verified (case {report.case} of log {report.origin}, "
          f"{report.items} items, {report.total_bytes} bytes, tree size {report.tree_size}, signed by {signers}); "
          f"cosigned by this node and kept as bundle {row.id} of case {case.reference} (custody event "
          f"{row.event_seq})")
    log.info("sealed bundle %s from %s verified and cosigned (custody event %s)", attachment.sha256[:16], sender,
             row.event_seq)
