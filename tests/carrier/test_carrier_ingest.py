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
import threading
import time
from pathlib import Path

import duckdb
import pytest
import zstandard

from nohaven.carrier import ingest as ingest_module
from nohaven.carrier.errors import ZoneRequiredError
from nohaven.carrier.ingest import ParseOptions, ingest
from nohaven.carrier.sources import Digests
from nohaven.carrier.store import Store

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
    with second.open("rb") as part, (tmp_path / "two.tmp").open("wb") as whole:  # long enough to be caught
        block = part.read()
        for copy in range(8):
            whole.write(block.replace(b"cgn-1 ", f"cgn-{copy + 1} ".encode()))
    (tmp_path / "two.tmp").replace(second)
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
        partial = [p for p in (killed / "tmp").glob("*.arrow")] if (killed / "tmp").exists() else []
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


# -- the digest computed beside the parse ---------------------------------------------------------------------
def _digests_seen(monkeypatch: pytest.MonkeyPatch, delay: float = 0.0) -> list[bool]:
    """Record, for each digest the ingest computes, whether it ran beside the parse (with a stop event); each
    one delayed by `delay` seconds, so that the parse gets ahead of it."""
    seen: list[bool] = []
    real = ingest_module.digest_file

    def digest(path: Path, stop: threading.Event | None = None) -> Digests:
        seen.append(stop is not None)
        time.sleep(delay)
        return real(path, stop=stop)

    monkeypatch.setattr(ingest_module, "digest_file", digest)
    return seen


@pytest.mark.parametrize("case", ["at-once", "digest-late", "parse-waits"])
def test_a_plain_file_parsed_beside_its_digest_gives_the_store_of_digest_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    synthetic_a10(logs / "one.log", 3_000, 1)
    synthetic_a10(logs / "two.log", 2_000, 2)
    files = [str(logs / "one.log"), str(DATA / "juniper-rtflow.log"), str(DATA / "freeradius-detail.log"),
             str(logs / "two.log")]
    monkeypatch.setattr(ingest_module, "BATCH", 1000)  # the event files in several batches
    first = ingest(Store(tmp_path / "first"), files, options=ParseOptions(block_bytes=4096, digest_first=True))
    if case == "parse-waits":  # every parsed block waits for the digest (the bound on the events held back)
        monkeypatch.setattr(ingest_module, "WAITING_BYTES", 1)
    seen = _digests_seen(monkeypatch, delay=0.0 if case == "at-once" else 0.3)
    beside = ingest(Store(tmp_path / "beside"), files, options=ParseOptions(block_bytes=4096))
    assert seen == [True] * len(files)  # each new plain file was parsed while its digest was computed
    assert snapshot(tmp_path / "beside") == snapshot(tmp_path / "first")
    for a, b in zip(beside.files, first.files, strict=True):
        assert (a.sha256, a.lines, a.records, a.events, a.rejects, a.skipped) == \
            (b.sha256, b.lines, b.records, b.events, b.rejects, b.skipped)
    assert not list((tmp_path / "beside" / "tmp").iterdir())
    assert not [t for t in threading.enumerate() if t.name.startswith("nohaven-digest")]


def test_a_stored_file_is_skipped_and_a_reingest_changes_nothing(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "one.log"
    synthetic_a10(log, 2_000, 1)
    store = Store(tmp_path / "s")
    ingest(store, [str(log), str(DATA / "a10.log")])
    before = snapshot(store.root)
    seen = _digests_seen(monkeypatch)
    copy = tmp_path / "copy.log"  # the same content under another name
    shutil.copyfile(log, copy)
    reported: list[int] = []
    again = ingest(store, [str(copy), str(log), str(DATA / "a10.log")], progress=reported.append)
    assert [f.skipped for f in again.files] == [True, True, True] and again.tables is None
    assert seen == [False, False, False]  # a stored source's size: digested first, then skipped
    assert sum(reported) == 2 * log.stat().st_size + (DATA / "a10.log").stat().st_size
    assert snapshot(store.root) == before


def test_a_file_found_stored_by_the_digest_beside_its_parse_is_skipped(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Its size said new (as when a file changes under the ingest), its digest says stored: the parse stops,
    nothing of it is written, it is reported as skipped."""
    log = tmp_path / "one.log"
    synthetic_a10(log, 20_000, 1)
    store = Store(tmp_path / "s")
    ingest(store, [str(log)])
    before = snapshot(store.root)
    seen = _digests_seen(monkeypatch)
    reported: list[int] = []
    with store.locked():
        result = ingest_module._ingest_one(store, log, str(log), "auto", None, reported.append, None,
                                           ParseOptions(block_bytes=4096), sizes=set())
    assert seen == [True] and result.skipped and result.format == "a10"
    assert result.sha256 == hashlib.sha256(log.read_bytes()).hexdigest()
    assert sum(reported) == log.stat().st_size  # as for a file skipped before its parse
    assert not list((store.root / "tmp").iterdir())
    assert snapshot(store.root) == before


def test_a_parse_that_fails_stops_the_digest_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "asa.log"
    log.write_bytes((DATA / "cisco-asa.log").read_bytes() * 20_000)  # local times, without --tz
    seen = _digests_seen(monkeypatch)
    with pytest.raises(ZoneRequiredError):
        ingest(Store(tmp_path / "s"), [str(log)], fmt="cisco-asa")
    assert seen == [True]
    assert not [t for t in threading.enumerate() if t.name.startswith("nohaven-digest")]
    assert not list((tmp_path / "s" / "tmp").iterdir()) and not list((tmp_path / "s" / "sources").iterdir())


def test_a_column_of_one_value_is_a_slice_of_a_kept_array_and_others_are_copied_whole() -> None:
    import pyarrow as pa

    from nohaven.carrier import schema

    seven = ingest_module._contiguous("src", pa.chunked_array([[7, 7], [7, 7, 7]], pa.int64()))
    again = schema.constant_array(pa.int64(), 7, 3)
    assert seven.to_pylist() == [7] * 5 and again.to_pylist() == [7] * 3
    assert seven.buffers()[1].address == again.buffers()[1].address  # one array for the value, not one a batch
    varied = ingest_module._contiguous("src", pa.chunked_array([[7, 8], [7]], pa.int64()))
    assert varied.to_pylist() == [7, 8, 7] and isinstance(varied, pa.Array)
    assert ingest_module._contiguous("kind", pa.chunked_array([["nat"], ["nat", "nat"]])).to_pylist() == ["nat"] * 3
    # a column not among those that are often of one value is copied whole, even when it is
    line = ingest_module._contiguous("line", pa.chunked_array([[5], [5]], pa.int64()))
    assert line.to_pylist() == [5, 5] and line.buffers()[1].address != schema.constant_array(
        pa.int64(), 5, 2).buffers()[1].address
    with_null = ingest_module._contiguous("nlines", pa.chunked_array([[1, None]], pa.int32()))
    assert with_null.to_pylist() == [1, None]
    # the same test of one value serves the ranged build's spill files (buildparts)
    assert schema.one_value(pa.chunked_array([[7, 7], [7]], pa.int64())) == (True, 7)
    assert schema.one_value(pa.array([None, None], pa.int64())) == (True, None)
    for many in ([7, 8], [7, None], []):
        assert schema.one_value(pa.array(many, pa.int64())) == (False, None)
    for value in range(100, 140):  # the values kept are bounded: an ingest of many files adds one source each
        schema.constant_array(pa.int64(), value, 4)
    assert len(schema._CONSTANTS) <= schema._CONSTANTS_KEPT


def test_events_that_will_not_fit_the_build_are_not_held_from_the_first_batch(tmp_path: Path) -> None:
    import pyarrow as pa

    from nohaven.carrier.schema import EVENT_SCHEMA

    batch = pa.Table.from_pydict({**{f.name: [None] * 100 for f in EVENT_SCHEMA}, "kind": ["nat"] * 100},
                                 schema=EVENT_SCHEMA).to_batches()[0]
    # 100 events of 10 kB read: 1 MB expected would make 10,000, more than twice the limit of 1000
    for expected, kept in ((1_000_000, False), (150_000, True), (0, True)):
        held = ingest_module._Held(1000, expected)
        into = ingest_module._Kept("a")
        held.seen(10_000)
        held.keep(batch, into)
        assert (held.on, len(into.batches)) == (kept, 1 if kept else 0), expected
        held.commit("sha", into)
        assert list(held.sources) == (["sha"] if kept else [])
    held = ingest_module._Held(150, 0)  # without a projection, the limit itself
    into = ingest_module._Kept("b")
    held.keep(batch, into)
    held.keep(batch, into)
    assert not held.on and into.batches == [] and into.spill is None  # no presplit given: nothing split
    # a source's events, estimated from those of the bytes parsed so far (for its spill's room on the disk)
    source = ingest_module._Kept("c", size=1_000_000)
    assert source.estimate() is None
    source.parsed(8000, 60)
    source.parsed(2000, 40)
    assert source.estimate() == 10_000 and ingest_module._Kept("d").estimate() is None
    # the lower bound of what an ingest will read: files' sizes, but plain files of a stored source's size
    plain, packed = tmp_path / "a.log", tmp_path / "b.log.zst"
    plain.write_text("x\n" * 500)
    packed.write_bytes(zstandard.ZstdCompressor().compress(b"y\n" * 500))
    sizes = packed.stat().st_size, plain.stat().st_size
    assert ingest_module._expected_bytes([str(plain), str(packed), "-", str(tmp_path / "gone")], set()) == sum(sizes)
    assert ingest_module._expected_bytes([str(plain), str(packed)], {1000}) == sizes[0]
    assert ingest_module._expected_bytes([str(packed)], {sizes[0]}) == sizes[0]  # compressed: always counted
