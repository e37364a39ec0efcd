"""`nohaven ipdata load|list` and `nohaven trace resolve`, run as the installed command on a SQLite data directory."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))
from clitools import Run

from conftest import PASSWORD
from nohaven.demo.ipdata import sample_path

FIXTURES = Path(__file__).resolve().parent.parent / "_data" / "tracing" / "ipdata"


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """A fresh node per test, so that no test depends on what another loaded."""
    root = tmp_path
    password = root / "password"
    password.write_text(PASSWORD + "\n")
    runner = Run(root / "data")
    runner("init", "--state", "XA", "--agency", "Aldorian National Cybercrime Unit", "--admin-user", "root",
           "--admin-password-file", str(password))
    runner("user", "add", "olga", "--role", "officer", "--password-file", str(password))
    runner("user", "add", "aldo", "--role", "auditor", "--password-file", str(password))
    return runner


def test_load_reports_each_file_and_a_refused_one_fails_alone(run: Run) -> None:
    done = run("ipdata", "load", str(sample_path("delegated-xnic-extended-20261001")),
               str(sample_path("ip2asn-v4-20261001.tsv")), str(FIXTURES / "delegated-broken-extended-20261130"),
               "--json", expect=2)
    results: list[dict[str, Any]] = json.loads(done.stdout)
    assert [r.get("snapshot", {}).get("id") for r in results] == ["rir-xnic-20261001", None, "rir-ripencc-20261130"]
    assert "--date" in results[1]["error"] and "never guessed" in results[1]["error"]
    broken = results[2]["snapshot"]
    assert broken["bad_count"] == 7 and {b["line"] for b in broken["bad_lines"]} == {4, 5, 6, 7, 8, 9, 10}
    people = run("ipdata", "load", str(sample_path("ip2asn-v4-20261001.tsv")), "--date", "2026-10-01")
    assert "loaded ip2asn-v4-20261001" in people.stdout and "3 IPv4 and 0 IPv6 ranges" in people.stdout
    shown = run("ipdata", "load", str(FIXTURES / "delegated-broken-extended-20261130"))
    assert "replaced rir-ripencc-20261130" in shown.stdout
    assert "delegated-broken-extended-20261130:9:" in shown.stdout and "bits set beyond" in shown.stdout
    listed = json.loads(run("ipdata", "list", "--json").stdout)
    assert [s["id"] for s in listed] == ["ip2asn-v4-20261001", "rir-ripencc-20261130", "rir-xnic-20261001"]
    assert "rir-xnic-20261001" in run("ipdata", "list").stdout
    assert all(s["in_force"] for s in listed)  # each is the only one of its series
    run("ipdata", "load", str(sample_path("delegated-xnic-extended-20250601")))
    then = json.loads(run("ipdata", "list", "--at", "2026-03-01T00:00:00+01:00", "--json").stdout)
    assert {s["id"]: s["in_force"] for s in then} == {"ip2asn-v4-20261001": False, "rir-ripencc-20261130": False,
                                                       "rir-xnic-20250601": True, "rir-xnic-20261001": False}
    table = run("ipdata", "list", "--at", "2026-03-01T00:00:00+01:00").stdout
    assert "problem: ip2asn-v4 (ip2asn): no snapshot dated on or before 2026-02-28" in table
    assert "no UTC offset" in run("ipdata", "list", "--at", "2026-03-01", expect=2).stderr


def test_bad_options_exit_2(run: Run) -> None:
    assert "YYYY-MM-DD" in run("ipdata", "load", str(sample_path("ip2asn-v4-20261001.tsv")), "--date", "1/10/2026",
                               expect=2).stderr
    assert "none of auto, rir, ip2asn" in run("ipdata", "load", "x", "--kind", "whois", expect=2).stderr


def test_resolve_for_people_and_machines(run: Run) -> None:
    run("ipdata", "load", str(sample_path("delegated-xnic-extended-20261001")))
    run("ipdata", "load", str(sample_path("ip2asn-v4-20261001.tsv")), "--date", "2026-10-01")
    body = json.loads(run("trace", "resolve", "198.51.100.23", "--at", "2026-11-27T03:14:07+01:00", "--as", "olga",
                          "--json").stdout)
    assert body["record"]["asn"] == 64510 and body["state"]["code"] == "XB"
    assert body["point_of_contact"]["email"] == "247@police.xb.example"
    assert body["likely_deleted_after"] == "2027-02-25T02:14:07+00:00"
    table = run("trace", "resolve", "198.51.100.23", "--at", "2026-11-27T03:14:07+01:00", "--as", "olga").stdout
    assert "Borvania VPN Services (fictional)" in table and "Kingdom of Borvania" in table
    assert "2027-02-25T02:14:07+00:00 (2027-02-25T03:14:07+01:00 Europe/Berlin)" in table
    unknown = run("trace", "resolve", "10.9.9.9", "--as", "olga").stdout
    assert "problem: 10.9.9.9 is in no range" in unknown


def test_resolve_refuses_naive_time_bad_address_and_the_wrong_role(run: Run) -> None:
    naive = run("trace", "resolve", "198.51.100.23", "--at", "2026-11-27 03:14:07", "--as", "olga", expect=2)
    assert "--at: timestamp has no UTC offset" in naive.stderr
    assert "not an IPv4 or IPv6 address" in run("trace", "resolve", "198.51.100", "--as", "olga", expect=2).stderr
    assert "--as" in run("trace", "resolve", "198.51.100.23", expect=2).stderr
    assert "trace.resolve" in run("trace", "resolve", "198.51.100.23", "--as", "aldo", expect=1).stderr
