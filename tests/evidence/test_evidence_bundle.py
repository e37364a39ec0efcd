"""Sealed bundles: round trip, cosigning, and a changed byte in every region of a bundle is caught and named."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _evidence_support import Sealed, cli, run, sealed_fixture  # noqa: F401  (the `sealed` fixture)

from nohaven.evidence.bundle import cosign_bundle, seal
from nohaven.evidence.canonical import canonical_bytes
from nohaven.evidence.errors import BundleFormatError, StoreError, VerificationError
from nohaven.evidence.note import NoteSigner, SignedNote
from nohaven.evidence.store import DirectoryStore
from nohaven.evidence.verify import verify_bundle


def rewrite(bundle: Path, out: Path, member: str, data: bytes) -> Path:
    """A copy of the bundle with one member's bytes replaced (a well-formed ZIP, so our checks are what fail)."""
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == member else zin.read(info))
    return out


def failure(bundle: Path, trusted: list[Any]) -> VerificationError:
    with pytest.raises(VerificationError) as caught:
        verify_bundle(bundle, trusted)
    return caught.value


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_round_trip(sealed: Sealed) -> None:
    report = verify_bundle(sealed.bundle, [sealed.signer.verifier])
    assert report.case == "XA-2026-0042" and report.items == 3
    assert report.events == {"acquired": 3, "sealed": 1}
    assert report.total_bytes == sum(p.stat().st_size for p in sealed.evidence.rglob("*") if p.is_file())
    content = members(sealed.bundle)
    manifest = json.loads(content["manifest.json"])
    assert [i["path"] for i in manifest["items"]] == ["items/EX-1/seized/disk.img", "items/EX-1/seized/empty.log",
                                                      "items/EX-1/seized/mail/message.eml"]
    assert content["items/EX-1/seized/disk.img"] == (sealed.evidence / "disk.img").read_bytes()
    assert manifest["items"][0]["acquisition"]["authority"] == "search warrant 17/2026, investigating judge"
    assert content["custody/proofs/3.tlog-proof"].startswith(b"c2sp.org/tlog-proof@v1\nindex 3\n")


def test_every_item_byte_range_is_covered(sealed: Sealed, tmp_path: Path) -> None:
    trusted = [sealed.signer.verifier]
    content = members(sealed.bundle)
    for name in (n for n in content if n.startswith("items/")):
        data = content[name]
        variants = [flipped(data, i) for i in {0, len(data) // 2, len(data) - 1}] if data else []
        variants += [data + b"\x00", data[:-1]] if data else [b"\x00"]
        for variant in variants:
            err = failure(rewrite(sealed.bundle, tmp_path / "t.zip", name, variant), trusted)
            assert err.where == name, err.message


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def _set(doc: Any, path: str, value: Any) -> None:
    parts = path.replace("[", ".[").split(".")
    for part in parts[:-1]:
        doc = doc[int(part[1:-1])] if part.startswith("[") else doc[part]
    last = parts[-1]
    if last.startswith("["):
        doc[int(last[1:-1])] = value
    else:
        doc[last] = value


def test_every_manifest_field_and_byte_is_covered(sealed: Sealed, tmp_path: Path) -> None:
    trusted = [sealed.signer.verifier]
    original = members(sealed.bundle)["manifest.json"]
    manifest = json.loads(original)
    fields = list(_leaves(manifest))
    assert len(fields) > 40
    for path, value in fields:
        doc = json.loads(original)
        _set(doc, path, value + 1 if isinstance(value, int) else f"{value}x")
        err = failure(rewrite(sealed.bundle, tmp_path / "t.zip", "manifest.json", canonical_bytes(doc)), trusted)
        assert err.where.startswith("manifest.json"), (path, err.message)
    for at in range(0, len(original), 7):
        err = failure(rewrite(sealed.bundle, tmp_path / "t.zip", "manifest.json", flipped(original, at)), trusted)
        assert err.where.startswith("manifest.json"), (at, err.message)


def test_every_event_proof_and_checkpoint_byte_is_covered(sealed: Sealed, tmp_path: Path) -> None:
    trusted = [sealed.signer.verifier]
    content = members(sealed.bundle)
    for name, data in content.items():
        if name.startswith("custody/events/"):
            step, expect = 5, name
        elif name.startswith("custody/proofs/"):
            step, expect = 3, name
        elif name == "custody/checkpoint":
            step, expect = 1, name
        elif name == "case.jsonld":
            step, expect = 97, name
        else:
            continue
        for at in range(0, len(data), step):
            err = failure(rewrite(sealed.bundle, tmp_path / "t.zip", name, flipped(data, at)), trusted)
            assert expect in err.where, (name, at, err.where, err.message)


def test_added_removed_or_raw_changed_members(sealed: Sealed, tmp_path: Path) -> None:
    trusted = [sealed.signer.verifier]
    extra = tmp_path / "extra.zip"
    with zipfile.ZipFile(sealed.bundle) as zin, zipfile.ZipFile(extra, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info))
        zout.writestr("items/EX-1/planted.txt", b"planted")
    assert failure(extra, trusted).where == "items/EX-1/planted.txt"
    removed = tmp_path / "removed.zip"
    with zipfile.ZipFile(sealed.bundle) as zin, zipfile.ZipFile(removed, "w") as zout:
        for info in zin.infolist():
            if info.filename != "custody/events/1.json":
                zout.writestr(info, zin.read(info))
    assert failure(removed, trusted).where.startswith("custody/proofs/1")
    # A byte changed in place in the ZIP file itself, inside the stored disk image.
    raw = bytearray(sealed.bundle.read_bytes())
    with zipfile.ZipFile(sealed.bundle) as zf:
        info = zf.getinfo("items/EX-1/seized/disk.img")
    at = info.header_offset + 30 + len(info.filename) + len(info.extra) + 1000
    raw[at] ^= 0xFF
    (tmp_path / "raw.zip").write_bytes(bytes(raw))
    err = failure(tmp_path / "raw.zip", trusted)
    assert err.where == "items/EX-1/seized/disk.img"


def test_corrupt_truncated_and_missing(sealed: Sealed, tmp_path: Path) -> None:
    trusted = [sealed.signer.verifier]
    data = sealed.bundle.read_bytes()
    (tmp_path / "half.zip").write_bytes(data[: len(data) // 2])
    with pytest.raises(BundleFormatError, match="corrupt or truncated"):
        verify_bundle(tmp_path / "half.zip", trusted)
    (tmp_path / "junk.zip").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(BundleFormatError):
        verify_bundle(tmp_path / "junk.zip", trusted)
    with pytest.raises(BundleFormatError, match="no such file"):
        verify_bundle(tmp_path / "absent.zip", trusted)


def test_wrong_key_and_no_key(sealed: Sealed) -> None:
    impostor = NoteSigner.generate("xa.example/evidence")
    err = failure(sealed.bundle, [impostor.verifier])
    assert err.where == "custody/checkpoint" and "no signature by the trusted key" in err.message
    assert failure(sealed.bundle, []).where == "--trust"


def test_cosign_and_verify_both_signatures(sealed: Sealed, tmp_path: Path) -> None:
    receiver = NoteSigner.generate("xb.example/evidence")
    note = SignedNote.parse(members(sealed.bundle)["custody/checkpoint"])
    out = tmp_path / "cosigned.zip"
    cosign_bundle(sealed.bundle, out, receiver, note)
    report = verify_bundle(out, [sealed.signer.verifier, receiver.verifier])
    assert [(s.name, s.status, s.kind) for s in report.signatures] == [
        ("xa.example/evidence", "verified", "signature"), ("xb.example/evidence", "verified", "cosignature")]
    assert report.signatures[1].cosigned_at is not None and report.signatures[1].cosigned_at.endswith("Z")
    # The receiver's key given as a cosigner key (type 0x04) verifies its cosignature too.
    assert verify_bundle(out, [sealed.signer.verifier, receiver.verifier.cosigner]).signatures[1].kind == "cosignature"
    # Without the receiver's key its line is reported as not checked; the sender's key alone still verifies.
    alone = verify_bundle(out, [sealed.signer.verifier])
    assert alone.signatures[1].status == "not checked (key not trusted)"
    # The original bundle was not cosigned by the receiver: trusting both fails, naming the missing signer.
    assert "xb.example/evidence" in failure(sealed.bundle, [sealed.signer.verifier, receiver.verifier]).message
    # A cosignature byte changed is caught.
    cp = members(out)["custody/checkpoint"]
    err = failure(rewrite(out, tmp_path / "t.zip", "custody/checkpoint", flipped(cp, len(cp) - 10)),
                  [sealed.signer.verifier, receiver.verifier])
    assert err.where.startswith("custody/checkpoint")


def test_a_bundle_cosigned_in_the_older_plain_form_still_verifies(sealed: Sealed, tmp_path: Path) -> None:
    receiver = NoteSigner.generate("xb.example/evidence")
    note = SignedNote.parse(members(sealed.bundle)["custody/checkpoint"])
    plain = note.with_signature(receiver)  # the form bundles were cosigned in before tlog-cosignature
    data = members(sealed.bundle)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(sealed.bundle) as zin, zipfile.ZipFile(old, "w") as zout:
        for info in zin.infolist():
            body = data[info.filename]
            if info.filename == "custody/checkpoint":
                body = plain.serialize()
            elif info.filename.startswith("custody/proofs/"):
                body = body.replace(note.serialize(), plain.serialize())
            zout.writestr(info, body)
    report = verify_bundle(old, [sealed.signer.verifier, receiver.verifier])
    assert [(s.kind, s.cosigned_at) for s in report.signatures] == [("signature", None), ("signature", None)]
    # A cosigner-only key (type 0x04) does not accept the plain line: it names what is missing.
    assert "xb.example/evidence" in failure(old, [receiver.verifier.cosigner]).message


def test_seal_writes_nothing_half_way(sealed: Sealed, tmp_path: Path) -> None:
    # A stored item that no longer matches its acquisition: the seal is refused and no file is left behind.
    blob = next(p for p in sealed.store.blobs.rglob("*") if p.is_file() and p.stat().st_size > 1000)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-1] + b"!")
    size_before = sealed.store.log.size
    out = tmp_path / "second.zip"
    with pytest.raises(StoreError, match="no longer matches"):
        seal(sealed.store, sealed.store.log, sealed.signer, "XA-2026-0042", out, "olga.petrova")
    assert not out.exists() and list(tmp_path.glob(".second.zip*")) == []
    assert DirectoryStore(sealed.store.root).log.size == size_before  # no sealed event for a bundle never made


def test_cli_end_to_end_two_states(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Hash a folder, seal it in XA, cosign in XB, verify as a third person with only the bundle and two keys."""
    folder = tmp_path / "seized"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"\x00\x01" * 5000)
    for state in ("xa", "xb"):
        made = run(capsys, "evidence", "store", "init", str(tmp_path / state), "--origin", f"{state}.example/evidence")
        assert made.returncode == 0, made.stderr
    added = run(capsys, "evidence", "add", "--store", str(tmp_path / "xa"), "--case", "C-7", "--exhibit", "EX-1",
                "--source", "USB stick", "--authority", "order 5/2026", "--examiner", "olga", str(folder), "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["events"][0]["index"] == 0
    sealed = run(capsys, "evidence", "seal", "--store", str(tmp_path / "xa"), "--case", "C-7", "--out",
                 str(tmp_path / "c7.zip"), "--by", "olga")
    assert sealed.returncode == 0, sealed.stderr
    xa_key = str(tmp_path / "xa" / "keys" / "xa.example_evidence.vkey")
    xb_key = str(tmp_path / "xb" / "keys" / "xb.example_evidence.vkey")
    cosigned = run(capsys, "evidence", "cosign", str(tmp_path / "c7.zip"), "--trust", xa_key, "--store",
                   str(tmp_path / "xb"), "--out", str(tmp_path / "c7-xb.zip"), "--by", "jan")
    assert cosigned.returncode == 0, cosigned.stderr
    assert "received event 0" in cosigned.stdout
    xb_event = (tmp_path / "xb" / "custody" / "events.jsonl").read_text()
    assert '"event":"received"' in xb_event and '"from_log":"xa.example/evidence"' in xb_event
    done = cli("verify", str(tmp_path / "c7-xb.zip"), "--trust", xa_key, "--trust", xb_key)  # its own process
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("VERIFIED")
    assert "xa.example/evidence key id" in done.stdout and "xb.example/evidence key id" in done.stdout
    assert done.stderr.count("trusting ") == 2 and "fingerprint" in done.stderr
    # Wrong key: non-zero and says where.
    other = tmp_path / "other"
    run(capsys, "evidence", "keygen", "--name", "xa.example/evidence", "--out", str(other))
    bad = run(capsys, "verify", str(tmp_path / "c7-xb.zip"), "--trust", str(other / "xa.example_evidence.vkey"))
    assert bad.returncode == 1 and "FAILED: custody/checkpoint" in bad.stderr
    unreadable_key = run(capsys, "verify", str(tmp_path / "c7-xb.zip"), "--trust", str(tmp_path / "nope.vkey"))
    assert unreadable_key.returncode == 2
    # The cosign refuses a bundle that does not verify, and writes nothing.
    refused = run(capsys, "evidence", "cosign", str(tmp_path / "c7.zip"), "--trust",
                  str(other / "xa.example_evidence.vkey"), "--store", str(tmp_path / "xb"),
                  "--out", str(tmp_path / "never.zip"))
    assert refused.returncode == 1 and not (tmp_path / "never.zip").exists()
