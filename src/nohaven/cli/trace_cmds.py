"""`nohaven trace ...`: traces through the carriers of a communication (create, add-hop, show, draft, answer).

The group is shared: `ipdata_cmds` adds `trace resolve`, `trace_email_cmds` adds `trace email`.
"""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True, help="Trace a communication hop by hop through its carriers, across "
                  "borders.")
