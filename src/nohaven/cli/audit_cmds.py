"""`nohaven audit ...`: verify the hash chain, read the log."""

from __future__ import annotations

import typer
from rich.table import Table

from nohaven.audit import log as audit
from nohaven.cli.common import JsonFlag, console, emit, err_console, state

app = typer.Typer(no_args_is_help=True, help="The audit log.")


@app.command("verify")
def verify(ctx: typer.Context, as_json: bool = JsonFlag) -> None:
    """Check the whole hash chain; exit 1 naming the first broken entry."""
    node = state(ctx).node()
    with node.db.session() as session:
        result = audit.verify(session)
    if as_json:
        emit(result.as_dict(), True)
    elif result.ok:
        console.print(f"audit log intact: {result.entries} entries")
    else:
        err_console.print(f"audit log BROKEN at entry {result.first_broken_seq}: {result.reason}", highlight=False)
    if not result.ok:
        raise typer.Exit(1)


@app.command("show")
def show(ctx: typer.Context, limit: int = typer.Option(50, "--limit", min=1, max=10000),
         actor: str = typer.Option(None, "--actor"), object_id: str = typer.Option(None, "--object-id"),
         as_json: bool = JsonFlag) -> None:
    """The newest entries."""
    node = state(ctx).node()
    with node.db.session() as session:
        rows = [audit.entry_view(e) for e in audit.entries(session, limit=limit, actor=actor, object_id=object_id)]
        audit.record(session, actor="cli-operator", action="audit.read", object_type="audit",
                     detail={"count": len(rows)})
    if as_json:
        emit(rows, True)
        return
    table = Table("seq", "at (UTC)", "actor", "action", "object", "outcome")
    for r in rows:
        table.add_row(str(r["seq"]), r["at"], r["actor"], r["action"], f"{r['object_type']} {r['object_id']}",
                      r["outcome"])
    console.print(table)
