"""RFC 3161 timestamps of a sealed checkpoint, from a real local TSA (`openssl ts -reply` on loopback): sealing
stores the token, the verifier checks its imprint and, given the TSA's root, its signature, and says what it
checked; a token for other data, a foreign root, a missing token and an unreachable TSA are each named."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from _evidence_support import make_evidence, require_tool, run
from _tsa_support import LocalTSA, make_ca, tsa_fixture  # noqa: F401  (the `tsa` fixture)

from conftest import request_body
from nohaven.auth.policy import Subject
from nohaven.evidence.bundle import cosign_bundle
from nohaven.evidence.note import NoteSigner, SignedNote
from nohaven.evidence.timestamp import TIMESTAMP, request_token
from nohaven.evidence.verify import verify_bundle
from nohaven.evidence_node import service
from nohaven.evidence_node.storage import log_signer
from nohaven.node import Node
from nohaven.requests import service as requests


def _store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str]:
    store = tmp_path / "xa"
    assert run(capsys, "evidence", "store", "init", str(store), "--origin", "xa.example/evidence").returncode == 0
    added = run(capsys, "evidence", "add", "--store", str(store), "--case", "C-3", "--exhibit", "EX-1", "--source",
                "phone", "--authority", "warrant 9/2026", "--examiner", "olga", str(make_evidence(tmp_path)))
    assert added.returncode == 0, added.stderr
    return store, str(store / "keys" / "xa.example_evidence.vkey")


def _replace(bundle: Path, out: Path, member: str, data: bytes) -> Path:
    with zipfile.ZipFile(bundle) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, data if info.filename == member else zin.read(info))
    return out


def test_seal_with_a_tsa_and_verify_the_token(tsa: LocalTSA, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store, vkey = _store(tmp_path, capsys)
    bundle = tmp_path / "c3.zip"
    sealed = run(capsys, "evidence", "seal", "--store", str(store), "--case", "C-3", "--out", str(bundle), "--by",
                 "olga", "--tsa-url", tsa.url)
    assert sealed.returncode == 0, sealed.stderr
    assert len(tsa.queries) == 1
    with zipfile.ZipFile(bundle) as zf:
        token = zf.read(TIMESTAMP)
        note = SignedNote.parse(zf.read("custody/checkpoint"))

    checked = run(capsys, "verify", str(bundle), "--trust", vkey, "--tsa-cert", str(tsa.ca_cert), "--json")
    assert checked.returncode == 0, checked.stderr
    stamp = json.loads(checked.stdout)["timestamp"]
    assert "message imprint = SHA-256 of the checkpoint" in stamp["checked"]
    assert "TSA signature and certificate chain verified to CN=Test TSA CA" in stamp["checked"]
    assert "Test TSA" in stamp["tsa"] and stamp["policy"] == "1.2.3.4.1"
    at = datetime.fromisoformat(stamp["gen_time"].replace("Z", "+00:00"))
    assert abs(at - datetime.now(UTC)) < timedelta(minutes=5)
    assert "CN=Test TSA CA" in checked.stderr  # the verifier says which TSA root it trusted
    people = run(capsys, "verify", str(bundle), "--trust", vkey, "--tsa-cert", str(tsa.ca_cert))
    assert people.returncode == 0 and "timestamp:  RFC 3161 token of" in people.stdout

    unchecked = run(capsys, "verify", str(bundle), "--trust", vkey, "--json")
    assert unchecked.returncode == 0
    assert "TSA signature not checked (no --tsa-cert given)" in json.loads(unchecked.stdout)["timestamp"]["checked"]

    # Another authority's root: the signature does not verify to it, and the verifier says so.
    other_ca, _key = make_ca(require_tool("openssl"), tmp_path / "other", "Other CA")
    foreign = run(capsys, "verify", str(bundle), "--trust", vkey, "--tsa-cert", str(other_ca))
    assert foreign.returncode == 1 and f"FAILED: {TIMESTAMP}: the TSA's signature does not verify" in foreign.stderr

    # A genuine token of the same TSA, but for other data: its imprint gives it away.
    elsewhere = request_token(tsa.url, b"some other checkpoint\n")
    swapped = _replace(bundle, tmp_path / "swapped.zip", TIMESTAMP, elsewhere)
    failed = run(capsys, "verify", str(swapped), "--trust", vkey, "--tsa-cert", str(tsa.ca_cert))
    assert failed.returncode == 1 and "message imprint is not the SHA-256 of the checkpoint" in failed.stderr
    garbled = _replace(bundle, tmp_path / "garbled.zip", TIMESTAMP, token[:40])
    assert "not a readable TimeStampResp" in run(capsys, "verify", str(garbled), "--trust", vkey).stderr

    # The receiving State's cosignature leaves the token as it was; both still verify.
    receiver = NoteSigner.generate("xb.example/evidence")
    cosigned = tmp_path / "c3-xb.zip"
    cosign_bundle(bundle, cosigned, receiver, note)
    from nohaven.evidence.timestamp import load_tsa_certificates

    report = verify_bundle(cosigned, [receiver.verifier], tsa_roots=load_tsa_certificates([str(tsa.ca_cert)]))
    assert report.timestamp is not None and "chain verified" in report.timestamp["checked"]


def test_asking_for_a_token_that_is_not_there_and_an_unreachable_tsa(tmp_path: Path, tsa: LocalTSA,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    store, vkey = _store(tmp_path, capsys)
    plain = tmp_path / "plain.zip"
    assert run(capsys, "evidence", "seal", "--store", str(store), "--case", "C-3", "--out", str(plain), "--by",
               "olga").returncode == 0
    missing = run(capsys, "verify", str(plain), "--trust", vkey, "--tsa-cert", str(tsa.ca_cert))
    assert missing.returncode == 1 and f"{TIMESTAMP}: missing" in missing.stderr
    assert json.loads(run(capsys, "verify", str(plain), "--trust", vkey, "--json").stdout)["timestamp"] is None
    bad_cert = tmp_path / "not-a-cert.pem"
    bad_cert.write_text("hello\n")
    refused = run(capsys, "verify", str(plain), "--trust", vkey, "--tsa-cert", str(bad_cert))
    assert refused.returncode == 2 and "--tsa-cert" in refused.stderr

    away = tmp_path / "away.zip"
    down = run(capsys, "evidence", "seal", "--store", str(store), "--case", "C-3", "--out", str(away), "--by", "olga",
               "--tsa-url", "http://127.0.0.1:9/tsr")
    assert down.returncode == 1 and "the TSA at http://127.0.0.1:9/tsr did not answer" in down.stderr
    assert not away.exists() and list(tmp_path.glob(".away.zip*")) == []  # nothing written half-way
    wrong = run(capsys, "evidence", "seal", "--store", str(store), "--case", "C-3", "--out", str(away), "--by",
                "olga", "--tsa-url", "ftp://127.0.0.1/tsr")
    assert wrong.returncode == 2 and "--tsa-url" in wrong.stderr


def test_a_node_seal_is_timestamped_when_a_tsa_is_configured(node: Node, people: dict[str, Subject],
                                                             tsa: LocalTSA, tmp_path: Path) -> None:
    with node.work() as session:
        requests.create_request(session, people["olga"], request_body(case_reference="XA-5"))
    service.add_evidence(node, people["olga"], case="XA-5", exhibit="EX-2", source="server", authority="order 4",
                         location="lab", paths=[make_evidence(tmp_path)])
    node.settings.evidence_tsa_url = tsa.url  # as NOHAVEN_EVIDENCE_TSA_URL would set it
    view = service.seal_case(node, people["olga"], "XA-5")
    assert view["timestamped"] is True and len(tsa.queries) == 1
    from nohaven.evidence.timestamp import load_tsa_certificates

    with node.work() as session:
        origin = service.node_log(session, node.settings).origin
    kept = Path(node.settings.blob_dir) / view["sha256"][:2] / view["sha256"]
    report = verify_bundle(kept, [log_signer(node.settings, origin).verifier],
                           tsa_roots=load_tsa_certificates([str(tsa.ca_cert)]))
    assert report.timestamp is not None and "chain verified to CN=Test TSA CA" in report.timestamp["checked"]
    assert report.events == {"acquired": 3, "sealed": 1}
