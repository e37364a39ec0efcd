"""Federation: signed envelopes between two real node processes on loopback, against raw HTTP round trips of the
same body size on the same machine, in one run.

    .venv/bin/python benchmarks/federation.py [--messages 300] [--samples 50] [--clients 4] [--seconds 10]
                                              [--database sqlite|postgresql|both] [--json]

Two nodes, XA and XB, each a `nohaven serve` process with its own database and Ed25519 key, sharing a signed
network directory (nohaven.demo.network). Phases, per database:

1. **pipeline**: `--messages` outgoing platform requests are committed at A in one transaction; A's dispatcher signs
   each CREATE, posts it to B's inbox, B verifies it, files the request and answers with a signed receipt, A
   verifies the receipt and records it. Envelopes per second = messages / (commit to last receipt recorded). The
   dispatcher has one message in flight, so its baseline is one client doing sequential round trips.
2. **latency**: `--samples` requests created one at a time through A's API (POST /api/v1/requests); the commit wakes
   A's dispatcher. Latency = from the POST being sent to the receipt being recorded at A (`received_at`).
3. **inbox**: `--clients` clients post CREATE envelopes, signed beforehand with A's key, straight to B's inbox for
   `--seconds`: what B alone verifies and files per second.

Baseline: an ASGI echo app served by uvicorn exactly as `nohaven serve` serves a node (this script with `--echo`),
given the same body size, sequentially (phases 1 and 2) and with the same clients (phase 3). Ratios compare like
with like. See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from api_load import (
    DEFAULT_POSTGRES,
    Connection,
    Processes,
    free_port,
    log,
    machine_busy_seconds,
    postgres_database,
    process_cpu_seconds,
    versions,
    wait_until_up,
)
from sqlalchemy import func, select

from nohaven.auth import service as users
from nohaven.demo.network import DEMO_NODES, DemoNode, environment, prepare
from nohaven.directory import service as directory
from nohaven.federation import CreatePayload, EndpointID, SigningKey, load_signing_key, new_envelope
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.models import PeerMessage

SAMPLE = Path(directory.__file__).resolve().parent.parent / "demo" / "sample_directory.yaml"
AGENCIES = {state: agency for state, _, agency in DEMO_NODES}
NODE_ENV = {"NOHAVEN_SCHEDULER_ENABLED": "false", "NOHAVEN_FEDERATION_POLL_SECONDS": "0.05",
            "NOHAVEN_FEDERATION_RETRY_BASE_SECONDS": "0.05", "NOHAVEN_FEDERATION_RETRY_MAX_SECONDS": "1"}


# --- workload -------------------------------------------------------------------------------------------------------

def outgoing(n: int, sender: str = "XA", receiver: str = "XB") -> dict[str, Any]:
    """An outgoing platform preservation request, different for every n."""
    seen = datetime.now(UTC) - timedelta(days=2, seconds=n % 86_400)
    return {"type": "preservation", "direction": "outgoing", "channel": "platform", "priority": "urgent",
            "requesting_state": sender, "requested_state": receiver, "requested_authority": f"{receiver} 24/7 desk",
            "requesting_authority": {"organisation": AGENCIES[sender], "officer": "Olga Varga",
                                     "phones": ["+15555550100"], "time_zone": "Europe/Paris"},
            "investigating_authority": AGENCIES[sender], "offence": "Ransomware attack on a hospital",
            "summary_of_facts": f"Hospital systems encrypted; ransom note names mailbox {n}.",
            "data_items": [{"identifier_type": "ip_port", "value": f"198.51.100.{n % 254 + 1}:{1024 + n % 60_000}",
                            "data_category": "traffic", "time_from": seen.isoformat(),
                            "time_to": (seen + timedelta(minutes=1)).isoformat()}],
            "link_to_offence": "The attacker connected from this address.", "custodian": "Examplenet ISP",
            "preservation_reason": "Traffic data is deleted after 180 days.", "mla_to_follow": True}


@dataclass
class Phase:
    """What one measured phase produced."""

    name: str
    target: str  # "federation" or "raw HTTP"
    clients: int
    body_bytes: int
    count: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    cpu: dict[str, float] = field(default_factory=dict)  # seconds of CPU per process taking part

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    def as_dict(self) -> dict[str, Any]:
        def ms(p: float) -> float | None:
            value = self.percentile_ms(p)
            return None if value is None else round(value, 2)
        return {"phase": self.name, "target": self.target, "clients": self.clients, "body_bytes": self.body_bytes,
                "count": self.count, "errors": self.errors, "first_error": self.first_error,
                "seconds": round(self.seconds, 3), "per_second": round(self.per_second, 1),
                "latency_ms": {"p50": ms(50), "p95": ms(95), "p99": ms(99),
                               "max": ms(100), "mean": round(statistics.fmean(self.latencies) * 1000, 2)
                               if self.latencies else None},
                "cpu_ms_per_item": {k: round(v / self.count * 1000, 2) for k, v in self.cpu.items()
                                    if k != "machine"} if self.count else {},
                # How busy the whole machine was: above the processes of this run, someone else was working.
                "machine_cores_busy": round(self.cpu["machine"] / self.seconds, 2)
                if "machine" in self.cpu and self.seconds else None}


class Cpu:
    """CPU seconds spent by named processes (and the whole machine) between `start` and `stop`."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before: dict[str, float | None] = {}

    def _now(self) -> dict[str, float | None]:
        return {**{name: process_cpu_seconds(pid) for name, pid in self.pids.items()},
                "benchmark": time.process_time(), "machine": machine_busy_seconds()}

    def start(self) -> None:
        self.before = self._now()

    def stop(self) -> dict[str, float]:
        after = self._now()
        return {k: after[k] - v for k, v in self.before.items()  # type: ignore[operator]
                if v is not None and after.get(k) is not None}


# --- the two nodes --------------------------------------------------------------------------------------------------

def consecutive_free_ports(count: int) -> int:
    """A port p such that p .. p+count-1 were all free a moment ago (prepare() numbers the nodes' ports so)."""
    for _ in range(200):
        first = free_port()
        with contextlib.ExitStack() as stack:
            try:
                for offset in range(count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", first + offset))
            except OSError:
                continue
        return first
    raise SystemExit("found no run of free ports on 127.0.0.1")


@dataclass
class Pair:
    a: DemoNode
    b: DemoNode
    node_a: Node
    node_b: Node
    token: str
    pids: dict[str, int]


def seed(node: Node, state: str) -> None:
    """Migrated, the sample directory, the node's identity and an officer `olga`."""
    node.migrate()
    with node.work() as session:
        directory.import_document(session, directory.load_document(SAMPLE), actor="bench")
        directory.set_node_identity(session, state, AGENCIES[state])
        users.add_user(session, username="olga", role="officer", password=uuid.uuid4().hex, actor="bench")


@contextlib.contextmanager
def node_pair(workdir: Path, database_urls: dict[str, str], procs: Processes) -> Iterator[Pair]:
    demo_nodes = prepare(workdir / "net", first_port=consecutive_free_ports(2),
                         nodes=[n for n in DEMO_NODES if n[0] in ("XA", "XB")])
    nodes = []
    for demo in demo_nodes:
        url = database_urls.get(demo.state)
        node = Node(demo.settings(**({"database_url": url} if url else {})))
        seed(node, demo.state)
        nodes.append(node)
    with nodes[0].work() as session:
        token = users.create_token(session, users.get_user(session, "olga"), actor="bench")
    pids = {}
    started = []
    try:
        for demo in demo_nodes:
            env = {**clean_env(), **environment(demo), **NODE_ENV}
            if database_urls.get(demo.state):
                env["NOHAVEN_DATABASE_URL"] = database_urls[demo.state]
            proc = procs.start([sys.executable, "-m", "nohaven.cli.main", "serve", "--host", demo.host, "--port",
                                str(demo.port)], demo.data_dir / "serve.log", env)
            started.append(proc)
            pids[demo.state] = proc.pid
        for demo, proc in zip(demo_nodes, started, strict=True):
            wait_until_up(proc, f"{demo.url}/api/v1/health", demo.data_dir / "serve.log")
        yield Pair(demo_nodes[0], demo_nodes[1], nodes[0], nodes[1], token, pids)
    finally:
        for proc in started:
            procs.stop(proc)  # before the databases are dropped
        for node in nodes:
            node.close()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}


def received(node: Node) -> int:
    with node.db.read_session() as session:
        return int(session.execute(select(func.count()).select_from(PeerMessage)
                                   .where(PeerMessage.state == "received")).scalar_one())


# --- phases ---------------------------------------------------------------------------------------------------------

def pipeline(pair: Pair, count: int, offset: int) -> Phase:
    """`count` requests committed at A at once; time until A has recorded every receipt."""
    before = received(pair.node_a)
    with pair.node_a.work() as session:
        olga = users.subject_of(users.get_user(session, "olga"))
        for n in range(count):
            requests.create_request(session, olga, outgoing(offset + n))
    cpu = Cpu({"A": pair.pids["XA"], "B": pair.pids["XB"]})
    cpu.start()
    committed = datetime.now(UTC)
    deadline = time.monotonic() + 60 + count
    while received(pair.node_a) < before + count:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {received(pair.node_a) - before} of {count} receipts arrived")
        time.sleep(0.05)
    used = cpu.stop()
    with pair.node_a.db.read_session() as session:
        last = session.execute(select(func.max(PeerMessage.received_at))).scalar_one()
        sample = session.execute(select(PeerMessage.payload).order_by(PeerMessage.id.desc()).limit(1)).scalar_one()
    phase = Phase("pipeline A→B", "federation", 1, envelope_size(pair, sample))
    phase.count, phase.seconds, phase.cpu = count, (last - committed).total_seconds(), used
    return phase


def endpoints(pair: Pair) -> tuple[EndpointID, EndpointID, SigningKey]:
    """XA's and XB's names, and XA's signing key."""
    return (EndpointID(CountryCode=pair.a.state, UniqueIdentifier=pair.a.node_id),
            EndpointID(CountryCode=pair.b.state, UniqueIdentifier=pair.b.node_id),
            load_signing_key(pair.a.data_dir / "federation" / "node.key"))


def envelope_size(pair: Pair, payload: dict[str, Any]) -> int:
    """The size of the CREATE envelope A sends for this payload."""
    xa, xb, key = endpoints(pair)
    return len(new_envelope(xa, xb, CreatePayload.model_validate(payload), key, now=datetime.now(UTC)).to_json())


def latency(pair: Pair, samples: int, offset: int, body_bytes: int) -> Phase:
    """One request at a time through A's API; from the POST to the receipt recorded at A."""
    phase = Phase("create → receipt", "federation", 1, body_bytes)
    cpu = Cpu({"A": pair.pids["XA"], "B": pair.pids["XB"]})
    headers = {"authorization": f"Bearer {pair.token}"}
    with httpx.Client(base_url=pair.a.url, headers=headers, timeout=30) as client:
        client.get("/api/v1/health")
        cpu.start()
        began = time.perf_counter()
        for n in range(samples):
            sent = datetime.now(UTC)
            response = client.post("/api/v1/requests", json=outgoing(offset + n))
            if response.status_code != 201:
                phase.errors += 1
                phase.first_error = phase.first_error or f"HTTP {response.status_code}: {response.text[:300]}"
                continue
            request_id = response.json()["id"]
            at = wait_received(pair.node_a, request_id)
            phase.latencies.append((at - sent).total_seconds())
        phase.seconds = time.perf_counter() - began
    phase.count, phase.cpu = len(phase.latencies), cpu.stop()
    return phase


def wait_received(node: Node, request_id: int, timeout: float = 30.0) -> datetime:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with node.db.read_session() as session:
            at = session.execute(select(PeerMessage.received_at).where(PeerMessage.request_id == request_id,
                                                                       PeerMessage.state == "received")
                                 ).scalar_one_or_none()
        if at is not None:
            return at
        time.sleep(0.02)  # the latency is taken from A's own received_at; polling only has to notice it
    raise SystemExit(f"request {request_id}: no receipt within {timeout:.0f} s")


def signed_creates(pair: Pair, count: int, offset: int) -> list[bytes]:
    """CREATE envelopes from XA to XB, each a new request object, signed now (they must be posted within the
    receiver's clock skew, five minutes by default)."""
    xa, xb, key = endpoints(pair)
    now = datetime.now(UTC)
    bodies = []
    for n in range(count):
        request = {**outgoing(offset + n), "direction": "incoming", "their_reference": f"XA-BENCH-{offset + n}"}
        payload = CreatePayload.model_validate({"action": "CREATE", "object_id": str(uuid.uuid4()),
                                                "request": request})
        bodies.append(new_envelope(xa, xb, payload, key, now=now).to_json())
    return bodies


async def closed_loop(url: str, bodies: list[bytes], clients: int, seconds: float) -> tuple[list[float], int, str,
                                                                                              float]:
    """`clients` connections each posting the next body when the previous answer came; until time or bodies
    run out. Latencies, errors, the first error, elapsed seconds."""
    parsed = httpx.URL(url)
    head = (f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nhost: {parsed.host}:{parsed.port}\r\n"
            "content-type: application/json\r\n").encode()
    connections = [Connection(parsed.host, parsed.port or 80) for _ in range(clients)]
    latencies: list[float] = []
    errors, first_error = 0, ""
    queue = iter(bodies)

    async def worker(conn: Connection) -> None:
        nonlocal errors, first_error
        while time.perf_counter() < deadline:
            body = next(queue, None)
            if body is None:
                return
            t0 = time.perf_counter()
            try:
                status, content = await asyncio.wait_for(conn.request(head, body), timeout=30)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                conn.close()
                status, content = 0, str(exc).encode()
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                errors += 1
                first_error = first_error or f"HTTP {status}: {content[:300].decode(errors='replace')}"

    try:
        await asyncio.gather(*(conn.connect() for conn in connections))
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(worker(conn) for conn in connections))
        return latencies, errors, first_error, time.perf_counter() - start
    finally:
        for conn in connections:
            conn.close()


def inbox(pair: Pair, clients: int, seconds: float, most: int, offset: int) -> Phase:
    log(f"  signing {most} envelopes for the inbox phase ...")
    bodies = signed_creates(pair, most, offset)
    phase = Phase("B inbox", "federation", clients, len(bodies[0]))
    cpu = Cpu({"B": pair.pids["XB"]})
    cpu.start()
    phase.latencies, phase.errors, phase.first_error, phase.seconds = asyncio.run(
        closed_loop(f"{pair.b.url}/federation/v1/inbox", bodies, clients, seconds))
    phase.cpu = cpu.stop()
    phase.count = len(phase.latencies) - phase.errors
    return phase


def raw_round_trips(url: str, body_bytes: int, count: int, name: str, pid: int) -> Phase:
    """Sequential round trips with httpx (the dispatcher's client) of a body of the given size."""
    body = json.dumps({"pad": "x" * max(body_bytes - 11, 0)}).encode()
    phase = Phase(name, "raw HTTP", 1, len(body))
    cpu = Cpu({"echo": pid})
    with httpx.Client(timeout=30) as client:
        client.post(url, content=body)
        cpu.start()
        began = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            response = client.post(url, content=body, headers={"content-type": "application/json"})
            phase.latencies.append(time.perf_counter() - t0)
            if response.status_code != 200 or len(response.content) != len(body):
                phase.errors += 1
        phase.seconds = time.perf_counter() - began
    phase.count, phase.cpu = count - phase.errors, cpu.stop()
    return phase


def raw_concurrent(url: str, body_bytes: int, clients: int, seconds: float, pid: int) -> Phase:
    body = json.dumps({"pad": "x" * max(body_bytes - 11, 0)}).encode()
    phase = Phase("echo", "raw HTTP", clients, len(body))
    cpu = Cpu({"echo": pid})
    cpu.start()
    phase.latencies, phase.errors, phase.first_error, phase.seconds = asyncio.run(
        closed_loop(url, [body] * 10_000_000, clients, seconds))
    phase.cpu = cpu.stop()
    phase.count = len(phase.latencies) - phase.errors
    return phase


# --- the echo server ------------------------------------------------------------------------------------------------

async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers every request with its own body: the floor for a round trip of that size."""
    if scope["type"] == "lifespan":
        while (message := await receive())["type"] != "lifespan.shutdown":
            await send({"type": message["type"] + ".complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def serve_echo(port: int) -> None:
    import uvicorn

    # Same server settings as `nohaven serve`: one worker, log level info, no access log.
    uvicorn.run(echo_app, host="127.0.0.1", port=port, log_level="info", access_log=False)


# --- a run ----------------------------------------------------------------------------------------------------------

def run_database(database: str, args: argparse.Namespace, procs: Processes, workdir: Path,
                 echo_url: str, echo_pid: int) -> list[Phase]:
    with contextlib.ExitStack() as stack:
        urls = {}
        if database == "postgresql":
            urls = {state: stack.enter_context(postgres_database(args.postgres)) for state in ("XA", "XB")}
        log(f"{database}: two nodes, XA and XB ...")
        pair = stack.enter_context(node_pair(workdir / database, urls, procs))
        log("  warm-up ...")
        pipeline(pair, 20, offset=0)
        log(f"  pipeline: {args.messages} requests committed at A ...")
        flow = pipeline(pair, args.messages, offset=100)
        log(f"    {flow.per_second:.1f} envelopes/s")
        raw_flow = raw_round_trips(echo_url, flow.body_bytes, max(args.messages, 300), "echo", echo_pid)
        log(f"  latency: {args.samples} requests through A's API, one at a time ...")
        lat = latency(pair, args.samples, offset=100_000, body_bytes=flow.body_bytes)
        log(f"    p50 {lat.percentile_ms(50):.1f} ms")
        log(f"  inbox: {args.clients} clients for {args.seconds:g} s ...")
        box = inbox(pair, args.clients, args.seconds, args.inbox_envelopes, offset=200_000)
        log(f"    {box.per_second:.1f} envelopes/s")
        raw_box = raw_concurrent(echo_url, box.body_bytes, args.clients, args.seconds, echo_pid)
        for phase in (flow, raw_flow, lat, box, raw_box):
            phase.name = f"{database}: {phase.name}"
        return [flow, raw_flow, lat, box, raw_box]


def ratios(phases: list[Phase]) -> list[dict[str, Any]]:
    out = []
    for i in range(0, len(phases), 5):
        flow, raw_flow, lat, box, raw_box = phases[i:i + 5]
        database = flow.name.split(":")[0]
        raw_p50, lat_p50 = raw_flow.percentile_ms(50), lat.percentile_ms(50)
        raw_p99, lat_p99 = raw_flow.percentile_ms(99), lat.percentile_ms(99)
        out.append({
            "database": database,
            "pipeline_vs_raw_sequential": round(flow.per_second / raw_flow.per_second, 4),
            "latency_p50_vs_raw_p50": round(lat_p50 / raw_p50, 1) if lat_p50 and raw_p50 else None,
            "latency_p99_vs_raw_p99": round(lat_p99 / raw_p99, 1) if lat_p99 and raw_p99 else None,
            "inbox_vs_raw_concurrent": round(box.per_second / raw_box.per_second, 4) if raw_box.per_second else None,
        })
    return out


def report(phases: list[Phase], args: argparse.Namespace, started: datetime) -> dict[str, Any]:
    return {"benchmark": "federation", "started": started.isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                        "note": "both nodes, the echo server, the client and PostgreSQL share this machine"},
            "versions": versions(),
            "settings": {"messages": args.messages, "samples": args.samples, "clients": args.clients,
                         "seconds": args.seconds, "node_env": NODE_ENV},
            "results": [p.as_dict() for p in phases], "ratios": ratios(phases)}


def print_table(doc: dict[str, Any]) -> None:
    s = doc["settings"]
    print(f"federation {doc['started']}  {doc['machine']['cpus']} CPUs; {s['messages']} pipeline messages, "
          f"{s['samples']} latency samples, {s['clients']} inbox clients for {s['seconds']:g} s")
    head = (f"{'phase':<34}{'target':<11}{'cl':>3}{'bytes':>7}{'count':>7}{'per s':>9}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}{'box':>6}  cpu ms per item")
    print(head)
    print("-" * len(head))

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"
    for r in doc["results"]:
        lat = r["latency_ms"]
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu_ms_per_item"].items())
        print(f"{r['phase']:<34}{r['target']:<11}{r['clients']:>3}{r['body_bytes']:>7}{r['count']:>7}"
              f"{r['per_second']:>9.1f}{ms(lat['p50']):>9}{ms(lat['p95']):>9}{ms(lat['p99']):>9}{ms(lat['max']):>9}"
              f"{ms(r['machine_cores_busy']):>6}  {cpu}"
              + (f"  ERRORS {r['errors']}: {r['first_error']}" if r["errors"] else ""))
    print("box: cores of the whole machine busy on average; cpu: milliseconds of CPU per item for each process")
    print()
    for q in doc["ratios"]:
        print(f"{q['database']}: pipeline {q['pipeline_vs_raw_sequential']:.4f} x raw sequential round trips; "
              f"create→receipt p50 {q['latency_p50_vs_raw_p50']} x raw round trip p50 "
              f"(p99 {q['latency_p99_vs_raw_p99']} x); inbox {q['inbox_vs_raw_concurrent']:.4f} x raw echo "
              f"with the same clients")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=300, help="requests in the pipeline phase")
    parser.add_argument("--samples", type=int, default=50, help="requests in the latency phase, one at a time")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients in the inbox phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds of the inbox phase")
    parser.add_argument("--inbox-envelopes", type=int, default=3000, help="envelopes signed for the inbox phase")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help="libpq URL of a PostgreSQL server where scratch databases may be created and dropped")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    parser.add_argument("--echo", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the baseline server
    args = parser.parse_args()
    if args.echo:
        serve_echo(args.echo)
        return 0
    if min(args.messages, args.samples, args.clients, args.inbox_envelopes) < 1 or args.seconds <= 0:
        parser.error("counts and --seconds must be positive")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the finally blocks stop every server
    started = datetime.now(UTC)
    procs = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="nohaven-bench-federation-"))
    try:
        port = free_port()
        log_path = workdir / "echo.log"
        echo = procs.start([sys.executable, str(Path(__file__).resolve()), "--echo", str(port)], log_path,
                           clean_env())
        echo_url = f"http://127.0.0.1:{port}/echo"
        wait_until_echo(echo_url)
        databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
        phases = [p for db in databases for p in run_database(db, args, procs, workdir, echo_url, echo.pid)]
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    doc = report(phases, args, started)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_table(doc)
    return 1 if any(p.errors for p in phases) else 0


def wait_until_echo(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.post(url, content=b"{}", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"the echo server did not answer {url} within {timeout:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
