"""The issue's "done means", through the real commands: a month of mixed vendor logs (a10 gzipped, Junos
RT_FLOW zstd-compressed, F5 LSN plain, one file per device and day, and a month of FreeRADIUS accounting) is
ingested; a law-enforcement lookup is answered with every candidate, its subscriber and its provenance (file,
SHA-256, line), ambiguity said; the preserved bundle passes the offline verifier."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import zstandard

NOHAVEN = [sys.executable, "-m", "nohaven.cli.main"]
MONTH = [datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=n) for n in range(30)]
SESSIONS = 40  # per device and day
TARGET_DAY = 16  # 17 November
CET = timezone(timedelta(hours=1))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NOHAVEN, *args], capture_output=True, text=True, timeout=600)


@dataclass
class LogFile:
    """One source being written, remembering the line of each thing the test will look for."""

    path: Path
    lines: list[str] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)

    def add(self, text: str, mark: str | None = None) -> None:
        if mark:
            self.marks[mark] = len(self.lines) + 1
        self.lines.extend(text.split("\n"))

    @property
    def content(self) -> bytes:
        return ("\n".join(self.lines) + "\n").encode()


def a10(kind: str, at: datetime, priv: str, pport: int, pub: str, port: int) -> str:
    return (f"{at:%Y-%m-%dT%H:%M:%S}+00:00 cgn-a NAT-TCP-{kind}: {priv}:{pport}<->192.0.2.80:443,"
            f"{pub}:{port}<-->192.0.2.80:443")


def rtflow(at: datetime, priv: str, pport: int, pub: str, port: int, elapsed: int | None) -> str:
    event = "RT_FLOW_SESSION_CREATE" if elapsed is None else "RT_FLOW_SESSION_CLOSE"
    extra = "" if elapsed is None else f' reason="TCP FIN" elapsed-time="{elapsed}"'
    at = at.astimezone(CET)  # the SRX logs local time with its offset
    return (f"<14>1 {at:%Y-%m-%dT%H:%M:%S}.250+01:00 srx-1 RT_FLOW - {event} [junos@2636.1.1.1.2.26{extra} "
            f'source-address="{priv}" source-port="{pport}" destination-address="192.0.2.80" destination-port="443" '
            f'nat-source-address="{pub}" nat-source-port="{port}" protocol-id="6" session-id-32="{pport}"]')


def f5(at: datetime, priv: str, pport: int, pub: str, port: int, duration_ms: int | None) -> str:
    ms = int(at.timestamp() * 1000)
    if duration_ms is None:
        return f'lsn_event="LSN_ADD",start="{ms}",cli="{priv}:{pport}",nat="{pub}:{port}",dst="192.0.2.80:443"'
    return (f'lsn_event="LSN_DELETE",start="{ms}",cli="{priv}:{pport}",nat="{pub}:{port}",dst="192.0.2.80:443",'
            f'duration="{duration_ms}"')


def radius(status: str, at: datetime, session: str, ip: str, user: str) -> str:
    return (f"{at:%a %b %d %H:%M:%S %Y}\n\tAcct-Session-Id = \"{session}\"\n\tAcct-Status-Type = {status}\n"
            f"\tFramed-IP-Address = {ip}\n\tUser-Name = \"{user}\"\n\tTimestamp = {int(at.timestamp())}\n")


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, LogFile], list[Path]]:
    folder = tmp_path_factory.mktemp("month")
    logs: dict[str, LogFile] = {}
    acct = LogFile(folder / "radacct-detail-2026-11")
    for d, day in enumerate(MONTH):
        nat = {name: LogFile(folder / f"{name}-{day:%Y%m%d}.log") for name in ("a10", "srx", "f5")}
        for k, name in enumerate(("a10", "srx", "f5"), 1):
            for i in range(SESSIONS):
                priv, pub = f"100.64.{k}.{i + 1}", f"203.0.113.{k}"
                at = day + timedelta(hours=1, seconds=i * 600 + d)
                port, pport = 20000 + i * 7 + d, 30000 + i
                if name == "a10":
                    nat[name].add(a10("C", at, priv, pport, pub, port), f"{d}:{i}")
                    nat[name].add(a10("F", at + timedelta(seconds=45), priv, pport, pub, port))
                elif name == "srx":
                    nat[name].add(rtflow(at, priv, pport, pub, port, None), f"{d}:{i}")
                    nat[name].add(rtflow(at + timedelta(seconds=60), priv, pport, pub, port, 60))
                else:
                    nat[name].add(f5(at, priv, pport, pub, port, None), f"{d}:{i}")
                    nat[name].add(f5(at, priv, pport, pub, port, 75_000))
                if i < 8:  # a month of RADIUS sessions, one per subscriber and day
                    acct.add(radius("Start", day + timedelta(minutes=1), f"{k}-{i}-{d}", priv, f"sub-{k}-{i}"),
                             f"start {k}-{i}-{d}")
                    acct.add(radius("Stop", day + timedelta(hours=23, minutes=59), f"{k}-{i}-{d}", priv,
                                    f"sub-{k}-{i}"))
        if d == TARGET_DAY:  # two subscribers on 203.0.113.1:40001 within two seconds of each other
            nat["a10"].add(a10("C", day + timedelta(hours=12, minutes=50), "100.64.1.5", 5000, "203.0.113.1", 40001),
                           "target-a")
            nat["a10"].add(a10("F", day + timedelta(hours=13, minutes=3, seconds=26), "100.64.1.5", 5000,
                               "203.0.113.1", 40001), "target-a-end")
            nat["a10"].add(a10("C", day + timedelta(hours=13, minutes=3, seconds=28), "100.64.1.6", 6000,
                               "203.0.113.1", 40001), "target-b")
        logs.update({f"{name}-{d}": f for name, f in nat.items()})
    logs["radius"] = acct
    paths = []
    for key, log in logs.items():
        if key.startswith("a10"):
            log.path = log.path.with_suffix(".log.gz")
            log.path.write_bytes(gzip.compress(log.content))
        elif key.startswith("srx"):
            log.path = log.path.with_suffix(".log.zst")
            log.path.write_bytes(zstandard.ZstdCompressor().compress(log.content))
        else:
            log.path.write_bytes(log.content)
        paths.append(log.path)
    store = folder / "store"
    r = run("carrier", "ingest", "--store", str(store), "--json", *map(str, paths))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    nat_lines = 3 * 30 * SESSIONS * 2 + 3
    assert result["rejects"] == 0 and result["records"] == nat_lines + 30 * 3 * 8 * 2
    assert len(result["files"]) == 91 and all(f["detected"] for f in result["files"])
    assert {f["format"] for f in result["files"]} == {"a10", "juniper-rtflow", "f5-lsn", "freeradius-detail"}
    days = sorted(p.name for p in (store / "tables" / "nat").iterdir())
    assert days[0] == "day=2026-11-01" and days[-1] == "day=2026-11-30" and len(days) == 30
    return store, logs, paths


def test_a_month_of_mixed_logs_answers_with_every_candidate_and_its_provenance(
        month: tuple[Path, dict[str, LogFile], list[Path]]) -> None:
    store, logs, _ = month
    r = run("carrier", "lookup", "--store", str(store), "--ip", "203.0.113.1", "--port", "40001", "--at",
            "2026-11-17T14:03:27+01:00", "--json")
    assert r.returncode == 3, r.stderr  # ambiguous, and the exit code says so
    answer = json.loads(r.stdout)
    assert answer["ambiguous"] is True
    a10_log = logs[f"a10-{TARGET_DAY}"]
    sha = hashlib.sha256(a10_log.content).hexdigest()
    got = [(c["private_ip"], c["private_port"], c["source"]["file"], c["source"]["sha256"], c["source"]["line"],
            [s["subscriber"] for s in c["subscribers"]]) for c in answer["candidates"]]
    assert got == [("100.64.1.5", 5000, str(a10_log.path), sha, a10_log.marks["target-a"], ["sub-1-4"]),
                   ("100.64.1.6", 6000, str(a10_log.path), sha, a10_log.marks["target-b"], ["sub-1-5"])]
    first = answer["candidates"][0]
    assert first["source"]["end"]["line"] == a10_log.marks["target-a-end"]
    assert first["end"] == "2026-11-17T13:03:26.000Z"
    acct = logs["radius"]
    subscriber = first["subscribers"][0]
    assert subscriber["source"]["file"] == str(acct.path)
    assert subscriber["source"]["line"] == acct.marks[f"start 1-4-{TARGET_DAY}"]
    assert subscriber["source"]["sha256"] == hashlib.sha256(acct.content).hexdigest()

    # the other vendors' days answer too, each naming its own file and line
    for name, key, pub, port, at in (("srx", "3:2", "203.0.113.2", 20017, "2026-11-04T01:20:30Z"),
                                     ("f5", "28:5", "203.0.113.3", 20063, "2026-11-29T01:50:30Z")):
        day, i = map(int, key.split(":"))
        log = logs[f"{name}-{day}"]
        r = run("carrier", "lookup", "--store", str(store), "--ip", pub, "--port", str(port), "--at", at, "--json")
        assert r.returncode == 0, r.stderr
        (candidate,) = json.loads(r.stdout)["candidates"]
        assert candidate["source"]["file"] == str(log.path) and candidate["source"]["line"] == log.marks[key]
        k = 2 if name == "srx" else 3
        assert [s["subscriber"] for s in candidate["subscribers"]] == [f"sub-{k}-{i}"]


def test_the_preserved_answer_is_a_bundle_the_verifier_accepts(
        month: tuple[Path, dict[str, LogFile], list[Path]], tmp_path: Path) -> None:
    store, logs, _ = month
    out = tmp_path / "DE-2026-1117.zip"
    r = run("carrier", "preserve", "--store", str(store), "--ip", "203.0.113.1", "--port", "40001", "--from",
            "2026-11-17T14:03:00+01:00", "--to", "2026-11-17T14:04:00+01:00", "--out", str(out), "--case",
            "DE-2026-1117", "--json")
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    assert done["ambiguous"] is True and done["candidates"] == 2
    cited = {s["name"] for s in done["sources"]}
    assert cited == {str(logs[f"a10-{TARGET_DAY}"].path), str(logs["radius"].path)}
    v = run("verify", str(out), "--trust", done["key"]["verifier_file"])
    assert v.returncode == 0, v.stderr
    assert "VERIFIED" in v.stdout and "DE-2026-1117" in v.stdout
