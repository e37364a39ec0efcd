"""`nohaven federation ...`: Ed25519 keys, the signed network directory, the outbox and its dispatcher."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, state
from nohaven.errors import InputError
from nohaven.federation.canonical import parse_json
from nohaven.federation.context import load_context
from nohaven.federation.dispatcher import Dispatcher
from nohaven.federation.keys import SigningKey, VerifyKey, load_public_key, load_signing_key, write_key_pair
from nohaven.federation.network_directory import (
    NetworkDirectory,
    SignedDirectory,
    current_directory,
    install_directory,
    sign_directory,
    verify_directory,
)
from nohaven.requests import exchange
from nohaven.validation import parse_model

app = typer.Typer(no_args_is_help=True, help="Federation: keys, the signed network directory, the outbox.")
OPERATOR = "cli-operator"
AuthorityKeys = typer.Option(..., "--authority-key", help="pinned directory-authority public key (PEM or raw "
                             "base64url); repeat for several")


@app.command("keygen")
def keygen(out: Path = typer.Option(..., "--out", help="directory to write NAME.key (0600) and NAME.pub into"),
           name: str = typer.Option("federation", "--name", help="file name stem"),
           as_json: bool = JsonFlag) -> None:
    """Generate an Ed25519 key pair; never overwrites an existing key."""
    key = SigningKey.generate()
    private, public = write_key_pair(out, name, key)
    result = {"key_id": key.key_id, "algorithm": "Ed25519", "public_key": key.public.b64url,
              "private_key_file": str(private), "public_key_file": str(public)}
    if as_json:
        emit(result, True)
        return
    console.print(f"key {key.key_id} written: {private} (private, mode 0600) and {public}")
    console.print(f"public key (base64url): {key.public.b64url}", highlight=False)


def _read_document(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError.field("FILE", f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            return yaml.safe_load(data)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise InputError.field("FILE", f"{path} is not valid YAML{where}") from None
    return parse_json(data, str(path))


def _write_public(path: Path, data: bytes) -> None:
    # Write beside the target and rename, so a reader never sees half a directory.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


@app.command("directory-sign")
def directory_sign(file: Path = typer.Argument(..., help="the network directory document (JSON or YAML)"),
                   key: Path = typer.Option(..., "--key", help="the directory authority's private key (PEM)"),
                   out: Path = typer.Option(..., "--out", help="where to write the signed directory (JSON)"),
                   as_json: bool = JsonFlag) -> None:
    """Validate a network directory and sign it with the directory-authority key."""
    directory = parse_model(NetworkDirectory, _read_document(file), str(file))
    authority = load_signing_key(key, "--key")
    _write_public(out, sign_directory(directory, authority))
    result = {"signed": str(out), "serial": directory.serial, "authority_key_id": authority.key_id,
              "nodes": len(directory.nodes)}
    emit(result, as_json) if as_json else console.print(
        f"signed directory serial {directory.serial} ({len(directory.nodes)} nodes) with authority key "
        f"{authority.key_id}: {out}")


def _pinned(paths: list[Path]) -> list[VerifyKey]:
    return [load_public_key(p, "--authority-key") for p in paths]


def _read_signed(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError.field("SIGNED", f"cannot read {path}: {exc.strerror}") from None


def _show(signed: SignedDirectory, headline: str) -> None:
    console.print(headline)
    table = Table("State", "node", "agency", "inbox", "keys (id: valid from → until)")
    for n in signed.directory.nodes:
        keys = "\n".join(f"{k.key_id}: {k.not_before.isoformat()} → {k.not_after.isoformat()}" for k in n.keys)
        table.add_row(n.state, n.node_id, n.agency, n.inbox_url, keys)
    console.print(table)


@app.command("directory-verify")
def directory_verify(signed_file: Path = typer.Argument(..., metavar="SIGNED", help="signed directory (JSON)"),
                     authority_key: list[Path] = AuthorityKeys, as_json: bool = JsonFlag) -> None:
    """Verify a signed directory against pinned authority keys; exit 1 naming what failed."""
    signed = verify_directory(_read_signed(signed_file), _pinned(authority_key))
    if as_json:
        emit({"ok": True, **signed.summary()}, True)
        return
    d = signed.directory
    _show(signed, f"ok: serial {d.serial}, issued {d.issued_at.isoformat()}, signed by authority key "
                  f"{signed.authority_key_id}, {len(d.nodes)} nodes")


@app.command("directory-install")
def directory_install(ctx: typer.Context,
                      signed_file: Path = typer.Argument(..., metavar="SIGNED", help="signed directory (JSON)"),
                      authority_key: list[Path] = AuthorityKeys, as_json: bool = JsonFlag) -> None:
    """Verify a signed directory and make it this node's current one; a lower serial is refused (rollback)."""
    data = _read_signed(signed_file)
    keys = _pinned(authority_key)
    node = state(ctx).node()
    with node.work() as session:
        signed, changed = install_directory(session, data, keys, actor=OPERATOR)
    result = {"installed": changed, **signed.summary()}
    emit(result, as_json) if as_json else console.print(
        f"directory serial {signed.directory.serial} " + ("installed" if changed else "was already installed"))


@app.command("directory-show")
def directory_show(ctx: typer.Context, authority_key: list[Path] = AuthorityKeys, as_json: bool = JsonFlag) -> None:
    """The node's current (last good) directory, verified again."""
    keys = _pinned(authority_key)
    node = state(ctx).node()
    with node.db.session() as session:
        signed = current_directory(session, keys)
    if signed is None:
        emit({"installed": False}, as_json) if as_json else console.print("no network directory installed yet")
        return
    if as_json:
        emit({"installed": True, **signed.summary()}, True)
        return
    _show(signed, f"serial {signed.directory.serial}, issued {signed.directory.issued_at.isoformat()}, signed by "
                  f"authority key {signed.authority_key_id}")


@app.command("outbox")
def outbox(ctx: typer.Context, as_user: str = AsUser, state_filter: str = typer.Option(
        None, "--state", help="only messages in this delivery state (queued, sent, received, acknowledged, failed)"),
           as_json: bool = JsonFlag) -> None:
    """Messages to other States' nodes about requests you may see, with their delivery state."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        rows = exchange.outbox_for(session, subject, state=state_filter)
    if as_json:
        emit(rows, True)
        return
    table = Table("request", "message", "to", "state", "attempts", "detail")
    for row in rows:
        detail = row["last_error"] or (f"receipt as {row['receipt_reference']}" if row["receipt_reference"] else "")
        table.add_row(row["reference"], f"{row['action']} {row['summary']}", row["to"], row["state"],
                      str(row["attempts"]), detail)
    console.print(table)


@app.command("dispatch")
def dispatch(ctx: typer.Context, as_json: bool = JsonFlag) -> None:
    """Send the due messages of the outbox once (a running `nohaven serve` does this continuously)."""
    node = state(ctx).node()
    federation = load_context(node)
    if federation is None:
        raise InputError.field("NOHAVEN_FEDERATION_NODE_ID", "this node is not part of a federation network")
    dispatcher = Dispatcher(federation)
    try:
        result = dispatcher.run_once()
    finally:
        dispatcher.stop()
    emit(result.as_dict(), as_json) if as_json else console.print(
        f"received {result.received}, retrying {result.retrying}, failed {result.failed}")
