"""API load: creating preservation requests on a real node, against a hello-world FastAPI peer, in one run.

    .venv/bin/python benchmarks/api_load.py [--clients 50] [--seconds 20] [--database sqlite|postgresql|both] [--json]

For each database the script sets up a fresh node through the real CLI (`init`, `user add`, `token create`), starts
`nohaven serve` as its own process, warms it up, then lets N concurrent clients POST /api/v1/requests with a bearer
token for a fixed time (or until a request count is reached, whichever comes first). The peer, a hello-world FastAPI
app served by uvicorn with the same settings, gets the same load on POST /hello. Everything runs on loopback on this
machine, load generator included. Goals: p99 < 50 ms and node throughput >= 0.3 x hello-world throughput.
See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
NOHAVEN = BIN / "nohaven"
PEER = HERE / "hello_peer.py"
GOAL_P99_MS = 50.0
GOAL_RATIO = 0.3
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- workload -------------------------------------------------------------------------------------------------------

def preservation_body(n: int) -> dict[str, Any]:
    """A valid incoming preservation request (as in tests/conftest.py), different for every n."""
    seen = datetime.now(UTC) - timedelta(days=2, seconds=n % 86_400)
    return {
        "type": "preservation", "channel": "voice", "priority": "urgent", "requesting_state": "XB",
        "their_reference": f"XB-BENCH-{n:07d}",
        "requested_authority": "Aldorian National Cybercrime Unit",
        "requesting_authority": {
            "organisation": "Borvanian Federal Police", "officer": "Insp. K. Adler", "phones": ["+15555550200"],
            "email": "adler@police.xb.example", "time_zone": "Europe/Berlin", "preferred_channel": "voice",
            "office_hours": "24/7", "address": "1 Example Street",
        },
        "confirmation_contact": "Insp. K. Adler, same phone",
        "investigating_authority": "Borvanian Federal Police",
        "offence": "Ransomware attack on a hospital",
        "summary_of_facts": f"Hospital systems encrypted; ransom note names mailbox {n}.",
        "data_items": [{"identifier_type": "ip_port", "value": f"198.51.100.{n % 254 + 1}:{1024 + n % 60_000}",
                        "data_category": "traffic", "time_from": seen.isoformat(),
                        "time_to": (seen + timedelta(hours=1)).isoformat()}],
        "link_to_offence": "The attacker connected from this address.",
        "custodian": "Examplenet ISP",
        "preservation_reason": "Traffic data is deleted after 180 days.",
        "mla_to_follow": True,
    }


@dataclass
class Target:
    name: str
    database: str | None
    url: str
    headers: dict[str, str]
    pid: int
    workers: int = 1


@dataclass
class Outcome:
    """What one timed load phase produced."""

    target: str
    database: str | None
    clients: int
    seconds: float
    workers: int = 1
    latencies: list[float] = field(default_factory=list)  # seconds, successful and failed alike
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str = ""
    server_cpu: float | None = None
    client_cpu: float = 0.0
    machine_cpu: float | None = None

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def ok(self) -> int:
        return self.count - sum(self.errors.values())

    @property
    def throughput(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile_ms(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank] * 1000

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "database": self.database, "workers": self.workers, "clients": self.clients,
            "seconds": round(self.seconds, 3), "requests": self.count, "ok": self.ok,
            "errors": sum(self.errors.values()), "errors_by_kind": dict(self.errors), "first_error": self.first_error,
            "throughput_rps": round(self.throughput, 1),
            "latency_ms": {"p50": round(self.percentile_ms(50), 2), "p95": round(self.percentile_ms(95), 2),
                           "p99": round(self.percentile_ms(99), 2), "max": round(self.percentile_ms(100), 2)},
            # CPU seconds per second of wall time: 1.0 means one core busy for the whole phase.
            "server_cpu_cores": None if self.server_cpu is None else round(self.server_cpu / self.seconds, 2),
            "load_generator_cpu_cores": round(self.client_cpu / self.seconds, 2),
            # Everything busy on the machine: server + load generator + PostgreSQL + anything else running.
            "machine_cpu_cores": None if self.machine_cpu is None else round(self.machine_cpu / self.seconds, 2),
        }


def machine_busy_seconds() -> float | None:
    """CPU seconds all cores of this machine spent busy since boot (Linux /proc/stat), or None elsewhere."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and every live process of its group (the servers run in their own
    process group, so this takes in uvicorn's workers), from Linux /proc; None elsewhere."""
    total = 0
    try:
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(stat.parent.name) == pid or int(fields[2]) == pid:
                    total += int(fields[11]) + int(fields[12])
    except OSError:
        return None
    return total / os.sysconf("SC_CLK_TCK") if Path(f"/proc/{pid}").exists() else None


class Connection:
    """One keep-alive HTTP/1.1 connection that sends a request and reads the whole response, nothing more.

    httpx is too slow to be the load generator here: with 50 connections in one AsyncClient it delivered about
    170 req/s against the hello-world peer while using a full core, so every server would look alike. This client
    costs a few per cent of a core at 3000 req/s (see docs/BENCHMARKS.md)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def connect(self) -> None:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        await self.connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(head + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
        if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
            content = b""
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                content += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            content = await self.reader.readexactly(int(fields.get(b"content-length", b"0")))
        if fields.get(b"connection", b"").lower() == b"close":
            self.close()
        return status, content

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def load(target: Target, *, clients: int, seconds: float, max_requests: int, body_offset: int,
               use_httpx: bool = False) -> Outcome:
    """Closed loop: `clients` workers, one connection each, send one request at a time until time or count runs out."""
    outcome = Outcome(target.name, target.database, clients, seconds, target.workers)
    url = httpx.URL(target.url)
    head = (f"POST {url.raw_path.decode()} HTTP/1.1\r\nhost: {url.host}:{url.port}\r\n"
            "content-type: application/json\r\naccept: application/json\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in target.headers.items())).encode()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    client = httpx.AsyncClient(limits=limits, timeout=30.0,
                               headers={"content-type": "application/json", **target.headers})
    connections = [Connection(url.host, url.port or 80) for _ in range(clients)]
    issued = 0

    async def send(conn: Connection, body: bytes) -> tuple[int, bytes]:
        if use_httpx:
            response = await client.post(target.url, content=body)
            return response.status_code, response.content
        try:
            return await asyncio.wait_for(conn.request(head, body), timeout=30.0)
        except BaseException:
            conn.close()  # a half-read response poisons the connection
            raise

    async def worker(conn: Connection) -> None:
        nonlocal issued
        while time.perf_counter() < deadline and issued < max_requests:
            issued += 1
            body = json.dumps(preservation_body(body_offset + issued)).encode()
            t0 = time.perf_counter()
            try:
                status, content = await send(conn, body)
                kind = "" if 200 <= status < 300 else f"HTTP {status}"
                detail = content[:300].decode(errors="replace")
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError,
                    httpx.HTTPError) as exc:
                kind, detail = type(exc).__name__, str(exc)[:300]
            outcome.latencies.append(time.perf_counter() - t0)
            if kind:
                outcome.errors[kind] += 1
                outcome.first_error = outcome.first_error or f"{kind}: {detail}"

    try:
        if not use_httpx:  # connection set-up is not what we measure
            await asyncio.gather(*(conn.connect() for conn in connections))
        cpu0, server0, machine0 = time.process_time(), process_cpu_seconds(target.pid), machine_busy_seconds()
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(*(worker(conn) for conn in connections))
        outcome.seconds = time.perf_counter() - start
        server1, machine1 = process_cpu_seconds(target.pid), machine_busy_seconds()
        outcome.client_cpu = time.process_time() - cpu0
        if server0 is not None and server1 is not None:
            outcome.server_cpu = server1 - server0
        if machine0 is not None and machine1 is not None:
            outcome.machine_cpu = machine1 - machine0
    finally:
        for conn in connections:
            conn.close()
        await client.aclose()
    return outcome


# --- processes ------------------------------------------------------------------------------------------------------

def _die_with_parent() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the benchmark dies, even if it is killed outright."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Processes:
    """Every server this run starts; all are stopped on the way out, whatever happens."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], log_path: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with log_path.open("wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                    preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env() -> dict[str, str]:
    """The environment without NOHAVEN_* settings, so only the command line configures the node."""
    return {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}


def wait_until_up(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before answering {url}:\n{tail(log_path)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise SystemExit(f"server did not answer {url} within {timeout:.0f} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def cli(base: list[str], *args: str) -> str:
    """Run a nohaven CLI command; its stdout, or exit with its error."""
    done = subprocess.run([*base, *args], capture_output=True, text=True, env=clean_env(), check=False)
    if done.returncode != 0:
        raise SystemExit(f"`nohaven {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def setup_node(workdir: Path, database_url: str | None) -> tuple[list[str], str]:
    """A fresh node initialised through the real CLI; the CLI prefix and an officer's bearer token."""
    data_dir = workdir / "node"
    base = [str(NOHAVEN), "--data-dir", str(data_dir)]
    if database_url:
        base += ["--database-url", database_url]
    workdir.mkdir(parents=True, exist_ok=True)
    password = workdir / "password"
    password.write_text(secrets.token_urlsafe(24) + "\n")
    password.chmod(0o600)
    cli(base, "init", "--state", "XA", "--agency", "Bench", "--admin-user", "admin",
        "--admin-password-file", str(password), "--json")
    cli(base, "user", "add", "olga", "--role", "officer", "--password-file", str(password), "--json")
    token: str = json.loads(cli(base, "token", "create", "olga", "--json"))["token"]
    return base, token


@contextlib.contextmanager
def postgres_database(admin_dsn: str) -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    import psycopg
    from psycopg import sql

    name = f"nohaven_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    host, port, user = info.get("host", "127.0.0.1"), info.get("port", "5432"), info.get("user", "postgres")
    try:
        yield f"postgresql+psycopg://{user}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- phases ---------------------------------------------------------------------------------------------------------

def measure(target: Target, args: argparse.Namespace, offset: int) -> Outcome:
    log(f"  warm-up {args.warmup:g} s, then {args.seconds:g} s with {args.clients} clients ...")
    asyncio.run(load(target, clients=args.clients, seconds=args.warmup, max_requests=args.max_requests,
                     body_offset=offset, use_httpx=args.client == "httpx"))
    outcome = asyncio.run(load(target, clients=args.clients, seconds=args.seconds, max_requests=args.max_requests,
                               body_offset=offset + 1_000_000, use_httpx=args.client == "httpx"))
    log(f"  {outcome.ok} ok, {sum(outcome.errors.values())} errors, {outcome.throughput:.0f} req/s, "
        f"p99 {outcome.percentile_ms(99):.1f} ms")
    return outcome


def run_node(database: str, workers: int, args: argparse.Namespace, procs: Processes, workdir: Path) -> Outcome:
    with contextlib.ExitStack() as stack:
        url = None
        if database == "postgresql":
            url = stack.enter_context(postgres_database(args.postgres))
        log(f"nohaven ({database}, {workers} worker{'s' if workers > 1 else ''}): setting up a fresh node ...")
        base, token = setup_node(workdir / f"{database}-{workers}", url)
        port = free_port()
        log_path = workdir / f"nohaven-{database}-{workers}.log"
        proc = procs.start([*base, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-clock-watcher",
                            "--workers", str(workers)], log_path, clean_env())
        stack.callback(procs.stop, proc)  # stopped before the database is dropped
        root = f"http://127.0.0.1:{port}"
        wait_until_up(proc, f"{root}/api/v1/health", log_path)
        target = Target("nohaven", database, f"{root}/api/v1/requests", {"authorization": f"Bearer {token}"},
                        proc.pid, workers)
        probe = httpx.post(target.url, json=preservation_body(0), headers=target.headers, timeout=30)
        if probe.status_code != 201:
            raise SystemExit(f"the node refused a valid request ({probe.status_code}): {probe.text[:500]}")
        return measure(target, args, offset=1)


def run_peer(args: argparse.Namespace, procs: Processes, workdir: Path) -> Outcome:
    log("hello-world peer: starting ...")
    port = free_port()
    log_path = workdir / "hello.log"
    proc = procs.start([sys.executable, str(PEER), "--host", "127.0.0.1", "--port", str(port)], log_path, clean_env())
    try:
        root = f"http://127.0.0.1:{port}"
        wait_until_up(proc, f"{root}/hello", log_path)
        return measure(Target("hello-world", None, f"{root}/hello", {}, proc.pid), args, offset=1)
    finally:
        procs.stop(proc)


# --- report ---------------------------------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    from importlib.metadata import version

    return {pkg: version(pkg) for pkg in ("nohaven", "fastapi", "starlette", "uvicorn", "sqlalchemy", "httpx")}


def report(outcomes: list[Outcome], args: argparse.Namespace, started: datetime) -> dict[str, Any]:
    peer = next(o for o in outcomes if o.target == "hello-world")
    verdicts = []
    for o in outcomes:
        if o.target != "nohaven":
            continue
        ratio = o.throughput / peer.throughput if peer.throughput else 0.0
        p99 = o.percentile_ms(99)
        verdicts.append({
            "database": o.database, "workers": o.workers, "throughput_ratio_vs_hello": round(ratio, 3),
            "p99_ms": round(p99, 2),
            "p99_goal_ms": GOAL_P99_MS, "ratio_goal": GOAL_RATIO,
            "p99_met": p99 < GOAL_P99_MS, "ratio_met": ratio >= GOAL_RATIO, "no_errors": not o.errors,
        })
    return {
        "benchmark": "api_load", "started": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "note": "load generator, servers and PostgreSQL share this machine"},
        "versions": versions(),
        "settings": {"client": args.client, "clients": args.clients, "seconds": args.seconds,
                     "workers": args.workers, "postgres_workers": args.postgres_workers,
                     "warmup_seconds": args.warmup, "max_requests": args.max_requests},
        "results": [o.as_dict() for o in outcomes],
        "goals": verdicts,
    }


def print_table(doc: dict[str, Any]) -> None:
    head = (f"{'target':<28}{'requests':>9}{'errors':>8}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
            f"{'max ms':>9}{'srv cpu':>9}{'gen cpu':>9}{'box cpu':>9}")
    print(f"api_load {doc['started']}  {doc['machine']['cpus']} CPUs, {doc['settings']['clients']} clients, "
          f"{doc['settings']['seconds']:g} s per target, {doc['settings']['client']} client on the same machine")
    print(head)
    print("-" * len(head))
    for r in doc["results"]:
        name = r["target"] + (f" ({r['database']}" + (f", {r['workers']} w" if r["workers"] > 1 else "") + ")"
                              if r["database"] else "")
        lat = r["latency_ms"]
        srv = "-" if r["server_cpu_cores"] is None else f"{r['server_cpu_cores']:.2f}"
        box = "-" if r["machine_cpu_cores"] is None else f"{r['machine_cpu_cores']:.2f}"
        print(f"{name:<28}{r['requests']:>9}{r['errors']:>8}{r['throughput_rps']:>9.1f}{lat['p50']:>9.1f}"
              f"{lat['p95']:>9.1f}{lat['p99']:>9.1f}{lat['max']:>9.1f}{srv:>9}{r['load_generator_cpu_cores']:>9.2f}"
              f"{box:>9}")
    print("cpu columns: cores busy on average (server process, load generator, whole machine)")
    print()
    for g in doc["goals"]:
        print(f"nohaven ({g['database']}, {g['workers']} worker(s)): "
              f"throughput {g['throughput_ratio_vs_hello']:.3f} x hello-world "
              f"(goal >= {g['ratio_goal']}: {'met' if g['ratio_met'] else 'MISSED'}); "
              f"p99 {g['p99_ms']:.1f} ms (goal < {g['p99_goal_ms']:g}: {'met' if g['p99_met'] else 'MISSED'})"
              + ("" if g["no_errors"] else "; ERRORS, see below"))
    for r in doc["results"]:
        if r["errors"]:
            print(f"{r['target']} ({r['database']}): {r['errors_by_kind']}; first: {r['first_error']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (and connections)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per target")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds of load before each phase")
    parser.add_argument("--max-requests", type=int, default=200_000, help="stop a phase after this many requests")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--workers", type=int, default=1, help="`nohaven serve --workers` for every node target")
    parser.add_argument("--postgres-workers", type=int, default=2, metavar="N",
                        help="also measure PostgreSQL with `serve --workers N` (0: do not)")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES,
                        help="libpq URL of a PostgreSQL server where a scratch database may be created and dropped")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="load generator: a minimal keep-alive HTTP/1.1 client (default) or httpx.AsyncClient")
    parser.add_argument("--json", action="store_true", help="print a JSON document instead of the table")
    parser.add_argument("--check", action="store_true", help="exit 1 when a goal is missed or a request failed")
    args = parser.parse_args()
    if args.clients < 1 or args.seconds <= 0 or args.max_requests < 1 or args.workers < 1:
        parser.error("--clients, --seconds, --max-requests and --workers must be positive")

    # A SIGTERM becomes SystemExit, so the finally blocks below stop the servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = datetime.now(UTC)
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    procs = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="nohaven-bench-"))
    try:
        runs = [(db, args.workers) for db in databases]
        if "postgresql" in databases and args.postgres_workers not in (0, args.workers):
            runs.append(("postgresql", args.postgres_workers))
        outcomes = [run_node(db, workers, args, procs, workdir) for db, workers in runs]
        outcomes.append(run_peer(args, procs, workdir))
    finally:
        procs.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)

    doc = report(outcomes, args, started)
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print_table(doc)
    missed = any(not (g["p99_met"] and g["ratio_met"] and g["no_errors"]) for g in doc["goals"])
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
