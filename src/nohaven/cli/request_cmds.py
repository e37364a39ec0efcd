"""`nohaven request ...` and `nohaven case ...`: cooperation requests from the command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, state
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
