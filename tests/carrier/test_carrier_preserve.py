"""Preservation through the real command: a sealed evidence bundle that the real verifier (`nohaven verify`)
accepts, holding the cited raw lines, the records and the answer; a changed byte fails; a carrier key made on first
use (0600, its public key beside it) or given with --key; a bad --key refused before anything is written."""

from __future__ import annotations

import hashlib
import json
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import zstandard

from nohaven.carrier.ingest import ingest
from nohaven.carrier.store import Store
from nohaven.evidence.note import NoteSigner

DATA = Path(__file__).resolve().parent / "_data"
NOHAVEN = [sys.executable, "-m", "nohaven.cli.main"]
PERIOD = ["--ip", "203.0.113.9", "--port", "40001", "--from", "2026-11-27T03:14:00+01:00", "--to",
          "2026-11-27T03:16:00+01:00"]


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    names = ("a10", "juniper-rtflow", "freeradius-detail", "isc-dhcpd-leases")
    ingest(Store(root), [str(DATA / f"{n}.log") for n in names])
    return root


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The command's result, its standard error with the console's line wrapping undone."""
    done = subprocess.run([*NOHAVEN, *args], capture_output=True, text=True, timeout=300)
    done.stderr = " ".join(done.stderr.split())
    return done


def verify(bundle: Path, trust: str) -> subprocess.CompletedProcess[str]:
    return run("verify", str(bundle), "--trust", trust)


def rezip(source: Path, target: Path, change: str, edit: bytes) -> None:
    """Copy a bundle with one member's bytes replaced (a valid ZIP: only the seal can catch it)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, edit if info.filename == change else data)


def test_preserve_writes_a_bundle_the_verifier_accepts(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.zip"
    r = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(out), "--case", "DE-2026-77",
            "--authority", "preservation order 12/26", "--by", "liaison-1", "--json")
    assert r.returncode == 0, r.stderr
    done = json.loads(r.stdout)
    key = done["key"]
    assert key["created"] is True and "made the carrier's signing key" in r.stderr
    assert stat.S_IMODE(Path(key["file"]).stat().st_mode) == 0o600
    vkey = Path(key["verifier_file"])
    assert vkey.parent == Path(key["file"]).parent and vkey.read_text().strip() == key["verifier_key"]
    assert (store / "evidence" / "custody" / "events.jsonl").exists()  # the custody log is kept in the store

    ok = verify(out, str(vkey))
    assert ok.returncode == 0, ok.stderr
    assert "VERIFIED" in ok.stdout and key["fingerprint"] in ok.stdout and "DE-2026-77" in ok.stdout
    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        items = {i["name"]: i for i in manifest["items"]}
        a10_sha = hashlib.sha256((DATA / "a10.log").read_bytes()).hexdigest()
        raw = zf.read(items[f"raw/{a10_sha}.txt"]["path"]).decode().splitlines()
        answer = json.loads(zf.read(items["answer.json"]["path"]))
        records = zf.read(items["records.jsonl"]["path"]).decode().splitlines()
        description = json.loads(zf.read(items["preservation.json"]["path"]))
    lines = (DATA / "a10.log").read_text().splitlines()
    assert raw == [f"1\t{lines[0]}", f"3\t{lines[2]}"]  # the creation and the free of the a10 mapping
    radius_sha = hashlib.sha256((DATA / "freeradius-detail.log").read_bytes()).hexdigest()
    assert f"raw/{radius_sha}.txt" in items  # the subscriber's RADIUS lines are frozen too
    assert answer["ambiguous"] is True and len(records) == len(answer["candidates"]) == description["candidates"]
    assert description["query"]["from_utc"] == "2026-11-27T02:14:00.000Z"
    assert {i["acquisition"]["authority"] for i in manifest["items"]} == {"preservation order 12/26"}
    assert {i["acquisition"]["examiner"] for i in manifest["items"]} == {"liaison-1"}
    assert a10_sha in next(iter(manifest["items"]))["acquisition"]["source"]

    # One changed byte of a frozen raw line, in an otherwise valid ZIP: the verifier names the item.
    path = items[f"raw/{a10_sha}.txt"]["path"]
    with zipfile.ZipFile(out) as zf:
        data = bytearray(zf.read(path))
    data[data.index(b"100.64.23.122")] ^= 0x01
    tampered = tmp_path / "tampered.zip"
    rezip(out, tampered, path, bytes(data))
    bad = verify(tampered, str(vkey))
    assert bad.returncode == 1
    assert path in bad.stderr and "SHA256" in bad.stderr and "Traceback" not in bad.stderr
    # A changed byte in the raw file on disk (ZIP CRC) fails too, naming the member.
    blob = bytearray(out.read_bytes())
    blob[blob.index(b"100.64.23.122")] ^= 0x01
    flipped = tmp_path / "flipped.zip"
    flipped.write_bytes(bytes(blob))
    bad = verify(flipped, str(vkey))
    assert bad.returncode == 1 and "FAILED" in bad.stderr and "Traceback" not in bad.stderr


def test_second_preservation_reuses_the_key_and_the_case_accumulates(store: Path, tmp_path: Path) -> None:
    first = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(tmp_path / "1.zip"),
                "--case", "C-1", "--json")
    assert first.returncode == 0, first.stderr
    second = run("carrier", "preserve", "--store", str(store), "--ip", "203.0.113.9", "--port", "40002", "--from",
                 "2026-11-27T02:14:00Z", "--to", "2026-11-27T02:15:00Z", "--out", str(tmp_path / "2.zip"),
                 "--case", "C-1", "--json")
    assert second.returncode == 0, second.stderr
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert two["key"]["created"] is False and two["key"]["fingerprint"] == one["key"]["fingerprint"]
    assert two["sealed_items"] == one["sealed_items"] + len(two["items"])  # the case's bundle holds both exhibits
    assert verify(tmp_path / "2.zip", two["key"]["verifier_file"]).returncode == 0
    assert "made the carrier's signing key" not in second.stderr


def test_preserve_with_a_given_key(store: Path, tmp_path: Path) -> None:
    key_file, vkey_file = NoteSigner.generate("isp-1.example/carrier").save(tmp_path / "keys")
    out = tmp_path / "p.zip"
    r = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(out), "--key", str(key_file))
    assert r.returncode == 0, r.stderr
    assert "isp-1.example/carrier" in r.stdout
    assert verify(out, str(vkey_file)).returncode == 0
    store_keys = list((store / "evidence" / "keys").glob("*.vkey"))
    refused = verify(out, str(store_keys[0]))  # signed by the given key, not the store's own
    store_key = store_keys[0].read_text().split("+")[0]
    assert refused.returncode == 1 and f"by the trusted key {store_key}" in refused.stderr


def test_bad_key_is_refused_before_anything_is_written(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.zip"
    r = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(out), "--key",
            str(tmp_path / "missing.key"))
    assert r.returncode == 2 and "--key" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists() and not (store / "evidence").exists()
    loose = tmp_path / "loose.key"
    NoteSigner.generate("k").save(tmp_path / "k")
    loose.write_bytes((tmp_path / "k" / "k.key").read_bytes())
    loose.chmod(0o644)
    r = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(out), "--key", str(loose))
    assert r.returncode == 2 and "chmod 600" in r.stderr
    assert not out.exists()


def test_an_unwritable_bundle_path_is_refused_before_anything_is_acquired(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "adir"
    folder.mkdir()
    r = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(folder))
    assert r.returncode == 2 and "is a directory" in r.stderr and "internal error" not in r.stderr
    assert not (store / "evidence").exists()  # nothing acquired, no custody event


def test_a_changed_stored_copy_is_refused_and_nothing_is_written(store: Path, tmp_path: Path) -> None:
    """The raw lines come from the store's compressed copy of each source: a copy that no longer matches its
    source's SHA-256 (here: one changed byte in the a10 log's copy, recompressed) stops the preservation."""
    a10 = hashlib.sha256((DATA / "a10.log").read_bytes()).hexdigest()
    copy = store / "raw" / f"{a10}.zst"
    text = bytearray(zstandard.ZstdDecompressor().stream_reader(copy.read_bytes(), read_across_frames=True).read())
    text[-3] ^= 1  # a byte past every cited line: only the digest can notice
    copy.write_bytes(zstandard.ZstdCompressor().compress(bytes(text)))
    out = tmp_path / "p.zip"
    r = run("carrier", "preserve", "--store", str(store), *PERIOD, "--out", str(out), "--case", "DE-2026-78",
            "--authority", "preservation order 13/26", "--by", "liaison-1")
    assert r.returncode != 0
    assert f"the stored copy of source {a10} no longer matches its SHA-256" in r.stderr
    assert "internal error" not in r.stderr and not out.exists()
