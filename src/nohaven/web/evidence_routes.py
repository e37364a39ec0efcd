"""The evidence page of a case: its items and bundles, acquiring by upload, sealing and downloading, and
receiving another State's bundle. Each action goes through nohaven.evidence_node.service (policy, audit)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from nohaven.api import downloads
from nohaven.auth.policy import Action
from nohaven.blobs import CHUNK
from nohaven.errors import InputError, NohavenError
from nohaven.evidence.errors import EvidenceError
from nohaven.evidence.verifier_cli import TrustKeyError, load_trusted
from nohaven.evidence_node import receiving, service
from nohaven.web.session import CsrfUser, Viewer, WebUser, node_of
from nohaven.web.templating import page

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _url(reference: str) -> str:
    return f"/cases/{quote(reference, safe='')}/evidence"


def _render(request: Request, viewer: Viewer, reference: str, *, status: int = 200, error: str = "",
            done: str = "") -> Response:
    with node_of(request).work() as session:
        data = service.case_evidence(session, viewer.subject, reference)
    return page(request, "evidence.html", viewer, status=status, error=error, done=done, url=_url(reference),
                **data)


@router.get("/cases/{reference}/evidence")
def evidence_page(request: Request, viewer: WebUser, reference: str) -> Response:
    return _render(request, viewer, reference)


def _refused(request: Request, viewer: Viewer, reference: str, exc: Exception) -> Response:
    if isinstance(exc, NohavenError):
        return _render(request, viewer, reference, status=exc.http_status, error=exc.diagnostics())
    return _render(request, viewer, reference, status=422, error=str(exc))


async def _upload(request: Request, reference: str, action: Action, viewer: Viewer) -> tuple[Any, UploadFile]:
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise InputError.field("file", "choose a file")
    await run_in_threadpool(service.check_may, node_of(request), viewer.subject, reference, action)
    return form, upload


async def _save(upload: UploadFile, path: Any) -> None:
    with open(path, "wb") as f:
        while chunk := await upload.read(CHUNK):
            await run_in_threadpool(f.write, chunk)


@router.post("/cases/{reference}/evidence")
async def add(request: Request, viewer: CsrfUser, reference: str) -> Response:
    """Acquire an uploaded file as an exhibit of the case."""
    node = node_of(request)
    try:
        form, upload = await _upload(request, reference, Action.EVIDENCE_ADD, viewer)
        fields = {k: str(form.get(k) or "").strip() for k in ("exhibit", "source", "authority", "location")}
        with service.scratch_dir(node.settings) as scratch:
            path = scratch / service.safe_name(upload.filename or "")
            await _save(upload, path)
            items = await run_in_threadpool(lambda: service.add_evidence(
                node, viewer.subject, case=reference, paths=[path], **fields))
    except (NohavenError, EvidenceError) as exc:
        return _refused(request, viewer, reference, exc)
    return _render(request, viewer, reference, status=201,
                   done=f"Acquired {items[0]['name']} as exhibit {items[0]['exhibit']} (SHA-256 {items[0]['sha256']}).")


@router.post("/cases/{reference}/evidence/seal")
def seal(request: Request, viewer: CsrfUser, reference: str) -> Response:
    """Seal the case's evidence; the page then lists the bundle for download."""
    try:
        view = service.seal_case(node_of(request), viewer.subject, reference)
    except (NohavenError, EvidenceError) as exc:
        return _refused(request, viewer, reference, exc)
    return RedirectResponse(f"{_url(reference)}#bundle-{view['id']}", status_code=303)


@router.post("/cases/{reference}/evidence/receive")
async def receive(request: Request, viewer: CsrfUser, reference: str,
                  ) -> Response:
    """Receive another State's bundle: verify, log `received`, cosign and keep it."""
    node = node_of(request)
    try:
        form, upload = await _upload(request, reference, Action.EVIDENCE_RECEIVE, viewer)
        trust_text = str(form.get("trust") or "")
        try:
            trusted = load_trusted([line.strip() for line in trust_text.splitlines() if line.strip()])
        except TrustKeyError as exc:
            raise InputError.field("trust", str(exc)) from None
        with service.scratch_dir(node.settings) as scratch:
            path = scratch / service.safe_name(upload.filename or "bundle.zip")
            await _save(upload, path)
            received = await run_in_threadpool(lambda: receiving.receive_bundle(
                node, viewer.subject, case=reference, bundle=path, trusted=trusted))
    except (NohavenError, EvidenceError) as exc:
        return _refused(request, viewer, reference, exc)
    return _render(request, viewer, reference, status=201,
                   done=f"Verified and cosigned {received.view['name']} (case {received.report.case} of "
                        f"{received.report.origin}); kept as bundle {received.view['id']}.")


@router.get("/cases/{reference}/evidence/bundles/{bundle_id}")
def download(request: Request, viewer: WebUser, reference: str, bundle_id: int) -> Response:
    """Download a kept bundle (audited; an `exported` custody event)."""
    return downloads.bundle_download(node_of(request), viewer.subject, reference, bundle_id, via="web")


@router.get("/cases/{reference}/evidence/items/{item_id}")
def download_item(request: Request, viewer: WebUser, reference: str, item_id: int) -> Response:
    """Download an acquired item (audited; an `accessed` custody event)."""
    return downloads.item_download(node_of(request), viewer.subject, reference, item_id, via="web")
