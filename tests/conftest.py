"""Fixtures shared by the node's tests: a node on SQLite and on PostgreSQL, users, tokens, clients, requests.

Every test that takes `node` (or anything built on it) runs twice, once per database. PostgreSQL tests get a
fresh database cloned from a migrated template; in CI (CI=true) a missing PostgreSQL fails, never skips.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from sqlalchemy import create_engine, text

from nohaven.auth import service as users
from nohaven.auth import totp
from nohaven.auth.policy import Subject
from nohaven.auth.service import subject_of
from nohaven.config import Settings
from nohaven.db.engine import Database
from nohaven.directory import service as directory
from nohaven.node import Node
from nohaven.timeutil import utcnow

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "src" / "nohaven" / "demo" / "sample_directory.yaml"
PG_SERVER = os.environ.get("NOHAVEN_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432")
PASSWORD = "correct horse battery"
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Tests hash hundreds of passwords; argon2id at minimum cost keeps the suite fast (production keeps defaults)."""
    from argon2 import PasswordHasher

    from nohaven.auth import passwords

    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


def _pg_admin_engine() -> Any:
    return create_engine(f"{PG_SERVER}/test", isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template(worker_id: str) -> Iterator[str | None]:
    """A migrated PostgreSQL database to clone per test, or None when PostgreSQL is absent outside CI."""
    name = f"nohaven_tmpl_{worker_id}_{os.getpid()}"
    try:
        admin = _pg_admin_engine()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and could not be reached: {exc}")
        yield None
        return
    settings = Settings(data_dir=Path("/nonexistent"), demo_mode=True)
    db = Database(settings, url=f"{PG_SERVER}/{name}")
    Node(settings, db).migrate()
    db.dispose()
    yield name
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _settings(tmp_path: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data", "demo_mode": False,
                              "secret_key": "test-secret-" + uuid.uuid4().hex, "cookie_secure": False,
                              "scheduler_enabled": False}
    values.update(extra)
    return Settings(**values)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_template: str | None) -> Iterator[str]:
    if request.param == "sqlite":
        (tmp_path / "data").mkdir(exist_ok=True)
        yield f"sqlite:///{tmp_path / 'data' / 'nohaven.db'}"
        return
    if pg_template is None:
        pytest.skip("PostgreSQL not reachable (this skip is a failure in CI)")
    name = f"nohaven_t_{uuid.uuid4().hex[:12]}"
    admin = _pg_admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"'))
    yield f"{PG_SERVER}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return _settings(tmp_path, database_url=db_url)


@pytest.fixture
def node(settings: Settings) -> Iterator[Node]:
    """An initialised node for State XA with the sample directory."""
    n = Node(settings)
    n.migrate()
    with n.work() as session:
        directory.import_document(session, directory.load_document(SAMPLE), actor="test")
        directory.set_node_identity(session, "XA", "Test Unit")
    yield n
    n.close()


def make_user(node: Node, username: str, role: str, email: str | None = None) -> Subject:
    with node.work() as session:
        return subject_of(users.add_user(session, username=username, role=role, password=PASSWORD,
                                         actor="test", email=email))


def enrol(node: Node, username: str) -> pyotp.TOTP:
    """Give the user an active TOTP secret, as if they had enrolled; returns the generator for their codes."""
    with node.work() as session:
        user = users.get_user(session, username)
        secret = totp.new_secret()
        users.set_totp_secret(user, node.settings, secret)
        user.totp_enabled = True
        return pyotp.TOTP(secret)


def make_token(node: Node, username: str) -> str:
    with node.work() as session:
        return users.create_token(session, users.get_user(session, username), actor="test")


@pytest.fixture
def people(node: Node) -> dict[str, Subject]:
    """One user per role, plus a second officer who is in no case."""
    return {name: make_user(node, name, role) for name, role in [
        ("olga", "officer"), ("otto", "officer"), ("sam", "supervisor"), ("cara", "central_authority"),
        ("aldo", "auditor"), ("ada", "admin")]}


@pytest.fixture
def client(node: Node) -> Iterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from fastapi.testclient import TestClient
    from nohaven.api.app import create_app

    with TestClient(create_app(node, watch_clocks=False), raise_server_exceptions=False) as c:
        yield c


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def request_body(**overrides: Any) -> dict[str, Any]:
    """A complete, valid incoming preservation request received by phone from State XB."""
    now = utcnow()
    body: dict[str, Any] = {
        "type": "preservation",
        "channel": "voice",
        "priority": "urgent",
        "requesting_state": "XB",
        "their_reference": "XB-247-0001",
        "requested_authority": "Aldorian National Cybercrime Unit",
        "requesting_authority": {
            "organisation": "Borvanian Federal Police", "officer": "Insp. K. Adler", "phones": ["+15555550200"],
            "email": "adler@police.xb.example", "time_zone": "Europe/Berlin", "preferred_channel": "voice",
            "office_hours": "24/7", "address": "1 Example Street",
        },
        "confirmation_contact": "Insp. K. Adler, same phone",
        "investigating_authority": "Borvanian Federal Police",
        "offence": "Ransomware attack on a hospital",
        "summary_of_facts": "Hospital systems encrypted on 2026-11-27; ransom note names a mailbox.",
        "data_items": [{"identifier_type": "ip_port", "value": "198.51.100.23:51515", "data_category": "traffic",
                        "time_from": (now - timedelta(days=2)).isoformat(),
                        "time_to": (now - timedelta(days=2, hours=-1)).isoformat()}],
        "link_to_offence": "The attacker connected from this address.",
        "custodian": "Examplenet ISP",
        "preservation_reason": "Traffic data is deleted after 180 days.",
        "mla_to_follow": True,
    }
    body.update(overrides)
    return body


def free_ports(count: int) -> int:
    """The first of `count` consecutive loopback ports that are free now (the demo network numbers its nodes so)."""
    for _ in range(200):
        first = random.randrange(20000, 60000 - count)
        sockets: list[socket.socket] = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError(f"no {count} consecutive free ports found on 127.0.0.1")
