"""One-pass multi-digest hashing, hashdeep's format (checked against the real hashdeep) and the audit."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest
from _evidence_support import cli, make_evidence, require_tool, run

from nohaven.evidence.errors import UnknownAlgorithmError
from nohaven.evidence.hashdeep import audit, parse_hashdeep
from nohaven.evidence.hashing import MultiHasher, hash_paths, parse_algorithms


class CountingReader(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self.data, self.pos, self.bytes_read = data, 0, 0

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def,override]
        n = min(len(buffer), len(self.data) - self.pos)
        buffer[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        self.bytes_read += n
        return n


@pytest.mark.parametrize("size", [0, 1, 100_000, 9 * 1024 * 1024 + 3])
def test_one_pass_gives_the_three_digests(size: int) -> None:
    data = os.urandom(size)
    reader = CountingReader(data)
    with MultiHasher(chunk=1024 * 1024) as hasher:
        result = hasher.hash_stream(reader)
    assert reader.bytes_read == size  # every byte read exactly once
    assert result.size == size
    assert result.digests == {"sha256": hashlib.sha256(data).hexdigest(),
                              "sha1": hashlib.sha1(data, usedforsecurity=False).hexdigest(),
                              "md5": hashlib.md5(data, usedforsecurity=False).hexdigest()}


def test_algorithms() -> None:
    assert parse_algorithms("MD5, sha256") == ("sha256", "md5")
    with pytest.raises(UnknownAlgorithmError, match="sha3"):
        parse_algorithms("sha256,sha3")


def test_walk_is_sorted_does_not_follow_links_and_reports_unreadable(tmp_path: Path) -> None:
    folder = make_evidence(tmp_path)
    (folder / "link").symlink_to(folder / "disk.img")
    entries = hash_paths([folder, tmp_path / "absent", Path("/proc/self/mem")])
    assert [e.display for e in entries] == [str(folder / n) for n in ("disk.img", "empty.log", "link",
                                                                     "mail/message.eml")] + \
        [str(tmp_path / "absent"), "/proc/self/mem"]
    by_name = {Path(e.display).name: e for e in entries}
    assert by_name["link"].skipped == "symbolic link, not followed" and not by_name["link"].digests
    assert by_name["absent"].error and "No such file" in by_name["absent"].error
    assert by_name["mem"].error  # /proc/self/mem cannot be read from offset 0, even by root
    assert by_name["empty.log"].digests["md5"] == hashlib.md5(b"", usedforsecurity=False).hexdigest()


def test_cli_hash_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = make_evidence(tmp_path)
    done = cli("evidence", "hash", str(folder), "--json")
    assert done.returncode == 0, done.stderr
    files = json.loads(done.stdout)["files"]
    assert [Path(f["path"]).name for f in files] == ["disk.img", "empty.log", "message.eml"]
    assert files[0]["sha256"] == hashlib.sha256((folder / "disk.img").read_bytes()).hexdigest()
    bad = run(capsys, "evidence", "hash", str(folder), "/proc/self/mem")
    assert bad.returncode == 1 and "/proc/self/mem" in bad.stderr
    algo = run(capsys, "evidence", "hash", str(folder), "--algo", "sha512")
    assert algo.returncode == 2 and "unknown digest algorithm sha512" in algo.stderr


def test_hashdeep_format_matches_real_hashdeep(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    hashdeep = require_tool("hashdeep")
    make_evidence(tmp_path)
    real = subprocess.run([hashdeep, "-c", "md5,sha1,sha256", "-l", "-r", "seized"], cwd=tmp_path,
                          capture_output=True, text=True, check=True).stdout
    monkeypatch.chdir(tmp_path)
    ours = run(capsys, "evidence", "hash", "--format", "hashdeep", "seized").stdout
    header = [ln for ln in real.splitlines() if ln.startswith("%%%%")]
    assert header == [ln for ln in ours.splitlines() if ln.startswith("%%%%")]
    rows = lambda text: sorted(ln for ln in text.splitlines() if ln and not ln.startswith(("%", "#")))  # noqa: E731
    assert rows(ours) == rows(real)
    # hashdeep audits against our file, and we audit against its file.
    (tmp_path / "ours.txt").write_text(ours)
    (tmp_path / "real.txt").write_text(real)
    assert subprocess.run([hashdeep, "-c", "md5,sha1,sha256", "-l", "-r", "-a", "-k", "ours.txt", "seized"],
                          cwd=tmp_path, capture_output=True).returncode == 0
    done = run(capsys, "evidence", "audit", "--known", "real.txt", "seized", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(json.loads(done.stdout)["matched"]) == 3


def test_audit_matched_changed_moved_new_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = make_evidence(tmp_path)
    known = run(capsys, "evidence", "hash", "--format", "hashdeep", "seized").stdout
    (tmp_path / "known.txt").write_text(known)
    (folder / "empty.log").write_bytes(b"changed")
    (folder / "mail" / "message.eml").rename(folder / "moved.eml")
    (folder / "new.txt").write_text("new")
    (folder / "disk.img").rename(tmp_path / "elsewhere.img")
    done = run(capsys, "evidence", "audit", "-k", "known.txt", "seized", "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["changed"] == ["seized/empty.log"]
    assert report["moved"] == [{"path": "seized/moved.eml", "from": "seized/mail/message.eml"}]
    assert report["new"] == ["seized/new.txt"]
    assert report["missing"] == ["seized/disk.img"]
    assert report["passed"] is False
    text = run(capsys, "evidence", "audit", "-k", "known.txt", "seized").stdout
    assert "seized/moved.eml: moved from seized/mail/message.eml" in text and "audit FAILED" in text


def test_audit_refuses_bad_known_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnknownAlgorithmError, match="whirlpool"):
        parse_hashdeep("%%%% HASHDEEP-1.0\n%%%% size,whirlpool,filename\n")
    with pytest.raises(ValueError, match="line 3"):
        parse_hashdeep("%%%% HASHDEEP-1.0\n%%%% size,md5,filename\nnot-a-size,abc,x\n")
    (tmp_path / "k.txt").write_text("%%%% HASHDEEP-1.0\n%%%% size,tiger,filename\n")
    done = run(capsys, "evidence", "audit", "-k", str(tmp_path / "k.txt"), str(tmp_path))
    assert done.returncode == 2 and "tiger" in done.stderr
    assert audit([], []).passed


@pytest.mark.parametrize("step", [1000, 100_000, 300_000, 5_000_000, 1 << 30])
def test_short_reads_of_any_size_give_hashlibs_digests(step: int) -> None:
    """Streams that return fewer bytes than asked (ZIP members, pipes) are hashed whole, whatever the read sizes;
    small reads inline, large ones through the digest workers' ring of buffers, and both mixed."""
    data = os.urandom(3_000_000) + bytes(range(256)) * 40_000

    class Trickle:
        def __init__(self) -> None:
            self.source = io.BytesIO(data)

        def readinto(self, buffer: memoryview) -> int:
            chunk = self.source.read(min(len(buffer), step))
            buffer[:len(chunk)] = chunk
            return len(chunk)

    seen: list[int] = []
    with MultiHasher() as hasher:
        got = hasher.hash_stream(Trickle(), seen.append)
    assert got.size == len(data) and sum(seen) == len(data)
    assert got.digests == {a: hashlib.new(a, data).hexdigest() for a in ("sha256", "sha1", "md5")}
