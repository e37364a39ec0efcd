"""The installed `nohaven` command, run as a user would, on a fresh SQLite data directory."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from clitools import Run

from conftest import PASSWORD

DATA = Path(__file__).resolve().parent.parent / "_data"


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path]:
    root = tmp_path_factory.mktemp("e2e")
    password = root / "admin-password"
    password.write_text(PASSWORD + "\n")
    run = Run(root / "data")
    out = run.json("init", "--state", "XA", "--agency", "Aldorian National Cybercrime Unit", "--admin-user",
                   "root", "--admin-password-file", str(password))
    assert out["state"] == "XA"
    assert out["admin"] == "root"
    assert out["directory"]["states"] >= 4
    return run, password


def test_init_writes_a_private_secret_and_a_database(initialised: tuple[Run, Path]) -> None:
    run, _ = initialised
    secret = run.data_dir / "secret.key"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert (run.data_dir / "nohaven.db").exists()
    states = run.json("directory", "list")
    assert {"XA", "XB", "XC", "XD"} <= {s["code"] for s in states}
    assert all(s["fictional"] for s in states)


def test_a_second_init_does_not_create_a_second_admin(initialised: tuple[Run, Path]) -> None:
    run, password = initialised
    done = run("init", "--state", "XA", "--agency", "X", "--admin-user", "root", "--admin-password-file",
               str(password), expect=1)
    assert "root" in done.stderr


def test_officer_workflow_from_the_command_line(initialised: tuple[Run, Path]) -> None:
    run, password = initialised
    added = run.json("user", "add", "olga", "--role", "officer", "--password-file", str(password))
    assert added == {"username": "olga", "role": "officer"}
    token = run.json("token", "create", "olga")
    assert token["token"].startswith("nhv_")
    assert set(token) >= {"token"}

    created = run.json("request", "create", "--file", str(DATA / "requests" / "preservation_by_phone.yaml"),
                       "--as", "olga")
    rid = str(created["id"])
    assert created["status"] == "AwaitingPreservation"
    assert created["reference"].startswith("XA-")
    assert {"acknowledge_by", "response_due", "written_confirmation_due"} <= set(created["clocks"])

    listed = run.json("request", "list", "--as", "olga")
    assert [r["id"] for r in listed] == [created["id"]]
    assert listed[0]["next_clock"]["kind"]

    shown = run.json("request", "show", rid, "--as", "olga")
    assert shown["template"]["offence"] == "Ransomware attack on a hospital"
    assert next(e["kind"] for e in shown["events"]) == "created"

    acknowledged = run.json("request", "acknowledge", rid, "--as", "olga")
    assert acknowledged["clocks"]["acknowledge_by"]["state"] == "satisfied"
    confirmed = run.json("request", "confirm", rid, "--note", "signed fax", "--as", "olga")
    assert confirmed["clocks"]["written_confirmation_due"]["state"] == "satisfied"
    preserved = run.json("request", "transition", rid, "Preserved", "--as", "olga")
    assert preserved["status"] == "Preserved"
    assert {"preservation_expires_at", "extension_due", "mla_follow_up_due"} <= set(preserved["clocks"])

    refused = run("request", "transition", rid, "AwaitingPreservation", "--as", "olga", expect=1)
    assert "Expired" in refused.stderr and "Cancelled" in refused.stderr

    verified = run.json("audit", "verify")
    assert verified["ok"] is True
    assert verified["entries"] > 5
    trail = run.json("audit", "show", "--object-id", rid, "--limit", "100")
    actions = {e["action"] for e in trail if e["actor"] == "olga"}
    assert {"request.create", "request.read", "request.acknowledge", "request.confirm_written",
            "request.transition"} <= actions


def test_bad_arguments_exit_2_without_a_traceback(initialised: tuple[Run, Path], tmp_path: Path) -> None:
    run, password = initialised
    assert "--file" in run("request", "create", "--file", str(tmp_path / "absent.yaml"), "--as", "olga",
                           expect=2).stderr
    assert "role" in run("user", "add", "bob", "--role", "wizard", "--password-file", str(password),
                         expect=2).stderr
    assert "--state" in run("init", "--state", "Q1", "--agency", "X", "--admin-user", "x",
                            "--admin-password-file", str(password), expect=2).stderr
    assert run("request", "show", "not-a-number", "--as", "olga", expect=2).stderr
    assert "states[0].legal_profile.preservation_period" in run(
        "directory", "import", str(DATA / "directory" / "bad_fields.yaml"), expect=2).stderr


def test_audit_verify_exits_1_on_a_tampered_log(initialised: tuple[Run, Path]) -> None:
    import sqlite3

    run, _ = initialised
    copy = run.data_dir.parent / "tampered"
    copy.mkdir()
    source = sqlite3.connect(run.data_dir / "nohaven.db")
    target = sqlite3.connect(copy / "nohaven.db")
    source.backup(target)
    source.close()
    target.execute("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 2")
    target.commit()
    target.close()
    done = Run(copy)("audit", "verify", expect=1)
    assert "entry 2" in " ".join(done.stderr.split())
