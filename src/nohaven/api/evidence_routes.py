"""`/api/v1` routes for a case's evidence and the node's custody log (nohaven.evidence_node.service)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from nohaven.api import downloads
from nohaven.api.deps import CurrentSubject, NodeDep
from nohaven.auth.policy import Action
from nohaven.errors import InputError
from nohaven.evidence.verifier_cli import TrustKeyError, load_trusted
from nohaven.evidence_node import receiving, service

router = APIRouter(prefix="/api/v1", tags=["evidence"])


async def _spool(request: Request, target: Path) -> None:
    """Write the request body to `target`, chunk by chunk (never whole in memory)."""
    with open(target, "wb") as f:
        async for chunk in request.stream():
            await run_in_threadpool(f.write, chunk)


@router.get("/cases/{reference}/evidence")
def list_evidence(reference: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """The case's acquired items and its sealed or received bundles."""
    with node.work() as session:
        return service.case_evidence(session, subject, reference)


@router.post("/cases/{reference}/evidence", status_code=201)
async def add_evidence(reference: str, request: Request, node: NodeDep, subject: CurrentSubject,
                       name: Annotated[str, Query(min_length=1, max_length=255)],
                       exhibit: Annotated[str, Query(min_length=1, max_length=128)],
                       source: Annotated[str, Query(min_length=1, max_length=2000)],
                       authority: Annotated[str, Query(min_length=1, max_length=2000)],
                       location: Annotated[str, Query(max_length=2000)] = "") -> dict[str, Any]:
    """Acquire the request body as one item (streamed into the blob store, hashed in the same pass)."""
    await run_in_threadpool(service.check_may, node, subject, reference, Action.EVIDENCE_ADD)
    filename = service.safe_name(name)
    with service.scratch_dir(node.settings) as scratch:
        path = scratch / filename
        await _spool(request, path)
        items = await run_in_threadpool(lambda: service.add_evidence(
            node, subject, case=reference, exhibit=exhibit, source=source, authority=authority,
            location=location, paths=[path]))
    return {"case": reference, "exhibit": exhibit, "items": items}


@router.post("/cases/{reference}/evidence/seal", status_code=201)
def seal(reference: str, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Seal the case's evidence into a bundle; download it from the `bundles/{id}` route."""
    return service.seal_case(node, subject, reference)


@router.post("/cases/{reference}/evidence/receive", status_code=201)
async def receive(reference: str, request: Request, node: NodeDep, subject: CurrentSubject,
                  name: Annotated[str, Query(min_length=1, max_length=255)] = "bundle.zip",
                  trust: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    """Receive another State's bundle (the body): verify it with `trust` (verifier keys as text; default the
    network directory's node keys), log `received`, cosign, keep the cosigned copy."""
    if any("+" not in t for t in trust or []):
        raise InputError.field("trust", "give verifier keys as text (name+keyid+key)")
    try:
        trusted = load_trusted(trust or [])
    except TrustKeyError as exc:
        raise InputError.field("trust", str(exc)) from None
    await run_in_threadpool(service.check_may, node, subject, reference, Action.EVIDENCE_RECEIVE)
    with service.scratch_dir(node.settings) as scratch:
        path = scratch / service.safe_name(name)
        await _spool(request, path)
        received = await run_in_threadpool(lambda: receiving.receive_bundle(
            node, subject, case=reference, bundle=path, trusted=trusted))
    return {**received.view, "verified": received.report.as_dict()}


@router.get("/cases/{reference}/evidence/bundles/{bundle_id}", response_model=None)
def download_bundle(reference: str, bundle_id: int, node: NodeDep, subject: CurrentSubject) -> Response:
    """A kept bundle's bytes (audited); its SHA-256 is in the X-Content-SHA256 header."""
    return downloads.bundle_download(node, subject, reference, bundle_id, via="api")


@router.get("/cases/{reference}/evidence/items/{item_id}", response_model=None)
def download_item(reference: str, item_id: int, node: NodeDep, subject: CurrentSubject) -> Response:
    """An acquired item's bytes (audited, and logged as an `accessed` custody event); SHA-256 in X-Content-SHA256."""
    return downloads.item_download(node, subject, reference, item_id, via="api")


@router.post("/custody/checkpoint")
def checkpoint(node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Sign and return a checkpoint of the node's custody log (C2SP signed note in `checkpoint`)."""
    return service.checkpoint(node, subject)


@router.get("/custody/proofs/{index}")
def prove(index: int, node: NodeDep, subject: CurrentSubject) -> dict[str, Any]:
    """Inclusion proof of a custody event (members of its case and supervisors)."""
    return service.prove(node, subject, index)


@router.get("/custody/consistency")
def consistency(node: NodeDep, subject: CurrentSubject, old: Annotated[int, Query(ge=0)],
                new: Annotated[int | None, Query(ge=0)] = None) -> dict[str, Any]:
    """Consistency proof of the custody log between two sizes."""
    return service.consistency(node, subject, old, new)
