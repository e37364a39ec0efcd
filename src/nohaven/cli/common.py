"""What every command shares: the settings from global options, the node, the acting user, output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from sqlalchemy import select

from nohaven.auth.models import User
from nohaven.auth.policy import Subject
from nohaven.auth.service import subject_of
from nohaven.config import Settings, load_settings
from nohaven.errors import InputError, NotFoundError
from nohaven.node import Node

console = Console()
err_console = Console(stderr=True)


@dataclass
class CliState:
    data_dir: Path | None = None
    database_url: str | None = None
    demo: bool = False
    _node: Node | None = field(default=None, repr=False)

    def settings(self, **extra: Any) -> Settings:
        return load_settings(data_dir=self.data_dir, database_url=self.database_url,
                             demo_mode=True if self.demo else None, **extra)

    def node(self, migrate: bool = True) -> Node:
        if self._node is None:
            node = Node(self.settings())
            if migrate:
                node.migrate()
            self._node = node
        return self._node


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def acting_subject(node: Node, username: str | None) -> Subject:
    """The user a command acts as (--as or NOHAVEN_USER); the policy decides as for any other caller."""
    if not username:
        raise InputError.field("--as", "name the user this command acts as with --as USER "
                               "(or set NOHAVEN_USER)")
    with node.db.session() as session:
        user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
        if user is None or not user.active:
            raise NotFoundError(f"no active user named {username!r}; create one with `nohaven user add`")
        return subject_of(user)


def emit(data: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def read_secret_file(path: Path, option: str) -> str:
    """A password from a file (first line), never from the command line where ps would show it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.field(option, f"cannot read {path}: {exc.strerror}") from None
    value = text.splitlines()[0] if text else ""
    if not value:
        raise InputError.field(option, f"{path} is empty")
    return value


AsUser = typer.Option(None, "--as", envvar="NOHAVEN_USER", help="the user this command acts as")
JsonFlag = typer.Option(False, "--json", help="machine-readable output")
