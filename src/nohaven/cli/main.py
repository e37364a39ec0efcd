"""Entry point: global options, command groups, and the one place errors become messages and exit codes."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer
from rich.markup import escape

from nohaven import __version__
from nohaven.cli import (
    attachment_cmds,
    audit_cmds,
    carrier_cmds,
    directory_cmds,
    evidence_cmds,
    federation_cmds,
    ipdata_cmds,
    node_cmds,
    request_cmds,
    trace_cmds,
    trace_email_cmds,
    user_cmds,
)
from nohaven.cli.common import CliState, err_console
from nohaven.errors import NohavenError

try:  # newer Typer releases vendor Click; their exceptions are not Click's
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - Typer that uses Click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="nohaven: the 24/7 high-tech crime network node.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nohaven {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    data_dir: Path = typer.Option(None, "--data-dir", envvar="NOHAVEN_DATA_DIR",
                                  help="where the node keeps its database, keys and files"),
    database_url: str = typer.Option(None, "--database-url", envvar="NOHAVEN_DATABASE_URL",
                                     help="sqlite:///FILE or postgresql+psycopg://..."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True),
) -> None:
    ctx.obj = CliState(data_dir=data_dir, database_url=database_url)


node_cmds.register(app)
app.add_typer(user_cmds.user_app, name="user")
app.add_typer(user_cmds.token_app, name="token")
app.add_typer(request_cmds.app, name="request")
app.add_typer(request_cmds.case_app, name="case")
app.add_typer(directory_cmds.app, name="directory")
app.add_typer(audit_cmds.app, name="audit")
app.add_typer(federation_cmds.app, name="federation")
# The spelling: `nohaven directory sign|verify` for the signed network directory.
directory_cmds.app.command("sign", help="Sign a network directory (same as `federation directory-sign`).")(
    federation_cmds.directory_sign)
directory_cmds.app.command("verify", help="Verify a signed network directory (same as `federation "
                           "directory-verify`).")(federation_cmds.directory_verify)
attachment_cmds.register(request_cmds.app)
carrier_cmds.register(app)
evidence_cmds.register(app)  # evidence, custody, verify
app.add_typer(trace_cmds.app, name="trace")
ipdata_cmds.register(app, trace_cmds.app)  # ipdata load|list, trace resolve
trace_email_cmds.register(trace_cmds.app)  # trace email


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad arguments exit 2, refusals 1, never a traceback for bad input."""
    command = typer.main.get_command(app)
    try:
        # Outside standalone mode click hands back the code of a `typer.Exit` instead of raising it.
        returned = command.main(args=argv, prog_name="nohaven", standalone_mode=False)
    except click_exceptions.UsageError as exc:
        err_console.print(f"[red]error:[/red] {escape(exc.format_message())}", highlight=False)
        if exc.ctx is not None:
            err_console.print(f"see `{exc.ctx.command_path} --help`", highlight=False)
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except NohavenError as exc:
        err_console.print(f"[red]error:[/red] {escape(exc.diagnostics())}", highlight=False)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last line of defence: a message, not a traceback; details in the log
        logging.getLogger("nohaven").debug("unexpected error", exc_info=exc)
        err_console.print(f"[red]internal error:[/red] {escape(type(exc).__name__)}: {escape(str(exc)[:300])}",
                          highlight=False)
        return 1
    return returned if isinstance(returned, int) and not isinstance(returned, bool) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
