"""`nohaven ipdata ...` (load and list dated IP-registry snapshots) and `nohaven trace resolve`."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn
from rich.table import Table

from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, err_console, state
from nohaven.errors import InputError, NohavenError
from nohaven.timeutil import parse_aware, utcnow, zone

if TYPE_CHECKING:  # numpy and the arrays load only when an ipdata command runs, not at every CLI start
    from nohaven.tracing.ipdata import IpDataStore, Kind, SnapshotInfo
    from nohaven.tracing.resolve import Resolution

app = typer.Typer(no_args_is_help=True, help="IP registry data: RIR delegated files and ip2asn tables, as dated "
                  "snapshots.")

KINDS = ("auto", "rir", "ip2asn")
SHOWN_BAD_LINES = 10
PROGRESS_FROM_BYTES = 4 * 2**20


def register(root: typer.Typer, trace_app: typer.Typer) -> None:
    """Add `ipdata` to the root and `resolve` to the trace group."""
    root.add_typer(app, name="ipdata")
    trace_app.command("resolve")(resolve_cmd)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError.field("--date", f"{text!r} is not a date written YYYY-MM-DD") from None


@app.command("load")
def load(ctx: typer.Context,
         files: list[Path] = typer.Argument(..., help="RIR delegated-*-extended files or ip2asn TSV tables "
                                            "(.gz too)"),
         kind: str = typer.Option("auto", "--kind", help="auto, rir or ip2asn"),
         on_date: str = typer.Option(None, "--date", help="the day an ip2asn table describes (YYYY-MM-DD); "
                                     "RIR files carry their own"),
         as_json: bool = JsonFlag) -> None:
    """Load files as dated snapshots; each file's ranges and bad lines are counted, a refused file stores
    nothing (the others are still loaded; the exit code is then 2)."""
    if kind not in KINDS:
        raise InputError.field("--kind", f"{kind!r} is none of {', '.join(KINDS)}")
    from nohaven.tracing.ipdata import IpDataStore

    chosen: Kind = kind  # type: ignore[assignment]
    day = _date(on_date)
    store = IpDataStore(state(ctx).settings().ipdata_dir)
    results: list[dict[str, Any]] = []
    refused = 0
    for path in files:
        try:
            info = _load_one(store, path, chosen, day, show_progress=not as_json)
        except NohavenError as exc:
            refused += 1
            results.append({"file": str(path), "error": exc.diagnostics()})
            if not as_json:
                err_console.print(f"[red]refused:[/red] {escape(exc.diagnostics())}", highlight=False)
            continue
        results.append({"file": str(path), "snapshot": info.to_dict()})
        if not as_json:
            _show_loaded(path, info)
    if as_json:
        emit(results, True)
    if refused:
        raise typer.Exit(2)


def _load_one(store: IpDataStore, path: Path, kind: Kind, day: date | None, *, show_progress: bool) -> SnapshotInfo:
    if not (show_progress and path.is_file() and path.stat().st_size >= PROGRESS_FROM_BYTES):
        return store.load(path, kind=kind, snapshot_date=day)
    with Progress(TextColumn(escape(path.name)), BarColumn(), DownloadColumn(), console=err_console,
                  transient=True) as bar:
        task = bar.add_task("load", total=path.stat().st_size)
        return store.load(path, kind=kind, snapshot_date=day,
                          progress=lambda done, total: bar.update(task, completed=done, total=total))


def _show_loaded(path: Path, info: SnapshotInfo) -> None:
    verb = "replaced" if info.replaced else "loaded"
    console.print(f"{verb} [bold]{escape(info.id)}[/bold] from {escape(path.name)}: {info.kind} {escape(info.source)} "
                  f"dated {info.snapshot_date}, {info.v4_ranges} IPv4 and {info.v6_ranges} IPv6 ranges, "
                  f"{info.bad_count} bad line(s)", highlight=False)
    skipped = ", ".join(f"{n} {what}" for what, n in sorted(info.skipped.items()))
    if skipped:
        console.print(f"  skipped: {escape(skipped)}", highlight=False)
    for warning in info.warnings:
        console.print(f"  [yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    for bad in info.bad_lines[:SHOWN_BAD_LINES]:
        console.print(f"  [yellow]{escape(path.name)}:{bad.line}:[/yellow] {escape(bad.reason)}", highlight=False)
    if info.bad_count > SHOWN_BAD_LINES:
        console.print(f"  … and {info.bad_count - SHOWN_BAD_LINES} more bad line(s) (see --json)", highlight=False)


@app.command("list")
def list_cmd(ctx: typer.Context,
             at: str = typer.Option(None, "--at", help="mark the snapshots in force at this instant (with its "
                                    "offset); default: the latest of each series"),
             as_json: bool = JsonFlag) -> None:
    """The loaded snapshots, by kind, source and date, and which are in force."""
    from nohaven.tracing.ipdata import IpDataStore

    instant = parse_aware(at, "--at") if at is not None else None
    store = IpDataStore(state(ctx).settings().ipdata_dir)
    infos = store.snapshots()
    view = store.view(instant)
    in_force = {info.id for info, _ in view.snapshots}
    if as_json:
        emit([{**i.to_dict(), "in_force": i.id in in_force} for i in infos], True)
        return
    if not infos:
        console.print("no IP data loaded; load RIR or ip2asn files with `nohaven ipdata load FILE...`")
        return
    table = Table("snapshot", "kind", "source", "dated", "IPv4 ranges", "IPv6 ranges", "bad lines", "file",
                  f"in force {'at ' + instant.isoformat() if instant else 'now'}")
    for i in infos:
        table.add_row(i.id, i.kind, i.source, i.snapshot_date.isoformat(), str(i.v4_ranges), str(i.v6_ranges),
                      str(i.bad_count), i.file, "yes" if i.id in in_force else "")
    console.print(table)
    for problem in view.problems:
        console.print(f"[yellow]problem:[/yellow] {escape(problem)}", highlight=False)


def resolve_cmd(ctx: typer.Context, ip: str = typer.Argument(..., help="IPv4 or IPv6 address"),
                at: str = typer.Option(None, "--at", help="when the address was seen, with its offset "
                                       "(e.g. 2026-11-27T03:14:07+01:00); default: the latest snapshots"),
                as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Which network, State and point of contact an address had at an instant, and when its traffic data is
    likely deleted."""
    from nohaven.tracing.ipdata import IpDataStore
    from nohaven.tracing.resolve import resolve_address

    instant = parse_aware(at, "--at") if at is not None else None
    node = state(ctx).node()
    subject = acting_subject(node, as_user)
    with node.work() as session:
        result = resolve_address(session, subject, ip, instant, IpDataStore(node.settings.ipdata_dir), utcnow())
    if as_json:
        emit(result.to_dict(), True)
        return
    _show_resolution(result)


def _both_times(value: datetime, time_zone: str | None) -> str:
    text = value.isoformat()
    if time_zone:
        try:
            text += f" ({value.astimezone(zone(time_zone)).isoformat()} {time_zone})"
        except InputError:
            pass
    return text


def _show_resolution(result: Resolution) -> None:
    table = Table(show_header=False, box=None)
    record = result.record
    rows: list[tuple[str, str]] = [("address", result.ip),
                                   ("at", result.at.isoformat() if result.at else "— (latest snapshots)")]
    if record is not None:
        rows += [("prefix", f"{record.prefix} (range {record.range_first} – {record.range_last})"),
                 ("AS", f"AS{record.asn}" if record.asn else "—"), ("holder", record.holder or "—"),
                 ("registry", record.registry or "—"), ("country", record.country or "—"),
                 ("status", record.status),
                 ("snapshots", f"RIR {record.rir_snapshot or '—'}, ip2asn {record.asn_snapshot or '—'}")]
    if result.state is not None:
        rows.append(("State", f"{result.state.name} ({result.state.code})"
                     + (" — domestic: this node's own State" if result.domestic else "")))
    poc = result.point_of_contact
    if poc is not None:
        reach = ", ".join([*poc.phones, *([poc.email] if poc.email else [])]) or "no phone or e-mail listed"
        rows.append(("point of contact", f"{poc.agency}: {poc.name or '—'} ({reach})"))
    if result.traffic_retention:
        rows.append(("traffic retention", result.traffic_retention))
    if result.likely_deleted_after is not None:
        local = result.state.time_zone if result.state else None
        rows.append(("likely deleted after", _both_times(result.likely_deleted_after, local)))
    for name, value in rows:
        table.add_row(f"[bold]{name}[/bold]", escape(value))
    console.print(table)
    for problem in result.problems:
        console.print(f"[yellow]problem:[/yellow] {escape(problem)}", highlight=False)
