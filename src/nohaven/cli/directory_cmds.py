"""`nohaven directory ...`: import and export the network directory (YAML or JSON)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table

from nohaven.cli.common import JsonFlag, console, emit, state
from nohaven.directory import service as directory
from nohaven.errors import InputError

app = typer.Typer(no_args_is_help=True, help="The directory of the 24/7 network.")
OPERATOR = "cli-operator"


@app.command("import")
def import_(ctx: typer.Context, file: Path = typer.Argument(..., help="YAML or JSON directory file"),
            as_json: bool = JsonFlag) -> None:
    """Validate the file whole, then replace the States it lists; nothing is stored if any part is wrong."""
    document = directory.load_document(file)
    node = state(ctx).node()
    with node.work() as session:
        counts = directory.import_document(session, document, actor=OPERATOR)
    emit(counts, as_json) if as_json else console.print(
        f"imported {counts['states']} States, {counts['agencies']} agencies, {counts['contacts']} contacts, "
        f"{counts['shifts']} on-call shifts")


@app.command("export")
def export(ctx: typer.Context, fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
           out: Path = typer.Option(None, "--out", help="file to write (default: standard output)")) -> None:
    """Write the whole directory in a form `import` accepts again."""
    if fmt not in ("yaml", "json"):
        raise InputError.field("--format", f"{fmt!r}: choose yaml or json")
    node = state(ctx).node()
    with node.work() as session:
        text = directory.dump(directory.export_document(session, actor=OPERATOR), fmt)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonFlag) -> None:
    """States and their key deadlines."""
    node = state(ctx).node()
    with node.db.session() as session:
        rows = [{"code": s.code, "name": s.name, "fictional": s.fictional,
                 "preservation_period": s.legal_profile.get("preservation_period"),
                 "acknowledgement": s.legal_profile.get("acknowledgement")} for s in directory.list_states(session)]
    if as_json:
        emit(rows, True)
        return
    table = Table("code", "name", "preservation", "ack urgent", "ack normal")
    for r in rows:
        ack = r["acknowledgement"] if isinstance(r["acknowledgement"], dict) else {}
        table.add_row(str(r["code"]), str(r["name"]), str(r["preservation_period"]), str(ack.get("urgent", "")),
                      str(ack.get("normal", "")))
    console.print(table)
