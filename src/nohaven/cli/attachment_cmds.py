"""`nohaven request attach` and `nohaven request attachment`: data and documents of a request."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path

import typer

from nohaven.blobs import BlobStore
from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, state
from nohaven.errors import InputError
from nohaven.requests import peer
from nohaven.timeutil import utcnow


def register(app: typer.Typer) -> None:
    app.command("attach")(attach)
    app.command("attachment")(attachment)


def attach(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"),
           file: Path = typer.Argument(..., metavar="FILE", help="the file to attach (streamed, any size)"),
           name: str = typer.Option(None, "--name", help="name to give it (default: the file's name)"),
           media_type: str = typer.Option(None, "--media-type", help="default: guessed from the name"),
           as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Attach a file to a request; for a request received from another State's node, it is delivered there."""
    if not file.is_file():
        raise InputError.field("FILE", f"{file} is not a readable file")
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    digest, size = BlobStore(node.settings.blob_dir).put_file(file)
    name = name or file.name
    media_type = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
    with node.work() as session:
        view = peer.attachment_view(peer.add_attachment(session, subject, request_id, name=name,
                                                        media_type=media_type, size=size, sha256=digest,
                                                        now=utcnow()))
    emit(view, as_json) if as_json else console.print(
        f"attached {view['name']} ({size} bytes, SHA-256 {digest}) as attachment {view['id']}", highlight=False)


def attachment(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"),
               attachment_id: int = typer.Argument(..., metavar="ATTACHMENT"),
               out: Path = typer.Option(..., "--out", help="file to write (refused if it exists)"),
               as_user: str = AsUser) -> None:
    """Write an attachment of a request to a file, checking its SHA-256 on the way."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        a = peer.attachment_for(session, subject, request_id, attachment_id)
        digest = a.sha256
    chunks = BlobStore(node.settings.blob_dir).chunks(digest)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise InputError.field("--out", f"{out} exists; refusing to overwrite it") from None
    check = hashlib.sha256()
    with os.fdopen(fd, "wb") as handle:
        for chunk in chunks:
            check.update(chunk)
            handle.write(chunk)
    if check.hexdigest() != digest:
        out.unlink()
        raise InputError.field("ATTACHMENT", f"the stored content does not match its SHA-256 {digest}; not written")
    console.print(f"wrote {out} (SHA-256 {digest}, verified)", highlight=False)
