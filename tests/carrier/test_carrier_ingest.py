"""Ingest through the real command: compressed inputs and stdin, rejects with their reasons, idempotence, and a
run killed with SIGKILL mid-file that, run again, leaves exactly the store one clean run leaves."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import zstandard

DATA = Path(__file__).resolve().parent / "_data"
CLI = [sys.executable, "-m", "nohaven.cli.main", "carrier"]


def carrier(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input=stdin.decode() if stdin else None, capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def snapshot(store: Path) -> dict[str, str]:
    """Every file of the store (but its lock) and its SHA-256."""
    return {str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(store.rglob("*")) if p.is_file() and p.name != "LOCK"}


def test_ingest_plain_gz_zst_and_stdin(tmp_path: Path) -> None:
    a10 = (DATA / "a10.log").read_bytes()
    (tmp_path / "a10.log.gz").write_bytes(gzip.compress(a10))
    (tmp_path / "rtflow.log.zst").write_bytes(zstandard.ZstdCompressor().compress((DATA / "juniper-rtflow.log")
                                                                                  .read_bytes()))
    store = tmp_path / "store"
    r = carrier("ingest", "--store", str(store), "--json", str(tmp_path / "a10.log.gz"),
                str(tmp_path / "rtflow.log.zst"))
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert (result["records"], result["rejects"], result["lines"]) == (5, 2, 8)
    assert [f["format"] for f in result["files"]] == ["a10", "juniper-rtflow"]
    assert all(f["detected"] for f in result["files"])
    # the same a10 content through stdin and in plain text is the same source: nothing is stored twice
    r = carrier("ingest", "--store", str(store), "--format", "a10", "-", stdin=a10)
    assert r.returncode == 0, r.stderr
    assert "already in the store" in r.stdout and "0 records, 0 rejects" in r.stdout
    manifests = [json.loads(p.read_text()) for p in (store / "sources").glob("*.json")]
    assert sorted(m["format"] for m in manifests) == ["a10", "juniper-rtflow"]
    gz = next(m for m in manifests if m["format"] == "a10")
    assert gz["content_sha256"] == hashlib.sha256(a10).hexdigest()
    assert gz["file_sha256"] == hashlib.sha256((tmp_path / "a10.log.gz").read_bytes()).hexdigest()
    # rejects: file, line number, reason and the raw text, never dropped
    rejects = (store / "rejects" / f"{gz['content_sha256']}.tsv").read_text().splitlines()
    assert rejects[0] == "file\tline\treason\ttext"
    assert rejects[1].split("\t")[1:3] == ["4", "port 99999 is outside 0-65535"]
    # the stored raw text is the source, byte for byte
    raw = zstandard.ZstdDecompressor().stream_reader((store / "raw" / f"{gz['content_sha256']}.zst").open("rb"))
    assert raw.read() == a10
    # every stored record keeps its source id and line
    # (the NAT table keeps the closing line as its distance from the first)
    nat = f"read_parquet('{store}/tables/nat/*/*.parquet')"
    rows = duckdb.connect().execute(f"SELECT src, line, line + end_dline FROM {nat}").fetchall()
    assert {src for src, _, _ in rows} == {gz["source_id"], next(m["source_id"] for m in manifests if m is not gz)}
    assert {(line, end) for src, line, end in rows if src == gz["source_id"]} == {(1, 3), (2, None)}


def test_stdin_source(tmp_path: Path) -> None:
    r = carrier("ingest", "--store", str(tmp_path / "s"), "-", stdin=(DATA / "conntrack.log").read_bytes())
    assert r.returncode == 0, r.stderr
    assert "conntrack (detected)" in r.stderr
    assert "2 records, 1 rejects" in r.stdout


def test_local_time_refused_without_zone(tmp_path: Path) -> None:
    r = carrier("ingest", "--store", str(tmp_path / "s"), "--format", "cisco-asa", str(DATA / "cisco-asa.log"))
    assert r.returncode == 2
    assert "--tz" in r.stderr and "Traceback" not in r.stderr
    assert not list((tmp_path / "s" / "sources").glob("*.json"))
    r = carrier("ingest", "--store", str(tmp_path / "s"), "--tz", "Europe/Berlin", str(DATA / "cisco-asa.log"))
    assert r.returncode == 0, r.stderr
    assert "3 records, 1 rejects" in r.stdout


def synthetic_a10(path: Path, rows: int, seed: int) -> None:
    """CGNAT sessions in a10 form: creations, then frees, over one hour."""
    lines = []
    base = 1_795_745_000
    for i in range(rows):
        t = base + (i * 7 + seed) % 3600
        sub = f"100.64.{(i // 250) % 256}.{i % 250 + 1}"
        pub = f"203.0.113.{i % 8 + 1}"
        port = 1024 + (i * 13) % 60000
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t))
        end = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(t + 30 + i % 50))
        lines.append(f"{stamp} cgn-1 NAT-TCP-C: {sub}:{40000 + i % 20000}<->192.0.2.80:443,{pub}:{port}<-->"
                     "192.0.2.80:443")
        lines.append(f"{end} cgn-1 NAT-TCP-F: {sub}:{40000 + i % 20000}<->192.0.2.80:443,{pub}:{port}<-->"
                     "192.0.2.80:443")
        if i % 5000 == 0:
            lines.append(f"{stamp} cgn-1 NAT-TCP-C: broken line {i}")
    path.write_text("\n".join(lines) + "\n")


def test_killed_ingest_resumes_to_the_same_store(tmp_path: Path) -> None:
    first, second = tmp_path / "one.log", tmp_path / "two.log"
    synthetic_a10(first, 3_000, 1)
    synthetic_a10(second, 50_000, 2)
    clean = tmp_path / "clean"
    r = carrier("ingest", "--store", str(clean), str(first), str(second), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*CLI, "ingest", "--store", str(killed), str(first), str(second)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    # wait until the first source is committed and the second is being parsed, then kill without warning
    while time.monotonic() < deadline:
        committed = list((killed / "sources").glob("*.json")) if (killed / "sources").exists() else []
        partial = [p for p in (killed / "tmp").glob("*.parquet")] if (killed / "tmp").exists() else []
        if committed and partial and partial[0].stat().st_size > 0:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the ingest finished before it could be killed; make the input larger"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(list((killed / "sources").glob("*.json"))) == 1  # the second source was not committed
    assert not (killed / "tables").exists() or snapshot(killed) != snapshot(clean)
    r = carrier("ingest", "--store", str(killed), str(first), str(second), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "already in the store" in r.stdout
    assert snapshot(killed) == snapshot(clean)
    # and once more: nothing changes
    r = carrier("ingest", "--store", str(killed), str(second), str(first), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert snapshot(killed) == snapshot(clean)
    shutil.rmtree(clean)
