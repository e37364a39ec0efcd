"""Lookups through the real command on a store of every sample format: candidates with provenance, subscribers,
ambiguity, windows, naive times refused, IPv6, batch CSV, and RFC 7422 pools."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nohaven.carrier.lookup import Attributor, Query, read_queries
from nohaven.carrier.store import Store

DATA = Path(__file__).resolve().parent / "_data"
CLI = [sys.executable, "-m", "nohaven.cli.main", "carrier"]


def carrier(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("carrier") / "store"
    names = ["a10", "juniper-rtflow", "juniper-pba", "freeradius-detail", "isc-dhcpd-leases", "kea-csv", "f5-lsn"]
    r = carrier("ingest", "--store", str(root), "--json", *(str(DATA / f"{n}.log") for n in names))
    assert r.returncode == 0, r.stderr
    return root


def lookup(store: Path, *args: str) -> tuple[int, Any]:
    """The command's answer, computed in-process (the command itself is run by the tests that check its output)."""
    opts = dict(zip(args[::2], args[1::2], strict=True))
    det = opts.get("--deterministic")
    with Attributor(Store(store), "duckdb", deterministic=Path(det) if det else None) as attributor:
        if "--batch" in opts:
            answers = attributor.answer_all(read_queries(Path(opts["--batch"]), "2s"))
            return (3 if any(a["ambiguous"] for a in answers) else 0), answers
        answer = attributor.answer(Query.make(opts["--ip"], opts["--port"], opts["--at"], opts.get("--window", "2s")))
    return (3 if answer["ambiguous"] else 0), answer


def test_command_prints_the_answer_and_exits_3_when_ambiguous(store: Path) -> None:
    r = carrier("lookup", "--store", str(store), "--json", "--ip", "203.0.113.9", "--port", "40001", "--at",
                "2026-11-27T03:15:00+01:00")
    assert r.returncode == 3, r.stderr
    assert json.loads(r.stdout) == lookup(store, "--ip", "203.0.113.9", "--port", "40001", "--at",
                                          "2026-11-27T03:15:00+01:00")[1]
    r = carrier("lookup", "--store", str(store), "--ip", "203.0.113.9", "--port", "40002", "--at",
                "2026-11-27T02:14:30Z")
    assert r.returncode == 0, r.stderr
    assert "100.64.23.123:5353" in r.stdout and "end not logged" in r.stdout


def test_every_candidate_with_provenance_and_ambiguity(store: Path) -> None:
    code, answer = lookup(store, "--ip", "203.0.113.9", "--port", "40001", "--at", "2026-11-27T03:15:00+01:00")
    assert code == 3 and answer["ambiguous"] is True  # exit 3: scripts cannot miss an ambiguous answer
    pairs = sorted((c["private_ip"], c["private_port"], c["source"]["format"]) for c in answer["candidates"])
    assert pairs == [("100.64.0.7", 51515, "f5-lsn"), ("100.64.0.7", 51515, "juniper-rtflow"),
                     ("100.64.23.122", 51515, "a10")]
    assert any("2 private addresses" in reason for reason in answer["ambiguity"])
    rtflow = next(c for c in answer["candidates"] if c["source"]["format"] == "juniper-rtflow")
    assert (rtflow["source"]["line"], rtflow["source"]["end"]["line"]) == (1, 3)
    assert rtflow["source"]["sha256"] == hashlib.sha256((DATA / "juniper-rtflow.log").read_bytes()).hexdigest()
    assert rtflow["start"] == "2026-11-27T02:14:06.480Z" and rtflow["end"] == "2026-11-27T02:15:37.480Z"
    names = {s["subscriber"] for s in rtflow["subscribers"]}
    assert names == {"subscriber-0042", None}  # RADIUS names the user; DHCP (dhcpd, Kea) gives the hardware address
    assert {s["mac"] for s in rtflow["subscribers"]} == {None, "02:00:5e:10:00:07"}


def test_one_holder_is_not_ambiguous(store: Path) -> None:
    code, answer = lookup(store, "--ip", "203.0.113.9", "--port", "40002", "--at", "2026-11-27T02:14:30Z")
    assert code == 0 and answer["ambiguous"] is False
    assert [(c["private_ip"], c["end_logged"]) for c in answer["candidates"]] == [("100.64.23.123", False)]


def test_window_is_the_clock_uncertainty(store: Path) -> None:
    # the a10 mapping of 100.64.23.122 was freed at 02:15:37 (second resolution): 4 s later with a 2 s window, gone
    _, answer = lookup(store, "--ip", "203.0.113.9", "--port", "40001", "--at", "2026-11-27T02:15:42Z")
    assert all(c["private_ip"] != "100.64.23.122" for c in answer["candidates"])
    _, answer = lookup(store, "--ip", "203.0.113.9", "--port", "40001", "--at", "2026-11-27T02:15:42Z",
                       "--window", "5s")
    assert any(c["private_ip"] == "100.64.23.122" for c in answer["candidates"])


def test_port_block_answer(store: Path) -> None:
    code, answer = lookup(store, "--ip", "203.0.113.10", "--port", "48700", "--at", "2026-11-27T03:30:00+00:00")
    assert code == 0
    (block,) = answer["candidates"]
    assert (block["kind"], block["public_ports"], block["private_ip"]) == ("block", [48640, 48895], "100.64.3.4")
    _, miss = lookup(store, "--ip", "203.0.113.10", "--port", "48900", "--at", "2026-11-27T03:30:00+00:00")
    assert miss["found"] is False and miss["candidates"] == []


def test_naive_time_is_refused_with_an_explanation(store: Path) -> None:
    r = carrier("lookup", "--store", str(store), "--ip", "203.0.113.9", "--port", "40001", "--at",
                "2026-11-27T03:15:00")
    assert r.returncode == 2
    assert "offset" in r.stderr and "Traceback" not in r.stderr


def test_ipv6_subscriber_prefix(store: Path) -> None:
    code, answer = lookup(store, "--ip", "2001:db8:1200:42::1", "--port", "443", "--at", "2026-11-27T02:30:00Z")
    assert code == 0
    (direct,) = answer["candidates"]
    assert direct["kind"] == "direct"
    assert [s["subscriber"] for s in direct["subscribers"]] == ["subscriber-0043"]
    assert direct["subscribers"][0]["address"] == "2001:db8:1200::-2001:db8:1200:ff:ffff:ffff:ffff:ffff"


def test_batch_csv(store: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.csv"
    batch.write_text("ip,port,at,window\n203.0.113.9,40002,2026-11-27T02:14:30Z,\n"
                     "203.0.113.10,48700,2026-11-27T03:30:00+00:00,1s\n198.51.100.1,1,2026-11-27T03:30:00Z,\n")
    _, answers = lookup(store, "--batch", str(batch))
    assert [a["found"] for a in answers] == [True, True, False]
    assert [a["query"]["window_ms"] for a in answers] == [2000, 1000, 2000]


def test_rfc7422_pool_by_calculation(store: Path, tmp_path: Path) -> None:
    pools = tmp_path / "pools.json"
    pools.write_text(json.dumps([{"name": "det-1", "inside": "100.70.0.0/24", "outside": ["198.51.100.0/31"],
                                  "port_first": 1024, "port_last": 65535, "ports_per_subscriber": 2000,
                                  "valid_from": "2026-01-01T00:00:00+00:00"}]))
    # 32 subscribers per address; 198.51.100.1 port 5100 -> block 2 of the second address -> inside index 34
    _, answer = lookup(store, "--ip", "198.51.100.1", "--port", "5100", "--at", "2026-11-27T03:30:00Z",
                       "--deterministic", str(pools))
    (hit,) = answer["candidates"]
    assert (hit["kind"], hit["private_ip"], hit["public_ports"]) == ("deterministic", "100.70.0.34", [5024, 7023])
    assert hit["source"]["calculation"] == "RFC 7422"
    _, before = lookup(store, "--ip", "198.51.100.1", "--port", "5100", "--at", "2025-11-27T03:30:00Z",
                       "--deterministic", str(pools))
    assert before["found"] is False


@pytest.mark.parametrize(("content", "reason"), [
    (None, "cannot be read"),
    (b"ip,port,at\n203.0.113.9,40002,2026-11-27T02:14:30Z\n\xff\xfe,1,x\n", "line 3: not UTF-8 text"),
    (b"ip,port,at\n203.0.113.9,40002\n", "line 2: expected the columns ip, port, at"),
    (b"ip,port,at\n203.0.113.9,40002,2026-11-27T02:14:30\n", "line 2: at:"),
    (b"ip,port,at\n", "no query after the header"),
])
def test_batch_csv_refusals_name_the_line(store: Path, tmp_path: Path, content: bytes | None, reason: str) -> None:
    batch = tmp_path / "q.csv"
    if content is not None:
        batch.write_bytes(content)
    r = carrier("lookup", "--store", str(store), "--batch", str(batch))
    assert r.returncode == 2
    assert reason in " ".join(r.stderr.split()) and "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_batch_csv_through_the_command(store: Path, tmp_path: Path) -> None:
    batch = tmp_path / "q.csv"
    batch.write_text("ip,port,at\n203.0.113.9,40002,2026-11-27T02:14:30Z\n198.51.100.1,1,2026-11-27T03:30:00Z\n")
    r = carrier("lookup", "--store", str(store), "--batch", str(batch), "--json")
    assert r.returncode == 0, r.stderr
    answers = json.loads(r.stdout)
    assert [a["found"] for a in answers] == [True, False]
    assert answers[0]["candidates"][0]["private_ip"] == "100.64.23.123"


def test_unknown_format_is_refused_even_for_a_stored_source(store: Path) -> None:
    r = carrier("ingest", "--store", str(store), "--format", "nope", str(DATA / "a10.log"))
    assert r.returncode == 2 and "unknown format 'nope'" in " ".join(r.stderr.split())
