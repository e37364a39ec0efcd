"""Creating requests in-process: CPU per create and SQL statements per create, without HTTP in the way.

    .venv/bin/python benchmarks/create_inprocess.py [--count 200] [--database sqlite|postgresql|both] [--json]

For each database it sets up a fresh node (sample directory, State XA, one officer), then creates `--count`
preservation requests one after the other, each as the API does it: parse the body into `RequestIn`, then in one
`node.work()` transaction call `requests.service.create_request` and build the view. It reports wall time and
process CPU per create, and how many SQL statements and ORM flushes one create costs (counted with event
listeners). Serial and single-threaded: this is the cost of one create, not throughput under load (that is
`api_load.py`). See docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_load import DEFAULT_POSTGRES, postgres_database, preservation_body

from nohaven.auth import service as users
from nohaven.auth.service import subject_of
from nohaven.config import Settings
from nohaven.directory import service as directory
from nohaven.node import Node
from nohaven.requests import service as requests
from nohaven.requests.schema import RequestIn

SAMPLE = Path(__file__).resolve().parent.parent / "src" / "nohaven" / "demo" / "sample_directory.yaml"


@contextlib.contextmanager
def fresh_node(database: str, admin_dsn: str) -> Iterator[Node]:
    workdir = Path(tempfile.mkdtemp(prefix="nohaven-inproc-"))
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(postgres_database(admin_dsn)) if database == "postgresql" else None
            settings = Settings(data_dir=workdir / "data", database_url=url, secret_key="x" * 32,
                                scheduler_enabled=False)
            node = Node(settings)
            stack.callback(node.close)  # before the database is dropped
            node.migrate()
            with node.work() as session:
                directory.import_document(session, directory.load_document(SAMPLE), actor="bench")
                directory.set_node_identity(session, "XA", "Bench")
            yield node
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run(database: str, count: int, admin_dsn: str) -> dict[str, Any]:
    with fresh_node(database, admin_dsn) as node:
        with node.work() as session:
            subject = subject_of(users.add_user(session, username="olga", role="officer",
                                                password="correct horse battery", actor="bench"))
        statements: Counter[str] = Counter()
        flushes = 0

        def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            statements[statement.split(None, 1)[0].upper()] += 1

        def on_flush(*_: Any) -> None:
            nonlocal flushes
            flushes += 1

        bodies = [json.dumps(preservation_body(n)).encode() for n in range(count + 20)]

        def create(raw: bytes) -> None:
            body = RequestIn.model_validate_json(raw)  # what FastAPI does with the body
            with node.work() as session:
                requests.request_view(requests.create_request(session, subject, body))

        for raw in bodies[count:]:  # warm-up: caches, statement cache, connection pool
            create(raw)
        event.listen(node.db.engine, "before_cursor_execute", on_statement)
        event.listen(Session, "before_flush", on_flush)
        try:
            cpu0, wall0 = time.process_time(), time.perf_counter()
            for raw in bodies[:count]:
                create(raw)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        finally:
            event.remove(node.db.engine, "before_cursor_execute", on_statement)
            event.remove(Session, "before_flush", on_flush)
    return {"database": database, "creates": count, "wall_ms_per_create": round(wall / count * 1000, 2),
            "cpu_ms_per_create": round(cpu / count * 1000, 2),
            "statements_per_create": round(sum(statements.values()) / count, 2),
            "statements_by_kind": {k: round(v / count, 2) for k, v in sorted(statements.items())},
            "flushes_per_create": round(flushes / count, 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = [run(db, args.count, args.postgres) for db in databases]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        kinds = ", ".join(f"{k} {v:g}" for k, v in r["statements_by_kind"].items())
        print(f"{r['database']:<11} {r['creates']} creates: {r['wall_ms_per_create']:.2f} ms wall, "
              f"{r['cpu_ms_per_create']:.2f} ms CPU per create; {r['statements_per_create']:g} statements "
              f"({kinds}); {r['flushes_per_create']:g} flushes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
