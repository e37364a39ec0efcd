"""`nohaven serve --workers N`: several server processes on PostgreSQL, refused on SQLite."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import PASSWORD, request_body

NOHAVEN = Path(sys.executable).with_name("nohaven")


def _run(base: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
    return subprocess.run([*base, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


def _initialised(tmp_path: Path, database_url: str | None) -> list[str]:
    base = [str(NOHAVEN), "--data-dir", str(tmp_path / "data")]
    if database_url:
        base += ["--database-url", database_url]
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n")
    for args in (["init", "--state", "XA", "--agency", "Unit", "--admin-user", "root", "--admin-password-file",
                  str(password)], ["user", "add", "olga", "--role", "officer", "--password-file", str(password)]):
        done = _run(base, *args)
        assert done.returncode == 0, done.stderr
    return base


def test_more_than_one_worker_is_refused_on_sqlite(tmp_path: Path) -> None:
    base = _initialised(tmp_path, None)
    done = _run(base, "serve", "--workers", "2", "--port", "1")
    assert done.returncode == 2  # bad input, as for any refused option
    assert "--workers" in done.stderr and "SQLite" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_workers_serve_the_api_on_postgresql(tmp_path: Path, db_url: str) -> None:
    base = _initialised(tmp_path, db_url)
    token = _run(base, "token", "create", "olga").stdout.strip().split()[-1]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        server = subprocess.Popen([*base, "serve", "--workers", "2", "--port", str(port)], env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        root = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{root}/api/v1/health", timeout=1).json()["state"] == "XA":
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        created = [httpx.post(f"{root}/api/v1/requests", headers={"Authorization": f"Bearer {token}"},
                              json=request_body(their_reference=f"XB-{n}"), timeout=30) for n in range(4)]
        assert [r.status_code for r in created] == [201] * 4, created[-1].text
        assert len({r.json()["reference"] for r in created}) == 4
        # Both workers come up (on a loaded machine the second may take a while after the first answers).
        while log_path.read_text().count("Started server process") < 2 and time.monotonic() < deadline + 60:
            time.sleep(0.2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    log = log_path.read_text()
    assert log.count("Started server process") >= 2, log
