"""An acquired item's or a kept bundle's bytes as an HTTP download, the same through the API and the web pages.

Taking the item or bundle goes through nohaven.evidence_node.service (policy, audit, the custody event); the
response streams the bytes from the blob store with their SHA-256 in the X-Content-SHA256 header.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import StreamingResponse

from nohaven.auth.policy import Subject
from nohaven.blobs import BlobStore
from nohaven.evidence_node import service
from nohaven.node import Node

__all__ = ["bundle_download", "item_download"]


def item_download(node: Node, subject: Subject, case: str, item_id: int, *, via: str) -> StreamingResponse:
    """The case's acquired item, as an attachment (audited, and logged as an `accessed` custody event)."""
    with node.work() as session:
        item = service.item_for(session, node.settings, subject, case, item_id, via=via)
        name, digest = item.name, item.sha256
    return _attachment(node, name, digest, "application/octet-stream")


def bundle_download(node: Node, subject: Subject, case: str, bundle_id: int, *, via: str) -> StreamingResponse:
    """The case's kept bundle, as an attachment (audited, and logged as an `exported` custody event)."""
    with node.work() as session:
        bundle = service.bundle_for(session, node.settings, subject, case, bundle_id, via=via)
        name, digest = bundle.name, bundle.sha256
    return _attachment(node, name, digest, "application/zip")


def _attachment(node: Node, name: str, digest: str, media_type: str) -> StreamingResponse:
    return StreamingResponse(BlobStore(node.settings.blob_dir).chunks(digest), media_type=media_type,
                             headers={"content-disposition": f"attachment; filename*=UTF-8''"
                                                             f"{quote(name.rsplit('/', 1)[-1])}",
                                      "x-content-sha256": digest})
