"""`nohaven trace ...`: traces through the carriers of a communication (create, add-hop, show, list, draft,
request, answer, answer-document, resolve-hop, close).

The group is shared: `ipdata_cmds` adds `trace resolve`, `trace_email_cmds` adds `trace email`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from nohaven.auth.policy import Subject
from nohaven.blobs import BlobStore
from nohaven.cli.common import AsUser, JsonFlag, acting_subject, console, emit, state
from nohaven.errors import InputError
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.timeutil import utcnow
from nohaven.tracing import answers, drafting, service, views
from nohaven.tracing.answers import DISCLOSURE_FORMAT, DisclosureDocument
from nohaven.tracing.endpoints import parse_next_hop
from nohaven.tracing.timestamps import read_time
from nohaven.validation import parse_model

app = typer.Typer(no_args_is_help=True, help="Trace a communication hop by hop through its carriers, across "
                  "borders.")

Ip = typer.Option(None, "--ip", help="the address the source saw")
Port = typer.Option(None, "--port", help="its port")
Protocol = typer.Option(None, "--protocol", help="tcp, udp, smtp, ...")
At = typer.Option(None, "--at", help="the time as written in the source, e.g. '2026-11-27 03:14:07 CET'")
Tz = typer.Option(None, "--tz", help="IANA zone of a time written without its offset")
OffsetUnknown = typer.Option(False, "--offset-unknown", help="the source's zone is unknown (spans UTC-12..+14)")
Uncertainty = typer.Option("PT1S", "--uncertainty", help="ISO 8601 duration, ± around the time")
SeenWhere = typer.Option("", "--seen-where", help="where the source recorded it")
Note = typer.Option("", "--note")
def _observation(ip: str | None, port: int | None, protocol: str | None, at: str | None, tz: str | None,
                 offset_unknown: bool, uncertainty: str, seen_where: str, note: str) -> dict[str, Any]:
    for option, value in (("--ip", ip), ("--at", at)):
        if not value:
            raise InputError.field(option, f"{option} is required")
    return {"ip": ip, "port": port, "protocol": protocol, "time_text": at, "time_zone": tz,
            "offset_unknown": offset_unknown, "uncertainty": uncertainty, "seen_where": seen_where, "note": note}


def _email_observations(path: Path, trusted: list[str]) -> list[dict[str, Any]]:
    from nohaven.tracing.email import parse_message

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError.field("--from-email", f"cannot read {path}: {exc.strerror}") from None
    observations = parse_message(data, trusted=trusted).observations()
    if not observations:
        raise InputError.field("--from-email", f"{path.name}: no Received header names a routable sending address")
    return observations


def _show(view: dict[str, Any]) -> None:
    console.print(f"[bold]{view['reference']}[/bold] {view['title']} — case {view['case']}, status "
                  f"[bold]{view['status']}[/bold], most urgent: {view['urgency']}", highlight=False)
    table = Table("hop", "after", "endpoint", "time as written", "UTC", "State", "status", "urgency",
                  "likely deleted after", "requests")
    labels = {h["id"]: h["label"] for h in view["hops"]}
    for h in view["hops"]:
        utc = h["time"]["instant"] or ("AMBIGUOUS: " + " / ".join(h["time"]["candidates"]) if h["time"]["candidates"]
                                       else f"unknown offset: {h['time']['window_start']} .. {h['time']['window_end']}")
        table.add_row(h["label"], labels.get(h["parent_id"], ""), h["endpoint"], h["time"]["source_text"], utc,
                      (h["responsible_state"] or "?") + (" (domestic)" if h["domestic"] else ""), h["status"],
                      h["urgency"], h["likely_deleted_after"] or "", ", ".join(
                          f"{r['reference']} {r['type']} {r['status']}" for r in h["requests"]))
    console.print(table)


def _node_subject(ctx: typer.Context, as_user: str | None) -> tuple[Node, Subject]:
    node = state(ctx).node()
    return node, acting_subject(node, as_user)


@app.command("create")
def create(ctx: typer.Context, title: str = typer.Option(..., "--title"),
           case: str = typer.Option(None, "--case", help="the case reference (default: a new case)"),
           offence: str = typer.Option("", "--offence"), summary: str = typer.Option("", "--summary"),
           ip: str = Ip, port: int = Port, protocol: str = Protocol, at: str = At, tz: str = Tz,
           offset_unknown: bool = OffsetUnknown, uncertainty: str = Uncertainty, seen_where: str = SeenWhere,
           note: str = Note,
           from_email: Path = typer.Option(None, "--from-email", help="seed the hops from a message's Received "
                                           "headers (oldest first)"),
           trusted: list[str] = typer.Option([], "--trusted", help="a server of the chain you trust (repeatable)"),
           as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Open a trace from an observation (or from an e-mail's Received chain)."""
    if from_email is not None:
        observations, source = _email_observations(from_email, trusted), "email"
    else:
        observations = [_observation(ip, port, protocol, at, tz, offset_unknown, uncertainty, seen_where, note)]
        source = "observation"
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        trace = service.create_trace(session, subject, {"title": title, "case_reference": case, "offence": offence,
                                                        "summary": summary, "observations": observations,
                                                        "source": source}, settings=node.settings)
        view = views.trace_view(session, trace)
    emit(view, True) if as_json else _show(view)


@app.command("add-hop")
def add_hop(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"),
            parent: str = typer.Option(None, "--parent", help="the hop it follows from (H1 or its id)"),
            ip: str = Ip, port: int = Port, protocol: str = Protocol, at: str = At, tz: str = Tz,
            offset_unknown: bool = OffsetUnknown, uncertainty: str = Uncertainty, seen_where: str = SeenWhere,
            note: str = Note, as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Add a hop by hand; it is resolved at once."""
    body = {**_observation(ip, port, protocol, at, tz, offset_unknown, uncertainty, seen_where, note),
            "parent": parent, "source": "manual"}
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        hop = views.hop_view(session, service.add_hop(session, subject, trace, body, settings=node.settings))
    emit(hop, True) if as_json else console.print(f"{hop['label']} {hop['endpoint']} → "
                                                  f"{hop['responsible_state'] or '?'} ({hop['status']})")


@app.command("resolve-hop")
def resolve_hop(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"),
                hop: str = typer.Argument(..., metavar="HOP"), as_user: str = AsUser,
                as_json: bool = JsonFlag) -> None:
    """Resolve a hop (again) with the node's current IP data."""
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        view = views.hop_view(session, service.resolve_hop(session, subject, trace, hop, settings=node.settings))
    emit(view, True) if as_json else console.print(f"{view['label']} {view['endpoint']} → "
                                                   f"{view['responsible_state'] or '?'}", highlight=False)


@app.command("show")
def show(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"), as_user: str = AsUser,
         as_json: bool = JsonFlag) -> None:
    """A trace: its hops, requests, graph and timeline."""
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        view = views.trace_view(session, service.get_trace(session, subject, trace))
    emit(view, True) if as_json else _show(view)


@app.command("close")
def close(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"), note: str = Note,
          reopen: bool = typer.Option(False, "--reopen", help="reopen a closed trace"), as_user: str = AsUser,
          as_json: bool = JsonFlag) -> None:
    """Close a trace (no more hops or answers expected), or reopen it."""
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        view = views.trace_view(session, service.close_trace(session, subject, trace, note, reopen=reopen))
    emit(view, True) if as_json else _show(view)


@app.command("list")
def list_(ctx: typer.Context, as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """The traces you may see."""
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        rows = [views.trace_summary(t) for t in service.list_traces(session, subject)]
    if as_json:
        emit(rows, True)
        return
    table = Table("reference", "title", "case", "status", "hops", "urgency")
    for r in rows:
        table.add_row(r["reference"], r["title"], r["case"], r["status"], str(r["hop_count"]), r["urgency"])
    console.print(table)


@app.command("draft")
def draft(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"),
          hop: str = typer.Argument(..., metavar="HOP"), as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """The requests a hop calls for, with its time as written, in UTC and in the requested State's time."""
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        view = drafting.draft_requests(session, subject, trace, hop, settings=node.settings)
    if as_json:
        emit(view, True)
        return
    t = view["time"]
    console.print(f"{view['hop']} {view['endpoint']} → {view['requested_state']}"
                  f"{' (domestic)' if view['domestic'] else ''}", highlight=False)
    console.print(f"  as written: {t['source_text']} (offset {t['offset']}, ± {t['uncertainty']})\n"
                  f"  UTC:        {' or '.join(t['utc']) or 'unknown'}\n"
                  f"  {t['requested_time_zone']}: {' or '.join(t['requested_local']) or 'unknown'}\n"
                  f"  window:     {t['window_utc'][0]} .. {t['window_utc'][1]} UTC", highlight=False)
    for d in view["drafts"]:
        r = d["request"]
        console.print(f"[bold]{d['kind']}[/bold] to {r['requested_authority']} by {r['channel']}", highlight=False)


@app.command("request")
def request(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"),
            hop: str = typer.Argument(..., metavar="HOP"),
            types: list[str] = typer.Option([], "--type", help="preservation, traffic_disclosure or domestic_order "
                                            "(repeatable; default: every draft)"),
            priority: str = typer.Option(None, "--priority", help="urgent or normal"),
            channel: str = typer.Option(None, "--channel", help="platform, email, fax, voice, in_person"),
            as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """File the hop's drafted requests; they are linked to the hop."""
    overrides = {k: v for k, v in (("priority", priority), ("channel", channel)) if v}
    node, subject = _node_subject(ctx, as_user)
    with node.work() as session:
        filed = [requests.request_view(r) for r in drafting.file_requests(
            session, subject, trace, hop, {"types": types or None, "overrides": overrides}, settings=node.settings)]
    if as_json:
        emit(filed, True)
        return
    for r in filed:
        console.print(f"{r['reference']} (id {r['id']}) {r['type']} to {r['requested_state']} by {r['channel']}: "
                      f"{r['status']}", highlight=False)


def _next(texts: list[str], option: str) -> list[dict[str, Any]]:
    return [parse_next_hop(text, option) for text in texts]


def _subscriber(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except ValueError:
            raise InputError.field("--subscriber", "not valid JSON") from None
        if isinstance(value, dict):
            return value
        raise InputError.field("--subscriber", "give a name or a JSON object")
    return {"identity": text}


NextOpt = typer.Option([], "--next", help="a next endpoint IP[:PORT][/PROTOCOL]@TIME (repeatable)")
SubscriberOpt = typer.Option(None, "--subscriber", help="who held the address: a name, or a JSON object")
DeadEndOpt = typer.Option(None, "--dead-end", help="why the chain breaks here (e.g. 'data deleted')")


@app.command("answer")
def answer(ctx: typer.Context, trace: str = typer.Argument(..., metavar="TRACE"),
           hop: str = typer.Argument(..., metavar="HOP"),
           document: Path = typer.Option(None, "--document", help="the answer document (nohaven-disclosure/1 or a "
                                         "carrier lookup answer); attached to the hop's request"),
           next_hops: list[str] = NextOpt, subscriber: str = SubscriberOpt, dead_end: str = DeadEndOpt,
           request_id: int = typer.Option(None, "--request", help="the id of the hop's request it answers"),
           note: str = Note, as_user: str = AsUser, as_json: bool = JsonFlag) -> None:
    """Record the answer to a hop: next hops, the subscriber (origin) or a dead end."""
    node, subject = _node_subject(ctx, as_user)
    if document is not None:
        if next_hops or subscriber or dead_end:
            raise InputError.field("--document", "give the document or the answer's fields, not both")
        try:
            content = document.read_bytes()
        except OSError as exc:
            raise InputError.field("--document", f"cannot read {document}: {exc.strerror}") from None
        digest, _ = BlobStore(node.settings.blob_dir).put_chunks([content])
        with node.work() as session:
            new = answers.record_answer_document(session, subject, trace, hop, content=content, name=document.name,
                                                 media_type="application/json", sha256=digest, request_id=request_id,
                                                 settings=node.settings, now=utcnow())
            view = views.trace_view(session, service.trace_for(session, subject, trace))
    else:
        body = {"next_hops": _next(next_hops, "--next"), "subscriber": _subscriber(subscriber), "dead_end": dead_end,
                "note": note, "request_id": request_id}
        with node.work() as session:
            new = answers.record_answer(session, subject, trace, hop, body, settings=node.settings)
            view = views.trace_view(session, service.trace_for(session, subject, trace))
    if as_json:
        emit({"new_hops": [h.label for h in new], "trace": view}, True)
    else:
        _show(view)


@app.command("answer-document")
def answer_document(next_hops: list[str] = NextOpt, subscriber: str = SubscriberOpt, dead_end: str = DeadEndOpt,
                    request_ref: str = typer.Option("", "--request", help="the reference of the request answered"),
                    note: str = Note, out: Path = typer.Option(..., "--out", help="where to write the document"),
                    as_json: bool = JsonFlag) -> None:
    """Write a nohaven-disclosure/1 answer document (for the answering officer; attach it to the request)."""
    doc = parse_model(DisclosureDocument, {"format": DISCLOSURE_FORMAT, "request": request_ref,
                                           "next_hops": _next(next_hops, "--next"),
                                           "subscriber": _subscriber(subscriber), "dead_end": dead_end,
                                           "note": note}, "answer document")
    parsed, what = answers.read_answer_document(doc.model_dump_json().encode())
    if parsed is None:
        raise InputError.field("--next", what)
    for given, hop in zip(next_hops, doc.next_hops, strict=True):
        try:
            read_time(hop.time, time_zone=hop.time_zone, offset_unknown=hop.offset_unknown,
                      uncertainty=hop.uncertainty)
        except InputError as exc:
            raise InputError.field("--next", f"{given}: {exc.errors[0]['message']}") from None
    text = json.dumps(doc.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError.field("--out", f"cannot write {out}: {exc.strerror}") from None
    if as_json:
        emit({"out": str(out), "document": doc.model_dump(mode="json")}, True)
    else:
        console.print(f"{out}: {DISCLOSURE_FORMAT}, {len(doc.next_hops)} next hop(s)"
                      + (", subscriber" if doc.subscriber else "") + (", dead end" if doc.dead_end else ""),
                      highlight=False)
