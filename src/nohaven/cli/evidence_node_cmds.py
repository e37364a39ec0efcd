"""The node forms of the evidence commands: `evidence add|seal|list|receive` and `custody checkpoint|prove|consistency`
without `--store`, acting on the node of `--data-dir` as the `--as` user, through the policy (see
nohaven.evidence_node.service). `add`, `seal` and the custody commands are reached from cli/evidence_cmds.py."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import typer
from rich.table import Table

from nohaven.blobs import BlobStore
from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, state
from nohaven.errors import InputError
from nohaven.evidence.verifier_cli import TrustKeyError, load_trusted
from nohaven.evidence_node import receiving, service


def register(app: typer.Typer) -> None:
    app.command("list")(list_cmd)
    app.command("receive")(receive_cmd)


def _copy_out(ctx: typer.Context, sha256: str, out: Path) -> None:
    """Copy a kept blob to `out` (written beside it, then renamed; an existing file is refused)."""
    if out.exists():
        raise InputError.field("--out", f"{out} exists; refusing to overwrite it")
    source = BlobStore(state(ctx).node().settings.blob_dir).path(sha256)
    tmp = out.with_name(f".{out.name}.partial")
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


def add(ctx: typer.Context, paths: list[Path], *, case: str, exhibit: str, source: str, authority: str,
        location: str, as_user: str | None, as_json: bool) -> None:
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    items = service.add_evidence(node, subject, case=case, exhibit=exhibit, source=source, authority=authority,
                                 location=location, paths=paths)
    if as_json:
        emit({"case": case, "exhibit": exhibit, "items": items}, True)
        return
    for i in items:
        typer.echo(f"custody event {i['custody_event']}: acquired {i['name']} ({i['size']} bytes) "
                   f"sha256 {i['sha256']}")


def seal(ctx: typer.Context, *, case: str, out: Path, as_user: str | None, as_json: bool,
         tsa_url: str | None = None) -> None:
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    if out.exists():
        raise InputError.field("--out", f"{out} exists; refusing to overwrite it")
    view = service.seal_case(node, subject, case, tsa_url=tsa_url)
    _copy_out(ctx, view["sha256"], out)
    if as_json:
        emit({**view, "bundle": str(out)}, True)
    else:
        typer.echo(f"sealed {view['items']} items and {view['events']} custody events of {case} into {out} "
                   f"(SHA-256 {view['sha256']}, kept as bundle {view['id']})\ncheckpoint:\n{view['checkpoint']}",
                   nl=False)


def list_cmd(ctx: typer.Context, case: str = typer.Option(..., "--case"), as_user: str = AsUser,
             as_json: bool = JsonFlag) -> None:
    """A case's evidence on the node: acquired items and sealed or received bundles."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        data = service.case_evidence(session, subject, case)
    if as_json:
        emit(data, True)
        return
    items = Table("exhibit", "name", "size", "sha256", "acquired by", "event", box=None)
    for i in data["items"]:
        items.add_row(i["exhibit"], i["name"], str(i["size"]), i["sha256"], i["acquired_by"],
                      str(i["custody_event"]))
    console.print(items, soft_wrap=True)
    for b in data["bundles"]:
        console.print(f"bundle {b['id']} ({b['kind']}): {b['name']} {b['size']} bytes sha256 {b['sha256']}, "
                      f"signed by {', '.join(s['name'] for s in b['signatures'])}", highlight=False, soft_wrap=True)


def receive_cmd(
    ctx: typer.Context,
    bundle: Path = typer.Argument(..., metavar="FILE.zip"),
    case: str = typer.Option(..., "--case", help="our case the evidence is received for"),
    trust: list[str] = typer.Option([], "--trust", help="the sender's verifier key (file or text); without it, "
                                    "the network directory's node keys"),
    out: Path = typer.Option(None, "--out", help="also write the cosigned bundle here"),
    as_user: str = AsUser,
    as_json: bool = JsonFlag,
) -> None:
    """Receive another State's bundle: verify it, log `received`, cosign its checkpoint, keep the cosigned copy."""
    if not bundle.is_file():
        raise InputError.field("FILE.zip", f"{bundle} is not a readable file")
    if out is not None and out.exists():
        raise InputError.field("--out", f"{out} exists; refusing to overwrite it")
    try:
        trusted = load_trusted(trust)
    except TrustKeyError as exc:
        raise InputError.field("--trust", str(exc)) from None
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    received = receiving.receive_bundle(node, subject, case=case, bundle=bundle, trusted=trusted)
    if out is not None:
        _copy_out(ctx, received.view["sha256"], out)
    if as_json:
        emit({**received.view, "verified": received.report.as_dict(), "out": str(out) if out else None}, True)
        return
    typer.echo(f"verified {bundle} (case {received.report.case} of {received.report.origin}, "
               f"{received.report.items} items); received event {received.view['custody_event']} in our log; "
               f"cosigned and kept as bundle {received.view['id']}" + (f", written to {out}" if out else ""))


def checkpoint(ctx: typer.Context, *, as_user: str | None, as_json: bool) -> None:
    node = state(ctx).node()
    data = service.checkpoint(node, acting_subject(node, as_user))
    emit(data, True) if as_json else sys.stdout.write(data["checkpoint"])


def prove(ctx: typer.Context, *, index: int, as_user: str | None, as_json: bool) -> None:
    node = state(ctx).node()
    data = service.prove(node, acting_subject(node, as_user), index)
    emit(data, True) if as_json else sys.stdout.write(data["tlog_proof"])


def consistency(ctx: typer.Context, *, old: int, new: int | None, as_user: str | None, as_json: bool) -> None:
    node = state(ctx).node()
    doc = service.consistency(node, acting_subject(node, as_user), old, new)
    if as_json:
        emit(doc, True)
        return
    typer.echo(f"log {doc['origin']}: size {old} root {doc['old']['root']} is a prefix of size "
               f"{doc['new']['size']} root {doc['new']['root']}")
    for h in doc["proof"]:
        typer.echo(f"  {h}")
