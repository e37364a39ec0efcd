"""The installed `nohaven` command for a request's attachments and the outbox, on a fresh SQLite data directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from clitools import Run

from conftest import request_body


@pytest.fixture
def run(tmp_path: Path) -> Run:
    password = tmp_path / "pw"
    password.write_text("correct horse battery\n")
    run = Run(tmp_path / "data")
    run("init", "--state", "XA", "--agency", "Aldorian NCU", "--admin-user", "root", "--admin-password-file",
        str(password))
    run("user", "add", "olga", "--role", "officer", "--password-file", str(password))
    run("user", "add", "otto", "--role", "officer", "--password-file", str(password))
    return run


def test_attach_and_read_back_with_the_digest_checked(run: Run, tmp_path: Path) -> None:
    request_file = tmp_path / "req.yaml"
    request_file.write_text(yaml.safe_dump(request_body(
        direction="outgoing", channel="platform", requesting_state="XA", requested_state="XB", their_reference="")))
    req = run.json("request", "create", "--file", str(request_file), "--as", "olga")
    data = tmp_path / "answer.csv"
    data.write_bytes(b"ip,port\n198.51.100.23,51515\n" * 1000)
    made = run.json("request", "attach", str(req["id"]), str(data), "--as", "olga")
    assert made["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest() and made["media_type"] == "text/csv"
    out = tmp_path / "copy.csv"
    run("request", "attachment", str(req["id"]), str(made["id"]), "--out", str(out), "--as", "olga")
    assert out.read_bytes() == data.read_bytes()
    refused = run("request", "attachment", str(req["id"]), str(made["id"]), "--out", str(out), "--as", "olga",
                  expect=2)
    assert "exists" in refused.stderr
    assert "not found" in run("request", "attach", str(req["id"]), str(data), "--as", "otto", expect=1).stderr
    assert "not a readable file" in run("request", "attach", str(req["id"]), str(tmp_path / "none"), "--as",
                                        "olga", expect=2).stderr

    # The CREATE for XB waits in the outbox; this node is in no federation, so `dispatch` says so.
    outbox = run.json("federation", "outbox", "--as", "olga")
    assert [(m["reference"], m["action"], m["state"]) for m in outbox] == [(req["reference"], "CREATE", "queued")]
    assert run.json("federation", "outbox", "--as", "otto") == []
    assert "not part of a federation" in run("federation", "dispatch", expect=2).stderr
