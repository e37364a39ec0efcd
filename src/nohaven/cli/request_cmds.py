"""`nohaven request ...` and `nohaven case ...`: cooperation requests from the command line."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from nohaven import interop
from nohaven.audit import log as audit
from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, err_console, state
from nohaven.errors import InputError
from nohaven.requests import cases
from nohaven.requests import service as requests

app = typer.Typer(no_args_is_help=True, help="Cooperation requests.")
case_app = typer.Typer(no_args_is_help=True, help="Cases and their members.")


def _read_request_file(path: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.field("--file", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        raise InputError.field("--file", f"{path} is not valid YAML or JSON") from None
    if not isinstance(data, dict):
        raise InputError.field("--file", f"{path} must hold one request as a mapping of fields")
    return data


def _show(view: dict[str, Any]) -> None:
    console.print(f"[bold]{view['reference']}[/bold] (id {view['id']}) {view['type']} {view['direction']} "
                  f"by {view['channel']}, {view['priority']} — status [bold]{view['status']}[/bold]")
    allowed = ", ".join(view["allowed_transitions"]) or "none (final)"
    console.print(f"  next statuses: {allowed}", highlight=False)
    table = Table("clock", "due (UTC)", "state", "urgency")
    for clock in view["clocks"].values():
        table.add_row(clock["label"], clock["due_at"], clock["state"], clock["urgency"])
    console.print(table)


@app.command("create")
def create(ctx: typer.Context,
           file: str = typer.Option(..., "--file", "-f", help="YAML or JSON request ('-' for standard input)"),
           as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Log or draft a request from a file of T-CY template fields."""
    data = _read_request_file(file)
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.create_request(session, subject, data))
    emit(view, True) if as_json else _show(view)


@app.command("list")
def list_(ctx: typer.Context, open_only: bool = typer.Option(False, "--open", help="only requests not closed"),
          status: str = typer.Option(None, "--status"), as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Requests you may see, nearest deadline first."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        views = [requests.request_view(r, full=False)
                 for r in requests.list_requests(session, subject, open_only=open_only, status=status)]
    if as_json:
        emit(views, True)
        return
    table = Table("id", "reference", "type", "status", "next clock", "due (UTC)", "urgency")
    for v in views:
        nxt = v["next_clock"] or {}
        table.add_row(str(v["id"]), v["reference"], v["type"], v["status"], nxt.get("kind", "—"),
                      nxt.get("due_at", ""), nxt.get("urgency", ""))
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"), as_user: str = AsUser,
         as_json: bool = JsonFlag) -> None:
    """One request with its clocks and timeline."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.get_request(session, subject, request_id))
    emit(view, True) if as_json else _show(view)


@app.command("transition")
def transition(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"),
               to: str = typer.Argument(..., metavar="STATUS", help="e.g. Preserved"),
               note: str = typer.Option("", "--note"), as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Change status; exit 1 listing the allowed statuses when the change is illegal."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.transition(session, subject, request_id, to, note))
    emit(view, True) if as_json else _show(view)


@app.command("acknowledge")
def acknowledge(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"), as_user: str = AsUser,
                as_json: bool = JsonFlag) -> None:
    """Acknowledge receipt (stops the acknowledge-by clock)."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.acknowledge(session, subject, request_id))
    emit(view, True) if as_json else _show(view)


@app.command("confirm")
def confirm(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"),
            note: str = typer.Option("", "--note", help="e.g. 'signed letter received by e-mail'"),
            as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Record the written confirmation of a request made by voice, fax, e-mail or in person."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.confirm_written(session, subject, request_id, note))
    emit(view, True) if as_json else _show(view)


@app.command("link")
def link(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="PRESERVATION_ID"),
         mla: int = typer.Option(..., "--mla", help="id of the MLA request that follows"), as_user: str = AsUser,
         as_json: bool = JsonFlag) -> None:
    """Link a preservation request to its follow-up MLA request."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.link_follow_up(session, subject, request_id, mla))
    emit(view, True) if as_json else _show(view)


@case_app.command("add-member")
def add_member(ctx: typer.Context, reference: str = typer.Argument(..., metavar="CASE"),
               username: str = typer.Argument(..., metavar="USER"), as_user: str = AsUser,
               as_json: bool = JsonFlag) -> None:
    """Give a user need-to-know on a case."""
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        cases.add_member(session, subject, reference, username)
    emit({"case": reference, "added": username}, True) if as_json else console.print(f"{username} added to {reference}")


# --- ETSI TS 103 120 export and import ------------------------------------------------------------------------

EXPORT_FORMATS = ("ts103120-xml", "ts103120-json")
SchemaDir = typer.Option(None, "--schema-dir", help="folder of the ETSI TS 103 120 XSDs (default: "
                         f"${interop.SCHEMA_DIR_ENV}, else ../shared/standards/etsi-ts-103120/schema/xsd)")


def _endpoint(text: str | None, option: str, node_id: str) -> interop.Endpoint | None:
    if not text:
        return None
    country, _, node = text.partition(":")
    if not re.fullmatch(r"[A-Z]{2}", country) or (_ and not node):
        raise InputError.field(option, f"{text!r} is not CC or CC:NODE (e.g. XB or XB:xb-bfp)")
    return interop.Endpoint(country=country, node=node or node_id)


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
            tmp.write(data)
        Path(tmp.name).replace(path)
    except OSError as exc:
        raise InputError.field("--out", f"cannot write {path}: {exc.strerror}") from None


@app.command("export")
def export(ctx: typer.Context, request_id: int = typer.Argument(..., metavar="ID"),
           format_: str = typer.Option(..., "--format", help="ts103120-xml or ts103120-json"),
           out: Path = typer.Option(None, "--out", help="write to FILE (default: standard output)"),
           sender: str = typer.Option(None, "--sender", help="CC[:NODE] (default: the requesting State)"),
           receiver: str = typer.Option(None, "--receiver", help="CC[:NODE] (default: the requested State)"),
           node_id: str = typer.Option(interop.DEFAULT_NODE_ID, "--node-id",
                                       help="node identifier of an endpoint given without one"),
           schema_dir: Path = SchemaDir, as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Write a request as an ETSI TS 103 120 HI1Message (XML or JSON), validated against the XSDs; audited."""
    if format_ not in EXPORT_FORMATS:
        raise InputError.field("--format", f"{format_!r} is not one of {', '.join(EXPORT_FORMATS)}")
    sender_end = _endpoint(sender, "--sender", node_id)
    receiver_end = _endpoint(receiver, "--receiver", node_id)
    interop.load_schema_set(schema_dir)  # a missing schema folder is a configuration error, before any work
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.get_request(session, subject, request_id))
        options: dict[str, Any] = {"sender": sender_end, "receiver": receiver_end, "node_id": node_id,
                                   "schema_dir": schema_dir}
        if format_ == "ts103120-xml":
            data = interop.export_xml(view, **options)
            transaction = re.search(rb"<TransactionIdentifier>([^<]+)<", data)
            transaction_id = transaction.group(1).decode() if transaction else ""
        else:
            document = interop.export_json(view, **options)
            data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
            transaction_id = document["Header"]["TransactionIdentifier"]
        audit.record(session, actor=subject.username, action="request.export", object_type="request",
                     object_id=view["id"], detail={"format": format_, "transaction": transaction_id,
                                                   "out": str(out) if out else "stdout"})
        if out is not None:
            _write_atomically(out, data)
    if out is None:
        sys.stdout.write(data.decode("utf-8"))
    elif as_json:
        emit({"id": view["id"], "format": format_, "out": str(out), "bytes": len(data),
              "transaction": transaction_id}, True)
    else:
        console.print(f"{view['reference']} written to {out} as {format_} ({len(data)} bytes, transaction "
                      f"{transaction_id})", highlight=False)


def _read_import(path: str) -> bytes:
    try:
        return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise InputError.field("FILE", f"cannot read {path}: {exc.strerror}") from None


def _read_defaults(path: str) -> dict[str, Any]:
    try:
        return _read_request_file(path)
    except InputError as exc:  # that reader names --file; here the file came with --defaults
        message = exc.errors[0]["message"] if exc.errors else exc.message
        raise InputError.field("--defaults", message) from None


def _report(result: interop.ImportResult, missing: list[interop.FieldNote], to_stderr: bool) -> None:
    out = err_console if to_stderr else console
    if result.unmapped:
        out.print("not mapped:", highlight=False)
    for item in result.unmapped:
        value = f" = {item.value}" if item.value else ""
        out.print(f"  {item.location}\n    {item.element}{value}\n    {item.reason}", highlight=False, soft_wrap=True)
    for note in result.assumed:
        out.print(f"assumed: {note.field}: {note.message}", highlight=False, soft_wrap=True)
    for note in missing:
        out.print(f"missing: {note.field}: {note.message}", highlight=False, soft_wrap=True)


@app.command("import")
def import_(ctx: typer.Context, file: str = typer.Argument(..., metavar="FILE", help="'-' for standard input"),
            format_: str = typer.Option("auto", "--format", help="auto, ts103120-xml or ts103120-json"),
            defaults: str = typer.Option(None, "--defaults", help="YAML or JSON request fields that fill what the "
                                         "message lacks"),
            settings: list[str] = typer.Option([], "--set", help="FIELD=VALUE over the message, e.g. "
                                               "channel=email or requesting_authority.officer='Insp. K. Adler'"),
            dry_run: bool = typer.Option(False, "--dry-run", help="map and check only; create nothing"),
            schema_dir: Path = SchemaDir, as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Create an incoming request from an ETSI TS 103 120 HI1Message; says what could not be mapped."""
    if format_ not in ("auto", *EXPORT_FORMATS):
        raise InputError.field("--format", f"{format_!r} is not auto or one of {', '.join(EXPORT_FORMATS)}")
    data = _read_import(file)
    is_json = format_ == "ts103120-json" or (format_ == "auto" and data.lstrip()[:1] == b"{")
    result = (interop.import_json if is_json else interop.import_xml)(data, schema_dir=schema_dir)
    fields = interop.complete(result.request, _read_defaults(defaults) if defaults else None, settings)
    missing = interop.missing_fields(fields, explained=result.missing)
    report = {"unmapped": [u.model_dump() for u in result.unmapped],
              "assumed": [a.model_dump() for a in result.assumed], "source": result.source.model_dump()}
    if dry_run:
        if as_json:
            emit({"request": fields, "missing": [m.model_dump() for m in missing], **report}, True)
        else:
            _report(result, missing, to_stderr=False)
        if missing:
            raise typer.Exit(2)
        return
    if missing:
        _report(result, [], to_stderr=True) if not as_json else None
        first = missing[0]
        raise InputError(f"request: {first.field}: {first.message} — supply what the message lacks with "
                         "--set FIELD=VALUE or --defaults FILE (--dry-run shows it all)",
                         errors=[m.model_dump() for m in missing])
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        view = requests.request_view(requests.create_request(session, subject, fields))
        audit.record(session, actor=subject.username, action="request.import", object_type="request",
                     object_id=view["id"], detail={"format": "ts103120-json" if is_json else "ts103120-xml",
                                                   "transaction": result.source.transaction_id,
                                                   "sender": f"{result.source.sender_country}/"
                                                             f"{result.source.sender_node}",
                                                   "unmapped": len(result.unmapped)})
    if as_json:
        emit({"request": view, **report}, True)
    else:
        _show(view)
        _report(result, [], to_stderr=False)
