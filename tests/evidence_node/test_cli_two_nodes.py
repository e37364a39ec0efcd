"""Done-means through the installed command: XA's node acquires and seals, XB's node receives and cosigns, and a
third person verifies the cosigned bundle offline with both public keys; a changed byte is caught."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bundletools import tampered

from conftest import PASSWORD

DATA = Path(__file__).resolve().parent.parent / "_data"
NOHAVEN = Path(sys.executable).with_name("nohaven")
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}, "COLUMNS": "200"}


def run(*args: str | Path, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(NOHAVEN), *map(str, args)], capture_output=True, text=True, env=ENV, timeout=120,
                          check=False)
    assert done.returncode == expect, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    return done


def make_node(root: Path, state: str, case: str) -> Path:
    data = root / state
    password = root / "password"
    password.write_text(PASSWORD + "\n")
    run("--data-dir", data, "init", "--state", state, "--agency", f"Unit {state}", "--admin-user", "root",
        "--admin-password-file", password, "--json")
    run("--data-dir", data, "user", "add", "olga", "--role", "officer", "--password-file", password)
    request = root / f"{state}.yaml"
    request.write_text((DATA / "requests" / "preservation_by_phone.yaml").read_text() + f"\ncase_reference: {case}\n")
    run("--data-dir", data, "request", "create", "--file", request, "--as", "olga")
    return data


def test_seal_in_a_receive_in_b_verify_with_both_keys(tmp_path: Path) -> None:
    xa, xb = make_node(tmp_path, "XA", "XA-CASE-1"), make_node(tmp_path, "XB", "XB-CASE-9")
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "disk.img").write_bytes(os.urandom(300_000))
    (seized / "notes.txt").write_text("meeting at 10\n")

    added = json.loads(run("--data-dir", xa, "evidence", "add", "--case", "XA-CASE-1", "--exhibit", "EX-1",
                           "--source", "laptop", "--authority", "warrant 17/2026", "--location", "XA lab", seized,
                           "--as", "olga", "--json").stdout)
    assert [i["custody_event"] for i in added["items"]] == [0, 1]

    bundle = tmp_path / "case1.zip"
    run("--data-dir", xa, "evidence", "seal", "--case", "XA-CASE-1", "--out", bundle, "--as", "olga")
    xa_key = next((xa / "evidence").glob("*.vkey"))

    cosigned = tmp_path / "case1-xb.zip"
    run("--data-dir", xb, "evidence", "receive", bundle, "--case", "XB-CASE-9", "--trust", xa_key, "--out",
        cosigned, "--as", "olga")
    xb_key = next((xb / "evidence").glob("*.vkey"))
    report = json.loads(run("verify", cosigned, "--trust", xa_key, "--trust", xb_key, "--json").stdout)
    assert report["verified"] and report["case"] == "XA-CASE-1" and report["items"] == 2
    assert [(s["name"], s["status"]) for s in report["signatures"]] == [
        (xa_key.read_text().split("+")[0], "verified"), (xb_key.read_text().split("+")[0], "verified")]
    listed = json.loads(run("--data-dir", xb, "evidence", "list", "--case", "XB-CASE-9", "--as", "olga",
                            "--json").stdout)
    assert [(b["kind"], b["custody_event"]) for b in listed["bundles"]] == [("received", 0)]  # in B's own log

    # A changed byte in an item is caught and named.
    changed = tampered(cosigned, tmp_path / "tampered.zip", "notes.txt", b"10", b"11")
    failed = run("verify", changed, "--trust", xa_key, "--trust", xb_key, expect=1)
    assert "FAILED" in failed.stdout + failed.stderr and "notes.txt" in failed.stdout + failed.stderr
