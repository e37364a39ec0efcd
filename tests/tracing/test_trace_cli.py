"""`nohaven trace ...` as an officer runs it, on a fresh SQLite data directory: JSON and tables, exit codes 2 for
bad input and 1 for refusals, never a traceback."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))
from clitools import Run

from conftest import PASSWORD
from nohaven.demo.ipdata import SAMPLE_FILES, sample_path

EMAIL = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "email"
DATA = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "traces"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("trace-cli")
    password = root / "password"
    password.write_text(PASSWORD + "\n")
    r = Run(root / "data", columns=250)
    r.json("init", "--state", "XA", "--agency", "Aldorian National Cybercrime Unit", "--admin-user", "root",
           "--admin-password-file", password)
    for name, role in (("olga", "officer"), ("otto", "officer")):
        r("user", "add", name, "--role", role, "--password-file", password)
    for name, day in SAMPLE_FILES:
        r("ipdata", "load", sample_path(name), *(["--date", day.isoformat()] if day else []))
    return r


def test_create_draft_request_answer_show(run: Run, tmp_path: Path) -> None:
    trace = run.json("trace", "create", "--as", "olga", "--title", "Hospital intrusion", "--offence",
                     "Illegal access", "--ip", "198.51.100.23", "--port", "51515", "--protocol", "tcp", "--at",
                     "2026-11-27 03:14:07 CET", "--uncertainty", "PT2S", "--seen-where", "web server log")
    ref = trace["reference"]
    assert trace["hops"][0]["responsible_state"] == "XB"
    draft = run.json("trace", "draft", ref, "H1", "--as", "olga")
    assert draft["time"]["requested_local"] == ["2026-11-27T03:14:07+01:00"]
    people = run("trace", "draft", ref, "H1", "--as", "olga").stdout
    assert "as written: 2026-11-27 03:14:07 CET" in people and "Europe/Berlin: 2026-11-27T03:14:07+01:00" in people
    filed = run.json("trace", "request", ref, "H1", "--as", "olga")
    assert [(r["type"], r["requested_state"]) for r in filed] == [("preservation", "XB"),
                                                                  ("traffic_disclosure", "XB")]
    document = tmp_path / "answer.json"
    run("trace", "answer-document", "--next", "203.0.113.77:4431/tcp@2026-11-27T02:14:07Z", "--next",
        "[2001:db8:c::15]:443@2026-11-27T02:14:09Z", "--request", filed[1]["reference"], "--note", "VPN exit",
        "--out", document)
    assert json.loads(document.read_text())["format"] == "nohaven-disclosure/1"
    answered = run.json("trace", "answer", ref, "H1", "--document", document, "--as", "olga")
    assert answered["new_hops"] == ["H2", "H3"]
    shown = run.json("request", "show", str(filed[1]["id"]), "--as", "olga")
    assert shown["status"] == "AwaitingApproval"
    h2 = run.json("trace", "request", ref, "H2", "--type", "traffic_disclosure", "--as", "olga")
    assert [(r["type"], r["requested_state"]) for r in h2] == [("traffic_disclosure", "XC")]
    run.json("trace", "answer", ref, "H2", "--document", DATA / "lookup-one-subscriber.json", "--as", "olga")
    run.json("trace", "answer", ref, "H3", "--dead-end", "data deleted", "--as", "olga")
    view = run.json("trace", "show", ref, "--as", "olga")
    assert view["status"] == "origin_found"
    assert {h["label"]: h["status"] for h in view["hops"]} == {"H1": "answered", "H2": "origin", "H3": "dead_end"}
    table = run("trace", "show", ref, "--as", "olga").stdout
    assert "203.0.113.77:4431" in table and "origin" in table
    assert ref in {t["reference"] for t in run.json("trace", "list", "--as", "olga")}


def test_a_trace_seeded_from_an_email_goes_back_from_the_victim(run: Run) -> None:
    view = run.json("trace", "create", "--as", "olga", "--title", "Phishing mail", "--from-email",
                    EMAIL / "clean-4-hop.eml")
    hops = view["hops"]
    assert [h["ip"] for h in hops] == ["192.0.2.201", "192.0.2.25", "192.0.2.10", "203.0.113.77"]
    assert [h["parent_id"] for h in hops] == [None, hops[0]["id"], hops[1]["id"], hops[2]["id"]]
    assert hops[3]["responsible_state"] == "XC" and hops[0]["domestic"] is True
    assert all(h["source_kind"] == "email" for h in hops)


@pytest.mark.parametrize(("args", "code", "says"), [
    (["trace", "create", "--as", "olga", "--title", "t", "--ip", "198.51.100.23", "--at", "2026-11-27 03:14:07"],
     2, "has no UTC offset"),
    (["trace", "create", "--as", "olga", "--title", "t", "--ip", "198.51.100.23", "--at",
      "2026-11-27 03:14:07 IST"], 2, "India Standard Time"),
    (["trace", "create", "--as", "olga", "--title", "t", "--at", "2026-11-27T03:14:07Z"], 2, "--ip"),
    (["trace", "answer-document", "--next", "203.0.113.77:4431@2026-11-27 3:14:07 +0100", "--out", "/dev/null"],
     2, "12-hour clock"),
    (["trace", "answer-document", "--next", "not an endpoint", "--out", "/dev/null"], 2, "IP[:PORT]"),
    (["trace", "show", "XA-TR-2099-99999", "--as", "olga"], 1, "not found"),
    (["trace", "create", "--title", "t", "--ip", "198.51.100.23", "--at", "2026-11-27T03:14:07Z"], 2, "--as"),
])
def test_bad_input_and_refusals_exit_with_a_message(run: Run, args: list[str], code: int, says: str) -> None:
    done = run(*args, expect=code)
    assert says in done.stderr


def test_another_officer_cannot_see_the_trace(run: Run) -> None:
    ref = run.json("trace", "create", "--as", "olga", "--title", "t", "--ip", "203.0.113.9", "--port", "40001",
                   "--at", "2026-11-27T03:15:00+01:00")["reference"]
    assert "not found" in run("trace", "show", ref, "--as", "otto", expect=1).stderr
    assert "not found" in run("trace", "draft", ref, "H1", "--as", "otto", expect=1).stderr
    assert ref not in {t["reference"] for t in run.json("trace", "list", "--as", "otto")}
