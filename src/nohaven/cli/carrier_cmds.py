"""`nohaven carrier ...`: ingest vendor logs, look up who held IP:port at an instant, preserve the evidence.

Runs without a node: nothing here touches the node's database or settings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from nohaven.errors import InputError

app = typer.Typer(no_args_is_help=True, help="Carrier toolkit: ingest NAT/RADIUS/DHCP logs, look up IP:port@time, "
                  "preserve. Usable without a node.")
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _zone(tz: str | None) -> Any:
    if tz is None:
        return None
    from nohaven.timeutil import zone

    return zone(tz, "tz")


@app.command()
def ingest(
    files: list[str] = typer.Argument(None, help="log files (plain, .gz, .zst) or - for standard input; none: "
                                      "only rebuild the tables"),
    store: Path = typer.Option(..., "--store", help="the store directory (created if missing)"),
    fmt: str = typer.Option("auto", "--format", help="format name, or auto to detect it from the first lines"),
    tz: str = typer.Option(None, "--tz", help="IANA zone of devices that log local time without an offset"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Parse logs into the store; each source once, resumably; rejects go to STORE/rejects/."""
    from nohaven.carrier.ingest import ingest as run_ingest
    from nohaven.carrier.sources import digest_file
    from nohaven.carrier.store import Store

    target = Store(store)
    zone = _zone(tz)
    files = files or []
    show = err.is_terminal and not as_json
    total = sum(Path(f).stat().st_size for f in files if f != "-" and Path(f).exists())
    del digest_file
    missing = [f for f in files if f != "-" and not Path(f).is_file()]
    if missing:
        raise InputError.field("files", f"no such file: {', '.join(missing)}")

    def said(name: str, chosen: str) -> None:
        err.print(f"{name}: format {chosen}", highlight=False)

    if show:
        with Progress(TextColumn("ingest"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task("ingest", total=total or None)
            result = run_ingest(target, files, fmt, zone, progress=lambda n: bar.advance(task, n), on_format=said)
    else:
        result = run_ingest(target, files, fmt, zone, on_format=None if as_json else said)
    if as_json:
        out.print_json(json.dumps(result.as_dict()))
        return
    for f in result.files:
        if f.skipped:
            out.print(f"{f.name}: already in the store (sha256 {f.sha256[:16]}…), nothing stored again",
                      highlight=False)
        elif f.rejects:
            out.print(f"{f.name}: {f.rejects} rejected, see {target.rejects_path(f.sha256)}", highlight=False)
    out.print(f"{result.records} records, {result.rejects} rejects, {result.seconds:.2f} s", highlight=False)


def _answer_table(answer: dict[str, Any]) -> None:
    q = answer["query"]
    head = f"{q['ip']} port {q['port']} at {q['at']} ({q['from_utc']} .. {q['to_utc']})"
    if not answer["candidates"]:
        out.print(f"{head}: no candidate", highlight=False)
        return
    table = Table(title=head, show_lines=False)
    for col in ("private", "subscriber", "interval (UTC)", "kind", "source"):
        table.add_column(col)
    for c in answer["candidates"]:
        subs = "; ".join(filter(None, (s["subscriber"] or s["mac"] or s["station"] for s in c["subscribers"]))) or "-"
        port = c["private_port"] if c["private_port"] is not None else ""
        src = c["source"]
        where = f"{src.get('file') or src.get('config')}:{src.get('line') or src.get('pool')}"
        interval = f"{c['start']} .. {c['end']}" + ("" if c["end_logged"] else " (end not logged)")
        table.add_row(f"{c['private_ip']}:{port}", subs, interval, c["kind"], where)
    out.print(table)
    if answer["ambiguous"]:
        out.print("[bold red]AMBIGUOUS[/bold red]: " + " | ".join(answer["ambiguity"]), highlight=False)


@app.command()
def lookup(
    store: Path = typer.Option(..., "--store", help="the store directory"),
    ip: str = typer.Option(None, "--ip", help="public IPv4 or IPv6 address"),
    port: int = typer.Option(None, "--port", help="public port"),
    at: str = typer.Option(None, "--at", help="the instant, with its offset: 2026-11-27T03:14:07+01:00"),
    window: str = typer.Option("2s", "--window", help="clock uncertainty of --at: 2s, 500ms, 1m, PT5S"),
    batch: Path = typer.Option(None, "--batch", help="CSV of queries with a header ip,port,at[,window]"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (embedded) or spark"),
    master: str = typer.Option(None, "--spark-master", help="Spark master URL (default local[*])"),
    deterministic: Path = typer.Option(None, "--deterministic", help="RFC 7422 pools (JSON); default "
                                       "STORE/deterministic.json when present"),
    as_json: bool = typer.Option(False, "--json", help="print the answer as JSON"),
    fmt: str = typer.Option("text", "--format", help="text, json, or ts103120-xml (the LD task Disclosed and a "
                            "delivery of the answer; needs --ldid, --sender, --receiver)"),
    ldid: str = typer.Option(None, "--ldid", help="the requester's LD task reference (LDID), CC-OWNER-REF"),
    sender: str = typer.Option(None, "--sender", help="this carrier as COUNTRY:IDENTIFIER"),
    receiver: str = typer.Option(None, "--receiver", help="the requesting authority as COUNTRY:IDENTIFIER"),
    task_id: str = typer.Option(None, "--task-id", help="the LD task's object identifier (UUID), if known"),
    out_file: Path = typer.Option(None, "--out", help="write the answer to this file instead of standard output"),
) -> None:
    """Who held public IP:port at an instant: every candidate, with provenance; ambiguity said loudly."""
    from nohaven.carrier.lookup import Attributor, Query, read_queries
    from nohaven.carrier.store import Store

    if batch is not None:
        queries = read_queries(batch, window)
    else:
        for name, value in (("--ip", ip), ("--port", port), ("--at", at)):
            if value is None:
                raise InputError.field(name, f"{name} is required (or give --batch FILE)")
        queries = [Query.make(ip, port, at, window)]
    fmt = "json" if as_json else fmt
    if fmt not in ("text", "json", "ts103120-xml"):
        raise InputError.field("format", f"unknown --format {fmt!r}; use text, json or ts103120-xml")
    message = _delivery_check(fmt, ldid, sender, receiver)
    with Attributor(Store(store), engine, master, deterministic) as attributor:
        answers = attributor.answer_all(queries)
    payload: Any = answers if batch is not None else answers[0]
    if fmt != "text":
        data = message(payload, task_id) if message else (json.dumps(payload, indent=1) + "\n").encode()
        if out_file is not None:
            out_file.write_bytes(data)
        else:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
    else:
        for answer in answers:
            _answer_table(answer)
    if any(a["ambiguous"] for a in answers):
        raise typer.Exit(3)


def _delivery_check(fmt: str, ldid: str | None, sender: str | None,
                    receiver: str | None) -> Any:
    """For ts103120-xml: check its options before any lookup runs, and return the message writer."""
    if fmt != "ts103120-xml":
        return None
    from nohaven.carrier.delivery import Endpoint, delivery_message

    for name, value in (("--ldid", ldid), ("--sender", sender), ("--receiver", receiver)):
        if not value:
            raise InputError.field(name, f"--format ts103120-xml needs {name}")
    ends = Endpoint.parse(str(sender), "sender"), Endpoint.parse(str(receiver), "receiver")

    def write(payload: Any, task_id: str | None) -> bytes:
        return delivery_message(payload, ldid=str(ldid), sender=ends[0], receiver=ends[1], task_id=task_id)

    delivery_message({}, ldid=str(ldid), sender=ends[0], receiver=ends[1])  # refuses a bad --ldid now
    return write


def register(root: typer.Typer) -> None:
    """Attach the `carrier` group to the root CLI."""
    root.add_typer(app, name="carrier")


@app.command()
def preserve(
    store: Path = typer.Option(..., "--store", help="the store directory"),
    ip: str = typer.Option(..., "--ip", help="public IPv4 or IPv6 address"),
    port: int = typer.Option(..., "--port", help="public port"),
    start: str = typer.Option(..., "--from", help="start of the period, with its offset"),
    end: str = typer.Option(..., "--to", help="end of the period, with its offset"),
    out_file: Path = typer.Option(..., "--out", help="the sealed bundle to write (FILE.zip)"),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb or spark"),
    key: Path = typer.Option(None, "--key", help="the carrier's signing key (as written by `nohaven evidence keygen`); "
                             "default: STORE/evidence/keys/, made on first use"),
    case: str = typer.Option(None, "--case", help="the case reference (default: the --ldid, else one made from "
                             "the query); a bundle seals every item preserved in its case"),
    exhibit: str = typer.Option(None, "--exhibit", help="exhibit number (default: made from the query)"),
    authority: str = typer.Option(None, "--authority", help="the legal authority: order, request reference"),
    by: str = typer.Option(None, "--by", help="who preserves (default: the current user)"),
    location: str = typer.Option("", "--location", help="where the preservation took place"),
    as_json: bool = typer.Option(False, "--json", help="print what was done as JSON"),
    ldid: str = typer.Option(None, "--ldid", help="also freeze the answer as a TS 103 120 LD task delivery "
                             "(answer.ts103120.xml) for this LDID; needs --sender and --receiver"),
    sender: str = typer.Option(None, "--sender", help="this carrier as COUNTRY:IDENTIFIER"),
    receiver: str = typer.Option(None, "--receiver", help="the requesting authority as COUNTRY:IDENTIFIER"),
    task_id: str = typer.Option(None, "--task-id", help="the LD task's object identifier (UUID), if known"),
) -> None:
    """Freeze the raw lines, normalised records and answer for IP:port over a period into a sealed evidence
    bundle (verify it with `nohaven verify FILE.zip --trust KEY`)."""
    from nohaven.carrier.preserve import Sealing
    from nohaven.carrier.preserve import preserve as run_preserve
    from nohaven.carrier.store import Store

    message = _delivery_check("ts103120-xml", ldid, sender, receiver) if ldid or sender or receiver else None
    disclose = (lambda answer: message(answer, task_id)) if message else None
    sealing = Sealing(case=case or ldid, exhibit=exhibit, examiner=by, authority=authority or (
        f"LD task {ldid}" if ldid else None), location=location, key=key)
    done = run_preserve(Store(store), ip, port, start, end, out_file, engine, disclose=disclose, sealing=sealing)
    k = done["key"]
    if k["created"]:
        err.print(f"made the carrier's signing key {k['file']} (0600); its public key is {k['verifier_file']}",
                  highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(done, indent=1) + "\n")
        return
    out.print(f"{out_file}: sealed {done['sealed_items']} item(s) of case {done['case']} with "
              f"{done['custody_events']} custody events; {done['candidates']} candidate(s)"
              + (" — AMBIGUOUS" if done["ambiguous"] else ""), highlight=False)
    out.print(f"signed by {k['name']}, SHA-256 fingerprint {k['fingerprint']}\n"
              f"verify: nohaven verify {out_file} --trust {k['verifier_file'] or repr(k['verifier_key'])}",
              highlight=False)
