"""`nohaven trace email FILE.eml`: the Received-header chain of a message as hops.

Runs without a node: the message is read from the file, nothing is stored and nothing is audited.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from nohaven.cli.common import JsonFlag, emit
from nohaven.errors import InputError
from nohaven.tracing.email import ReceivedChain, parse_message

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)

_TRUST_LABEL = {"trusted": "[green]trusted[/green]", "after-trusted": "after trusted",
                "could-be-forged": "[bold red]could be forged[/bold red]", "unverified": "[yellow]unverified[/yellow]"}


def _delay(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    sign = "-" if seconds < 0 else ""
    whole = abs(seconds)
    if whole < 60:
        return f"{sign}{whole:g} s"
    minutes, rest = divmod(int(whole), 60)
    if minutes < 60:
        return f"{sign}{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{sign}{hours} h {minutes} min"


def _show(chain: ReceivedChain) -> None:
    title = f"Received chain of {chain.message_id or 'a message without Message-ID'}, oldest hop first"
    table = Table(title=escape(title), show_lines=True)
    for column in ("hop", "from-host", "HELO", "from-IP", "by-host", "protocol", "time as written", "UTC", "delay",
                   "flags"):
        table.add_column(column, overflow="fold")
    for hop in chain.hops:
        stamp = hop.timestamp
        window = stamp.utc_window
        if stamp.utc is not None:
            utc = stamp.utc.strftime("%Y-%m-%d %H:%M:%SZ")
        elif window is not None:
            utc = (f"[bold yellow]offset unknown[/bold yellow]\n{window[0].strftime('%Y-%m-%d %H:%M:%SZ')} ..\n"
                   f"{window[1].strftime('%Y-%m-%d %H:%M:%SZ')}")
        else:
            utc = "-"
        ip = hop.from_ip or "-"
        if hop.from_port is not None:
            ip = f"[{ip}]:{hop.from_port}" if ":" in ip else f"{ip}:{hop.from_port}"
        flags = [_TRUST_LABEL[hop.trust]] + [escape(problem) for problem in hop.problems]
        table.add_row(str(hop.index), escape(hop.from_host or "-"), escape(hop.helo or "-"), escape(ip),
                      escape(hop.by_name or "-"), escape(hop.protocol or "-"), escape(stamp.source_text or "-"), utc,
                      _delay(hop.delay_seconds), "\n".join(flags))
    out.print(table)
    for problem in chain.problems:
        out.print(f"[yellow]note:[/yellow] {escape(problem)}", highlight=False)
    out.print(escape(chain.trust_summary), highlight=False)
    unknown = [str(hop.index) for hop in chain.hops if hop.timestamp.wall_clock and not hop.timestamp.offset_known]
    if unknown:
        out.print(f"[bold yellow]Offset unknown[/bold yellow] for hop {', '.join(unknown)}: the time is never "
                  "assumed UTC; a trace searches every offset from UTC-12 to UTC+14.", highlight=False)


def email(
    file: Path = typer.Argument(..., metavar="FILE.eml", help="the message, as saved from the mail client "
                                "(.eml, RFC 5322), or - for standard input"),
    trusted: list[str] = typer.Option(None, "--trusted", metavar="HOST", help="a server you trust (the by-host "
                                      "of the header it added): host name, .domain, IP address or network; "
                                      "repeatable"),
    as_json: bool = JsonFlag,
) -> None:
    """Read a message's Received headers bottom-up into hops: hosts, addresses, times, delays, forgery flags."""
    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        raise InputError.field("FILE", f"cannot read {file}: {exc.strerror}") from None
    bad = [entry for entry in trusted or [] if not entry.strip()]
    if bad:
        raise InputError.field("--trusted", "an empty name trusts nothing; give a host, .domain, IP or network")
    try:
        chain = parse_message(data, trusted=trusted or [])
    except InputError as exc:
        raise InputError.field("FILE", f"{file.name}: {exc.errors[0]['message'] if exc.errors else exc}") from None
    emit(chain.to_dict(), True) if as_json else _show(chain)


def register(trace_app: typer.Typer) -> None:
    """Add `email` to the trace group."""
    trace_app.command("email")(email)
