"""Files from the blob store as HTTP downloads, the same through the API and the web pages: request
attachments, acquired evidence items and kept bundles.

Taking the file goes through its service (policy, audit, and for evidence the custody event); the response
streams the bytes from the blob store with their SHA-256 in the X-Content-SHA256 header.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import StreamingResponse

from nohaven.auth.policy import Subject
from nohaven.blobs import BlobStore
from nohaven.evidence_node import service
from nohaven.node import Node

__all__ = ["blob_download", "bundle_download", "item_download"]


def item_download(node: Node, subject: Subject, case: str, item_id: int, *, via: str) -> StreamingResponse:
    """The case's acquired item, as an attachment (audited, and logged as an `accessed` custody event)."""
    with node.work() as session:
        item = service.item_for(session, node.settings, subject, case, item_id, via=via)
        name, digest = item.name, item.sha256
    return blob_download(node, name, digest, "application/octet-stream")


def bundle_download(node: Node, subject: Subject, case: str, bundle_id: int, *, via: str) -> StreamingResponse:
    """The case's kept bundle, as an attachment (audited, and logged as an `exported` custody event)."""
    with node.work() as session:
        bundle = service.bundle_for(session, node.settings, subject, case, bundle_id, via=via)
        name, digest = bundle.name, bundle.sha256
    return blob_download(node, name, digest, "application/zip")


def blob_download(node: Node, name: str, digest: str, media_type: str) -> StreamingResponse:
    """The blob `digest` streamed as an attachment named `name` (its last path part), with its SHA-256."""
    return StreamingResponse(BlobStore(node.settings.blob_dir).chunks(digest), media_type=media_type,
                             headers={"content-disposition": f"attachment; filename*=UTF-8''"
                                                             f"{quote(name.rsplit('/', 1)[-1])}",
                                      "x-content-sha256": digest})
