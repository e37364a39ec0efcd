"""`nohaven evidence …`, `nohaven custody …` and `nohaven verify`: the evidence commands.

With `--store DIR` they work on a plain directory store (`evidence store init DIR`) and need no node; without it,
`add`, `seal` and the `custody` commands act on the node of `--data-dir` as the user named by `--as`, through its
policy (see cli/evidence_node_cmds.py).
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shlex
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from nohaven.cli import evidence_node_cmds as on_node
from nohaven.cli.common import AsUser, console, emit, err_console, state
from nohaven.errors import InputError
from nohaven.evidence import hashing
from nohaven.evidence.bundle import cosign_bundle, seal
from nohaven.evidence.custody import make_event
from nohaven.evidence.errors import StoreError
from nohaven.evidence.hashdeep import audit, format_hashdeep, parse_hashdeep
from nohaven.evidence.merkle import ProofError, leaf_hash, verify_consistency
from nohaven.evidence.note import Checkpoint, NoteError, NoteSigner, SignedNote
from nohaven.evidence.proofs import InclusionProof, b64, consistency_document
from nohaven.evidence.store import Acquisition, DirectoryStore, acquire
from nohaven.evidence.verifier_cli import TrustKeyError, load_trusted, verify_command
from nohaven.evidence.verify import verify_bundle
from nohaven.timeutil import utcnow

app = typer.Typer(no_args_is_help=True, help="Forensic evidence: hashing, acquisition, sealed bundles, cosigning.")
store_app = typer.Typer(no_args_is_help=True, help="A directory evidence store (items, custody log, signing key).")
custody_app = typer.Typer(no_args_is_help=True, help="The custody log: checkpoints and proofs.")
app.add_typer(store_app, name="store")

_PROGRESS_FROM = 64 * 1024 * 1024


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[hashing.Progress | None]:
    """A rich progress bar on stderr for large inputs, only when stderr is a terminal."""
    if total < _PROGRESS_FROM or not err_console.is_terminal:
        yield None
        return
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def _total_size(paths: list[Path]) -> int:
    total = 0
    for path, _display, skipped in hashing.walk(paths):
        if skipped is None:
            with contextlib.suppress(OSError):
                total += path.stat().st_size
    return total


@app.command("hash")
def hash_cmd(
    paths: list[Path] = typer.Argument(..., help="files and directories (walked recursively; links not followed)"),
    algo: str = typer.Option("sha256,sha1,md5", "--algo", help="digests to compute, comma-separated"),
    output_format: str = typer.Option("table", "--format", help="table or hashdeep"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hash files with SHA-256, SHA-1 and MD5 in one read pass. Exit 1 when a file could not be read."""
    algorithms = hashing.parse_algorithms(algo)
    if output_format not in ("table", "hashdeep"):
        raise InputError.field("--format", f"{output_format!r}: choose table or hashdeep")
    with _progress(_total_size(paths), "hashing") as progress:
        entries = hashing.hash_paths(paths, algorithms, progress)
    failed = [e for e in entries if e.error]
    if as_json:
        emit({"algorithms": list(algorithms), "files": [
            {"path": e.display, "size": e.size, **e.digests} if not (e.error or e.skipped) else
            {"path": e.display, "error": e.error} if e.error else {"path": e.display, "skipped": e.skipped}
            for e in entries]}, True)
    elif output_format == "hashdeep":
        invoked = "nohaven " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        sys.stdout.write(format_hashdeep(entries, algorithms, invoked, os.getcwd()))
    else:
        table = Table("size", *algorithms, "path", box=None)
        for e in entries:
            if e.error or e.skipped:
                continue
            table.add_row(str(e.size), *(e.digests[a] for a in algorithms), e.display)
        console.print(table, soft_wrap=True)
    for e in entries:
        if e.error:
            err_console.print(f"[red]error:[/red] {e.display}: {e.error}", highlight=False)
        elif e.skipped:
            err_console.print(f"skipped {e.display}: {e.skipped}", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command("audit")
def audit_cmd(
    paths: list[Path] = typer.Argument(...),
    known: Path = typer.Option(..., "--known", "-k", help="a hashdeep file of known hashes"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Audit files against known hashes (like `hashdeep -a -k`). Exit 0 when all match, 1 when not."""
    try:
        known_files = parse_hashdeep(known.read_text(encoding="utf-8"), str(known))
    except OSError as exc:
        raise InputError.field("--known", f"cannot read {known}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError.field("--known", f"{known} is not UTF-8 text") from None
    except ValueError as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError.field("--known", str(exc)) from None
    algorithms = [a for a in hashing.ALGORITHMS if known_files and a in known_files[0].digests] or ["sha256"]
    with _progress(_total_size(paths), "auditing") as progress:
        entries = hashing.hash_paths(paths, algorithms, progress)
    try:
        report = audit(entries, known_files)
    except ValueError as exc:
        raise InputError.field("--known", str(exc)) from None
    if as_json:
        emit(report.as_dict(), True)
    else:
        for path in report.changed:
            typer.echo(f"{path}: changed")
        for path, was in report.moved:
            typer.echo(f"{path}: moved from {was}")
        for path in report.new:
            typer.echo(f"{path}: new (no match)")
        for path in report.missing:
            typer.echo(f"{path}: missing (known file not found)")
        for path, error in report.unreadable:
            typer.echo(f"{path}: unreadable ({error})")
        typer.echo(f"audit {'passed' if report.passed else 'FAILED'}: {len(report.matched)} matched, "
                   f"{len(report.changed)} changed, {len(report.moved)} moved, {len(report.new)} new, "
                   f"{len(report.missing)} missing, {len(report.unreadable)} unreadable")
    if not report.passed:
        raise typer.Exit(1)


@app.command("keygen")
def keygen_cmd(
    name: str = typer.Option(..., "--name", help="the key name (for a log, its origin, e.g. xb.example/evidence)"),
    out: Path = typer.Option(..., "--out", help="directory for NAME.key (private, 0600) and NAME.vkey (public)"),
) -> None:
    """Create an Ed25519 signed-note key (to sign checkpoints or cosign received ones)."""
    try:
        signer = NoteSigner.generate(name)
        key_path, vkey_path = signer.save(out)
    except NoteError as exc:
        raise InputError.field("--name", str(exc)) from None
    except FileExistsError:
        raise InputError.field("--out", f"a key named {name} already exists in {out}; it is never overwritten") \
            from None
    typer.echo(f"private key: {key_path}\nverifier key: {vkey_path}\n{signer.verifier.vkey}")


@store_app.command("init")
def store_init(
    directory: Path = typer.Argument(...),
    origin: str = typer.Option(None, "--origin", help="the custody log's origin line (unique name of this log)"),
) -> None:
    """Create an evidence store: blobs, an empty custody log, and the log's signing key."""
    store = DirectoryStore.init(directory, origin)
    verifier = store.signer().verifier
    typer.echo(f"evidence store {directory} (log origin {store.origin})\nverifier key: {verifier.vkey}")


@app.command("add")
def add_cmd(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(...),
    store_dir: Path = typer.Option(None, "--store", help="a directory store (default: the node, acting --as USER)"),
    case: str = typer.Option(..., "--case", help="case reference"),
    exhibit: str = typer.Option(..., "--exhibit", help="exhibit number"),
    source: str = typer.Option(..., "--source", help="where the data came from (device, account, carrier)"),
    authority: str = typer.Option(..., "--authority", help="the legal authority (warrant, order, request reference)"),
    location: str = typer.Option("", "--location", help="where the acquisition took place"),
    examiner: str = typer.Option(None, "--examiner", help="who acquired, with --store (default: the current user)"),
    as_user: str = AsUser,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Acquire files: copy them into the store (content-addressed) and log an `acquired` event for each."""
    if store_dir is None:
        on_node.add(ctx, paths, case=case, exhibit=exhibit, source=source, authority=authority, location=location,
                    as_user=as_user, as_json=as_json)
        return
    store = DirectoryStore(store_dir)
    acquisition = Acquisition(case=case, exhibit=exhibit, examiner=examiner or getpass.getuser(), source=source,
                              authority=authority, location=location)
    with _progress(_total_size(paths), "acquiring") as progress:
        added = acquire(store, store.log, paths, acquisition, progress=progress)
    rows = [{"index": i, "name": e["details"]["name"], "size": e["details"]["size"],
             "sha256": e["details"]["sha256"]} for i, e in added]
    if as_json:
        emit({"case": case, "exhibit": exhibit, "events": rows}, True)
    else:
        for r in rows:
            typer.echo(f"event {r['index']}: acquired {r['name']} ({r['size']} bytes) sha256 {r['sha256']}")


@app.command("seal")
def seal_cmd(
    ctx: typer.Context,
    store_dir: Path = typer.Option(None, "--store", help="a directory store (default: the node, acting --as USER)"),
    case: str = typer.Option(..., "--case"),
    out: Path = typer.Option(..., "--out", help="the bundle to write (FILE.zip)"),
    by: str = typer.Option(None, "--by", help="who seals, with --store (default: the current user)"),
    tsa_url: str = typer.Option(None, "--tsa-url", help="an RFC 3161 time-stamping authority: timestamp the "
                                "checkpoint (default: NOHAVEN_EVIDENCE_TSA_URL)"),
    as_user: str = AsUser,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Seal a case's items, custody events, proofs, checkpoint and CASE/UCO into one ZIP bundle."""
    tsa = tsa_url or state(ctx).settings().evidence_tsa_url
    if store_dir is None:
        on_node.seal(ctx, case=case, out=out, as_user=as_user, as_json=as_json, tsa_url=tsa)
        return
    store = DirectoryStore(store_dir)
    with _progress(_total_size([store.blobs]), "sealing") as progress:
        result = seal(store, store.log, store.signer(), case, out, by or getpass.getuser(), progress=progress,
                      tsa_url=tsa)
    data = {"bundle": str(result.path), "case": case, "items": result.items, "events": result.events,
            "sealed_event": result.sealed_index, "manifest_sha256": result.manifest_sha256,
            "checkpoint": result.checkpoint.serialize().decode()}
    if as_json:
        emit(data, True)
    else:
        typer.echo(f"sealed {result.items} items and {result.events} custody events of {case} into {out}\n"
                   f"checkpoint:\n{data['checkpoint']}", nl=False)


@app.command("cosign")
def cosign_cmd(
    bundle: Path = typer.Argument(...),
    trust: list[str] = typer.Option(..., "--trust", help="the sender's verifier key (file or text)"),
    key: Path = typer.Option(None, "--key", help="our signing key (default: the --store's key)"),
    name: str = typer.Option(None, "--name", help="our key name (must match the key file's name)"),
    out: Path = typer.Option(..., "--out"),
    store_dir: Path = typer.Option(None, "--store", help="our evidence store: log a `received` event there"),
    by: str = typer.Option(None, "--by", help="who received it (default: the current user)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Receive a bundle: verify it, log `received` in our store, and add our cosignature to its checkpoint."""
    try:
        trusted = load_trusted(trust)
    except TrustKeyError as exc:
        raise InputError.field("--trust", str(exc)) from None
    store = DirectoryStore(store_dir) if store_dir else None
    if key is not None:
        try:
            signer = NoteSigner.load(key)
        except NoteError as exc:
            raise InputError.field("--key", str(exc)) from None
    elif store is not None:
        signer = store.signer()
    else:
        raise InputError.field("--key", "give our signing key with --key, or our store with --store")
    if name and name != signer.name:
        raise InputError.field("--name", f"the key is named {signer.name!r}; its key id depends on that name")
    report = verify_bundle(bundle, trusted)
    with zipfile.ZipFile(bundle) as zf:
        note = SignedNote.parse(zf.read("custody/checkpoint"))
    received_index = None
    if store is not None:
        event = make_event("received", at=utcnow(), actor=by or getpass.getuser(), case=report.case,
                           items=[], details={"from_log": report.origin, "tree_size": report.tree_size,
                                              "root": report.root, "items": report.items,
                                              "bundle": bundle.name, "cosigned_by": signer.name})
        received_index = store.log.append(event)
        store.log.checkpoint(store.signer())
    cosigned = cosign_bundle(bundle, out, signer, note)
    data = {"bundle": str(out), "case": report.case, "cosigned_by": signer.name,
            "key_id": signer.verifier.key_id.hex(), "received_event": received_index,
            "checkpoint": cosigned.serialize().decode()}
    if as_json:
        emit(data, True)
    else:
        typer.echo(f"verified {bundle} and cosigned its checkpoint as {signer.name} into {out}"
                   + (f"; received event {received_index} in our log" if received_index is not None else ""))


def _store_signed_checkpoint(store: DirectoryStore, min_size: int) -> SignedNote:
    note = store.log.latest_checkpoint()
    if note is None or Checkpoint.from_text(note.text).size < min_size:
        note = store.log.checkpoint(store.signer())
    return note


_NODE_STORE = "a directory store (default: the node's log, acting --as USER)"


@custody_app.command("checkpoint")
def checkpoint_cmd(ctx: typer.Context, store_dir: Path = typer.Option(None, "--store", help=_NODE_STORE),
                   as_user: str = AsUser, as_json: bool = typer.Option(False, "--json")) -> None:
    """Sign a checkpoint of the custody log as it is now and print it (C2SP tlog-checkpoint)."""
    if store_dir is None:
        on_node.checkpoint(ctx, as_user=as_user, as_json=as_json)
        return
    store = DirectoryStore(store_dir)
    note = store.log.checkpoint(store.signer())
    cp = Checkpoint.from_text(note.text)
    if as_json:
        emit({"origin": cp.origin, "size": cp.size, "root": b64(cp.root), "checkpoint": note.serialize().decode()},
             True)
    else:
        sys.stdout.write(note.serialize().decode())


@custody_app.command("prove")
def prove_cmd(
    ctx: typer.Context,
    index: int = typer.Option(..., "--index"),
    store_dir: Path = typer.Option(None, "--store", help=_NODE_STORE),
    as_user: str = AsUser,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Inclusion proof of event INDEX in the latest checkpoint (C2SP tlog-proof, or JSON with --json)."""
    if store_dir is None:
        on_node.prove(ctx, index=index, as_user=as_user, as_json=as_json)
        return
    store = DirectoryStore(store_dir)
    if not 0 <= index < store.log.size:
        raise InputError.field("--index", f"no event {index}; the log has {store.log.size} events")
    note = _store_signed_checkpoint(store, index + 1)
    size = Checkpoint.from_text(note.text).size
    proof = InclusionProof(index, tuple(store.log.inclusion_proof(index, size)), note)
    if as_json:
        event = store.log.event_bytes(index)
        emit({"index": index, "tree_size": size, "leaf_hash": b64(leaf_hash(event)),
              "event": json.loads(event), "proof": [b64(h) for h in proof.path],
              "tlog_proof": proof.serialize().decode()}, True)
    else:
        sys.stdout.write(proof.serialize().decode())


@custody_app.command("consistency")
def consistency_cmd(
    ctx: typer.Context,
    old: int = typer.Option(..., "--old"),
    new: int = typer.Option(None, "--new", help="default: the log's size"),
    store_dir: Path = typer.Option(None, "--store", help=_NODE_STORE),
    as_user: str = AsUser,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Consistency proof between the log at size OLD and at size NEW (verified before it is printed)."""
    if store_dir is None:
        on_node.consistency(ctx, old=old, new=new, as_user=as_user, as_json=as_json)
        return
    store = DirectoryStore(store_dir)
    new_size = store.log.size if new is None else new
    proof = store.log.consistency_proof(old, new_size)
    old_root, new_root = store.log.root(old), store.log.root(new_size)
    try:
        verify_consistency(old, new_size, old_root, new_root, proof)
    except ProofError as exc:  # pragma: no cover - would mean the log's own tree is wrong
        raise StoreError(f"the log's consistency proof does not verify: {exc}") from None
    doc = consistency_document(store.origin, old, old_root, new_size, new_root, proof)
    if as_json:
        emit(doc, True)
    else:
        typer.echo(f"log {store.origin}: size {old} root {doc['old']['root']} is a prefix of size {new_size} "
                   f"root {doc['new']['root']}")
        for h in doc["proof"]:
            typer.echo(f"  {h}")


def verify_cmd(
    bundle: Path = typer.Argument(..., help="the sealed bundle (FILE.zip)"),
    trust: list[str] = typer.Option([], "--trust", help="a trusted verifier key (file or text); repeatable"),
    tsa_cert: list[str] = typer.Option([], "--tsa-cert", help="the RFC 3161 TSA's root certificate (PEM): the "
                                       "bundle must carry a timestamp whose signature verifies to it"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Verify a sealed evidence bundle offline: signatures, custody proofs, manifest and every item's bytes."""
    code = verify_command(bundle, trust, as_json, sys.stdout, sys.stderr, tsa_cert)
    if code:
        raise typer.Exit(code)


def register(root: typer.Typer) -> None:
    """Add `evidence`, `custody` and the top-level `verify` to the root command."""
    on_node.register(app)
    root.add_typer(app, name="evidence")
    root.add_typer(custody_app, name="custody")
    root.command("verify")(verify_cmd)


