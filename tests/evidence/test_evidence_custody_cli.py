"""`nohaven custody checkpoint|prove|consistency --store DIR` on the offline store: what they print checks out
against an independent recomputation of the RFC 9162 tree, the edge cases (size 0, equal sizes, last leaf)
behave as the RFC says, and bad indexes or sizes are refused with exit 2 naming the option."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from _evidence_support import make_evidence, run

from nohaven.evidence.merkle import ProofError, verify_consistency, verify_inclusion
from nohaven.evidence.note import Checkpoint, NoteVerifier, SignedNote
from nohaven.evidence.proofs import InclusionProof
from nohaven.evidence.store import DirectoryStore


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, written out directly."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


@pytest.fixture
def store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store whose log holds five events: four acquired files and the seal."""
    made = run(capsys, "evidence", "store", "init", str(tmp_path / "xa"), "--origin", "xa.example/evidence")
    assert made.returncode == 0, made.stderr
    folder = make_evidence(tmp_path)
    (folder / "extra.txt").write_text("one more\n")
    added = run(capsys, "evidence", "add", "--store", str(tmp_path / "xa"), "--case", "C-1", "--exhibit", "EX-1",
                "--source", "USB stick", "--authority", "order 5/2026", "--examiner", "olga", str(folder))
    assert added.returncode == 0, added.stderr
    sealed = run(capsys, "evidence", "seal", "--store", str(tmp_path / "xa"), "--case", "C-1", "--out",
                 str(tmp_path / "c1.zip"), "--by", "olga")
    assert sealed.returncode == 0, sealed.stderr
    return tmp_path / "xa"


def _events(store: Path) -> list[bytes]:
    return [data for _i, data in DirectoryStore(store).log.events()]


def _verifier(store: Path) -> NoteVerifier:
    return NoteVerifier.parse((store / "keys" / "xa.example_evidence.vkey").read_text())


def test_checkpoint_is_signed_and_commits_to_every_event(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = _events(store)
    assert len(events) == 5
    done = run(capsys, "custody", "checkpoint", "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    cp = json.loads(done.stdout)
    assert (cp["origin"], cp["size"]) == ("xa.example/evidence", 5)
    assert base64.b64decode(cp["root"]) == naive_root(events)
    note = SignedNote.parse(cp["checkpoint"].encode())
    assert note.signed_by(_verifier(store)) is not None
    assert Checkpoint.from_text(note.text) == Checkpoint("xa.example/evidence", 5, naive_root(events))
    text = run(capsys, "custody", "checkpoint", "--store", str(store))
    assert text.returncode == 0 and text.stdout.startswith("xa.example/evidence\n5\n" + cp["root"] + "\n\n\u2014 ")


@pytest.mark.parametrize("index", [0, 1, 3, 4])  # first, inner, and the last leaf
def test_prove_gives_an_inclusion_proof_that_verifies(store: Path, capsys: pytest.CaptureFixture[str],
                                                      index: int) -> None:
    events = _events(store)
    done = run(capsys, "custody", "prove", "--index", str(index), "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["index"] == index and got["tree_size"] == 5
    assert base64.b64decode(got["leaf_hash"]) == hashlib.sha256(b"\x00" + events[index]).digest()
    assert json.dumps(got["event"], sort_keys=True, separators=(",", ":")).encode() == events[index]
    path = [base64.b64decode(h) for h in got["proof"]]
    verify_inclusion(index, 5, base64.b64decode(got["leaf_hash"]), path, naive_root(events))
    proof = InclusionProof.parse(got["tlog_proof"].encode())  # the C2SP text form carries the same
    assert (proof.index, list(proof.path)) == (index, path)
    assert proof.checkpoint.signed_by(_verifier(store)) is not None
    with pytest.raises(ProofError):  # and the check can fail: a changed hash of the path does not prove it
        verify_inclusion(index, 5, base64.b64decode(got["leaf_hash"]),
                         [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]], naive_root(events))
    plain = run(capsys, "custody", "prove", "--index", str(index), "--store", str(store))
    assert plain.returncode == 0 and plain.stdout.startswith(f"c2sp.org/tlog-proof@v1\nindex {index}\n")


@pytest.mark.parametrize(("old", "new", "length"), [(1, 5, None), (3, 4, None), (2, 2, 0), (0, 5, 0), (0, 0, 0),
                                                     (4, 5, None)])
def test_consistency_proofs_verify_including_the_edge_cases(store: Path, capsys: pytest.CaptureFixture[str],
                                                            old: int, new: int, length: int | None) -> None:
    events = _events(store)
    done = run(capsys, "custody", "consistency", "--old", str(old), "--new", str(new), "--store", str(store),
               "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["format"] == "nohaven-consistency-proof/1" and doc["origin"] == "xa.example/evidence"
    old_root, new_root = naive_root(events[:old]), naive_root(events[:new])
    assert (doc["old"]["size"], base64.b64decode(doc["old"]["root"])) == (old, old_root)
    assert (doc["new"]["size"], base64.b64decode(doc["new"]["root"])) == (new, new_root)
    proof = [base64.b64decode(h) for h in doc["proof"]]
    if length is not None:
        assert len(proof) == length  # RFC 9162: empty for old = 0 and for old = new
    verify_consistency(old, new, old_root, new_root, proof)
    if 0 < old < new:
        with pytest.raises(ProofError):  # another old root is not consistent with this proof
            verify_consistency(old, new, naive_root(events[1:old + 1]), new_root, proof)


def test_consistency_defaults_to_the_log_size_and_prints_for_people(store: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    done = run(capsys, "custody", "consistency", "--old", "2", "--store", str(store))
    assert done.returncode == 0, done.stderr
    root2, root5 = (base64.b64encode(naive_root(_events(store)[:n])).decode() for n in (2, 5))
    assert done.stdout.startswith(f"log xa.example/evidence: size 2 root {root2} is a prefix of size 5 root {root5}")


@pytest.mark.parametrize(("args", "option"), [
    (["prove", "--index", "5"], "--index"),
    (["prove", "--index", "-1"], "--index"),
    (["consistency", "--old", "4", "--new", "3"], "old"),
    (["consistency", "--old", "1", "--new", "6"], "old"),
])
def test_bad_indexes_and_sizes_are_refused_naming_the_option(store: Path, capsys: pytest.CaptureFixture[str],
                                                             args: list[str], option: str) -> None:
    before = _events(store)
    done = run(capsys, "custody", *args, "--store", str(store))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert option in done.stderr and "Traceback" not in done.stderr
    assert _events(store) == before


def test_an_empty_log_has_the_empty_root(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "evidence", "store", "init", str(tmp_path / "e"), "--origin", "e.example/log").returncode == 0
    done = run(capsys, "custody", "checkpoint", "--store", str(tmp_path / "e"), "--json")
    assert done.returncode == 0, done.stderr
    cp = json.loads(done.stdout)
    assert cp["size"] == 0 and base64.b64decode(cp["root"]) == hashlib.sha256(b"").digest()
    refused = run(capsys, "custody", "prove", "--index", "0", "--store", str(tmp_path / "e"))
    assert refused.returncode == 2 and "no event 0" in refused.stderr
