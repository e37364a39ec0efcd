"""`nohaven trace email FILE.eml`: the Received-header chain of a message as hops."""

from __future__ import annotations

import typer


def register(trace_app: typer.Typer) -> None:
    """Add `email` to the trace group."""
