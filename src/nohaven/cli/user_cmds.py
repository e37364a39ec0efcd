"""`nohaven user ...` and `nohaven token ...`: local administration, run by whoever runs the node."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from nohaven.auth import service as users
from nohaven.cli.common import JsonFlag, console, emit, read_secret_file, state

user_app = typer.Typer(no_args_is_help=True, help="Users of this node.")
token_app = typer.Typer(no_args_is_help=True, help="API bearer tokens.")
OPERATOR = "cli-operator"


@user_app.command("add")
def add(ctx: typer.Context, name: str = typer.Argument(..., help="user name"),
        role: str = typer.Option(..., "--role", help="officer, supervisor, central_authority, auditor or admin"),
        password_file: Path = typer.Option(..., "--password-file", help="file whose first line is the password"),
        email: str = typer.Option(None, "--email"), display_name: str = typer.Option("", "--display-name"),
        as_json: bool = JsonFlag) -> None:
    """Create a user."""
    node = state(ctx).node()
    password = read_secret_file(password_file, "--password-file")
    with node.work() as session:
        user = users.add_user(session, username=name, role=role, password=password, actor=OPERATOR,
                              display_name=display_name, email=email)
        out = {"username": user.username, "role": user.role}
    emit(out, as_json) if as_json else console.print(f"user {out['username']} ({out['role']}) created")


@user_app.command("list")
def list_(ctx: typer.Context, as_json: bool = JsonFlag) -> None:
    """List users."""
    node = state(ctx).node()
    with node.work() as session:
        rows = [{"username": u.username, "role": u.role, "active": u.active, "totp": u.totp_enabled}
                for u in users.list_users(session)]
    if as_json:
        emit(rows, True)
        return
    table = Table("user", "role", "active", "TOTP")
    for r in rows:
        table.add_row(str(r["username"]), str(r["role"]), str(r["active"]),
                      "enrolled" if r["totp"] else "not enrolled")
    console.print(table)


@token_app.command("create")
def create(ctx: typer.Context, username: str = typer.Argument(..., help="whose token"),
           label: str = typer.Option("", "--label"), as_json: bool = JsonFlag) -> None:
    """Create an API bearer token; it is shown once and stored only as a hash."""
    node = state(ctx).node()
    with node.work() as session:
        token = users.create_token(session, users.get_user(session, username), actor=OPERATOR, label=label)
    if as_json:
        emit({"username": username, "token": token}, True)
    else:
        console.print(token, highlight=False)
