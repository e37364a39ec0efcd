"""`nohaven init`, `serve`, `demo` and `clocks`: setting up and running a node."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pyotp
import typer
import uvicorn

from nohaven.auth import service as users
from nohaven.cli.common import JsonFlag, console, emit, read_secret_file, state
from nohaven.config import Settings
from nohaven.demo import network
from nohaven.demo.intrusion import run_intrusion
from nohaven.demo.scenario import run_preservation
from nohaven.demo.seed import DEMO_STATE, DEMO_USERS, DemoUser, seed
from nohaven.directory import service as directory
from nohaven.directory.schema import iso_country_codes
from nohaven.errors import InputError
from nohaven.federation.context import load_context
from nohaven.federation.dispatcher import Dispatcher
from nohaven.node import Node
from nohaven.requests.escalation import ClockWatcher

OPERATOR = "cli-operator"
SAMPLE_DIRECTORY = Path(__file__).resolve().parent.parent / "demo" / "sample_directory.yaml"


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("serve")(serve)
    app.command("demo")(demo)
    app.command("demo-code")(demo_code)
    clocks = typer.Typer(no_args_is_help=True, help="Legal clocks and their watcher.")
    clocks.command("tick")(tick)
    app.add_typer(clocks, name="clocks")


def init(ctx: typer.Context,
         state_code: str = typer.Option(..., "--state", help="ISO 3166 alpha-2 code of this node's State"),
         agency: str = typer.Option(..., "--agency", help="name of the agency running this node"),
         admin_user: str = typer.Option(..., "--admin-user"),
         admin_password_file: Path = typer.Option(..., "--admin-password-file"),
         directory_file: Path = typer.Option(None, "--directory", help="directory file to import instead of the "
                                             "illustrative sample"),
         as_json: bool = JsonFlag) -> None:
    """Create the database, a secret key, the first admin, and the directory (the fictional sample by default)."""
    code = state_code.upper()
    if code not in iso_country_codes():
        raise InputError.field("--state", f"{state_code!r} is not an ISO 3166-1 alpha-2 code")
    password = read_secret_file(admin_password_file, "--admin-password-file")
    document = directory.load_document(directory_file or SAMPLE_DIRECTORY)
    cli = state(ctx)
    settings = cli.settings()
    if not settings.demo_mode:
        settings.write_new_secret()
    node = cli.node()
    with node.work() as session:
        counts = directory.import_document(session, document, actor=OPERATOR)
        directory.get_state(session, code)  # the node's own State must be in the directory
        directory.set_node_identity(session, code, agency)
        users.add_user(session, username=admin_user, role="admin", password=password, actor=OPERATOR)
    out = {"state": code, "agency": agency, "admin": admin_user, "directory": counts,
           "data_dir": str(settings.data_dir)}
    emit(out, as_json) if as_json else console.print(
        f"node for {code} initialised: {counts['states']} States in the directory; admin {admin_user}")


def serve(ctx: typer.Context, host: str = typer.Option("127.0.0.1", "--host"),
          port: int = typer.Option(8470, "--port", min=1, max=65535),
          no_clock_watcher: bool = typer.Option(False, "--no-clock-watcher",
                                                help="do not run the in-process clock watcher"),
          workers: int = typer.Option(1, "--workers", min=1, max=64,
                                      help="server processes (more than one needs PostgreSQL)"),
          tls_cert: Path = typer.Option(None, "--tls-cert", help="PEM certificate (chain) to serve HTTPS with; "
                                        "default NOHAVEN_TLS_CERT_FILE"),
          tls_key: Path = typer.Option(None, "--tls-key", help="PEM private key of the certificate; default "
                                       "NOHAVEN_TLS_KEY_FILE")) -> None:
    """Serve the API, the web UI and, for a node of a federation, its inbox."""
    from nohaven.api.app import create_app

    node = state(ctx).node()
    directory_ok = node.is_migrated()
    if not directory_ok:
        raise InputError.field("--data-dir", "the database is not initialised; run `nohaven init` first")
    tls = _tls_options(node.settings, tls_cert, tls_key)
    if workers == 1:
        app = create_app(node, watch_clocks=False if no_clock_watcher else None)
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, **tls)
        return
    if node.db.engine.dialect.name == "sqlite":
        raise InputError.field("--workers", "SQLite lets one transaction write at a time and every API call "
                               "writes (reads are audited), so more processes only queue for its lock; "
                               "serve a SQLite node with one worker, or use PostgreSQL (--database-url)")
    node.settings.secret()  # refuse a missing or default secret here, once, not in every worker
    # Workers are fresh interpreters (uvicorn spawns them); they build the app from the environment, so it
    # carries what this command resolved. The clock watcher runs once, here in the supervising process.
    os.environ.update(worker_environment(node.settings))
    watcher = None if no_clock_watcher or not node.settings.scheduler_enabled else ClockWatcher(
        node.db, node.settings)
    federation = load_context(node)
    dispatcher = Dispatcher(federation) if federation and node.settings.dispatcher_enabled else None
    for worker in (watcher, dispatcher):
        if worker:
            worker.start()
    try:
        uvicorn.run("nohaven.api.app:create_app_from_environment", factory=True, workers=workers, host=host,
                    port=port, log_level="info", access_log=False, **tls)
    finally:
        for worker in (dispatcher, watcher):
            if worker:
                worker.stop()


def _tls_options(settings: Settings, cert: Path | None, key: Path | None) -> dict[str, Any]:
    cert, key = cert or settings.tls_cert_file, key or settings.tls_key_file
    if cert is None and key is None:
        return {}
    if cert is None or key is None:
        raise InputError.field("--tls-cert" if cert is None else "--tls-key",
                               "HTTPS needs both the certificate and its private key")
    for path, option in ((cert, "--tls-cert"), (key, "--tls-key")):
        if not path.is_file():
            raise InputError.field(option, f"{path} is not a readable file")
    return {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}


def worker_environment(settings: Settings) -> dict[str, str]:
    """NOHAVEN_* variables that make a worker's settings those this command resolved, without its watcher."""
    return {"NOHAVEN_DATA_DIR": str(settings.data_dir.resolve()),
            "NOHAVEN_DATABASE_URL": settings.effective_database_url,
            "NOHAVEN_DEMO_MODE": "true" if settings.demo_mode else "false",
            "NOHAVEN_SCHEDULER_ENABLED": "false", "NOHAVEN_DISPATCHER_ENABLED": "false"}


def demo(ctx: typer.Context, host: str = typer.Option("127.0.0.1", "--host"),
         port: int = typer.Option(8470, "--port", min=1, max=65533,
                                  help="port of XA's node; XB and XC take the next two"),
         seed_only: bool = typer.Option(False, "--seed-only", help="prepare the demo network and exit"),
         scenario: str = typer.Option(None, "--scenario", help="drive an exchange and print each step: "
                                      "preservation, intrusion"),
         stop_after: bool = typer.Option(False, "--exit", help="with --scenario: stop the nodes afterwards")) -> None:
    """Start the demo network: nodes for the fictional States XA, XB and XC on three ports, each with its own
    database and key, sharing one signed network directory; demo log-ins are printed."""
    if scenario not in (None, "preservation", "intrusion"):
        raise InputError.field("--scenario", f"{scenario!r} is not a scenario; scenarios: preservation, intrusion")
    cli = state(ctx)
    base = cli.data_dir or Path("nohaven-data") / "demo-network"
    nodes = network.prepare(base, host=host, first_port=port)
    for spec in nodes:
        node = Node(spec.settings())
        try:
            node.migrate()
            credentials = seed(node, spec.state)
        finally:
            node.close()
        _print_credentials(credentials, f"{spec.url}/", spec.state, spec.agency)
    if seed_only:
        return
    running = [network.is_up(spec) for spec in nodes]
    if any(running) and not all(running):
        raise InputError.field("--port", "some demo ports answer and some do not; stop whatever runs on "
                               f"{', '.join(spec.url for spec in nodes)} first")
    processes = [] if all(running) else network.start_nodes(nodes)
    try:
        network.wait_until_up(nodes, processes or None)
        console.print("demo network up: " + ", ".join(f"{s.state} {s.url}" for s in nodes))
        if scenario == "preservation":
            console.print(f"\n[bold]Scenario: preservation from {nodes[0].state} to {nodes[1].state}[/bold]")
            run_preservation(nodes[0], nodes[1], lambda line: console.print(line, highlight=False))
            console.print(f"\nNow do it by hand: log in as olga at {nodes[0].url}/ and at {nodes[1].url}/ "
                          "in two browser tabs.")
        if scenario == "intrusion":
            console.print(f"\n[bold]Scenario: an intrusion traced from {nodes[0].state} through {nodes[1].state} to "
                          f"{nodes[2].state}[/bold]")
            run_intrusion(nodes, lambda line: console.print(line, highlight=False), base / "xc-carrier")
        if scenario is not None and stop_after:
            return
        if not processes:
            return  # the nodes were already running elsewhere
        console.print("Ctrl-C stops the three nodes.")
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        raise InputError.field("demo", "a demo node stopped; see serve.log in its data directory")
    except KeyboardInterrupt:
        console.print("stopping the demo network")
    finally:
        network.stop_nodes(processes)


def tick(ctx: typer.Context, as_json: bool = JsonFlag) -> None:
    """Run the clock watcher once: warn, escalate, expire; send pending e-mail."""
    cli = state(ctx)
    node = cli.node()
    result = ClockWatcher(node.db, node.settings).run_once()
    emit(result.as_dict(), as_json) if as_json else console.print(
        f"warned {result.warned}, escalated {result.escalated}, expired {result.expired}")


def demo_code(user: str = typer.Argument(..., help="a demo user name")) -> None:
    """Print the current TOTP code of a demo user (their secrets are public)."""
    for demo_user in DEMO_USERS:
        if demo_user.username == user:
            console.print(pyotp.TOTP(demo_user.totp_secret).now())
            return
    raise InputError.field("USER", f"{user!r} is not a demo user; demo users: "
                           + ", ".join(u.username for u in DEMO_USERS))


def _print_credentials(demo_users: tuple[DemoUser, ...], url: str, state_code: str = DEMO_STATE,
                       agency: str = "") -> None:
    """Demo mode only: the public demo log-ins, with the current TOTP code of each."""
    console.print(f"\n[bold]nohaven demo node for State {state_code} (fictional)[/bold] {agency} at {url}")
    console.print("DEMO credentials (demo mode only; never use these anywhere else):")
    for demo in demo_users:
        code = pyotp.TOTP(demo.totp_secret).now()
        console.print(f"  {demo.username:5} {demo.role:18} password {demo.password:22} TOTP secret "
                      f"{demo.totp_secret} (code now: {code})", highlight=False)
    console.print("Current TOTP codes any time: `nohaven demo-code USER`; add a secret to any authenticator app.\n")
