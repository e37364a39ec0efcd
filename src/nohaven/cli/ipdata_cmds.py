"""`nohaven ipdata ...` (load and list dated IP-registry snapshots) and `nohaven trace resolve`."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="IP registry data: RIR delegated files and ip2asn tables, as dated "
                  "snapshots.")


def register(root: typer.Typer, trace_app: typer.Typer) -> None:
    """Add `ipdata` to the root and `resolve` to the trace group."""
    root.add_typer(app, name="ipdata")
