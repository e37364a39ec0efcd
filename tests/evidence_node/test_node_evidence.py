"""Evidence in a node, on SQLite and PostgreSQL: acquisition into the blob store with an `acquired` event in the
database's custody log, sealing into a bundle the offline verifier accepts, proofs, receiving and cosigning, and
the policy and audit around each step; the API routes through TestClient."""

from __future__ import annotations

import json
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conftest import auth, make_token, make_user, request_body
from nohaven.audit import log as audit_log
from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Subject
from nohaven.errors import NotFoundError, PermissionDeniedError
from nohaven.evidence.errors import VerificationError
from nohaven.evidence.merkle import verify_consistency, verify_inclusion
from nohaven.evidence.note import NoteSigner
from nohaven.evidence.proofs import InclusionProof
from nohaven.evidence.verify import verify_bundle
from nohaven.evidence_node import receiving, service
from nohaven.evidence_node.models import CustodyEvent
from nohaven.evidence_node.storage import log_signer
from nohaven.node import Node
from nohaven.requests import service as requests

CASE = "XA-2026-0042"


@pytest.fixture
def case_with_olga(node: Node, people: dict[str, Subject]) -> str:
    with node.work() as session:
        requests.create_request(session, people["olga"], request_body(case_reference=CASE))
    return CASE


def _files(tmp_path: Path) -> Path:
    seized = tmp_path / "seized"
    (seized / "photos").mkdir(parents=True, exist_ok=True)
    (seized / "notes.txt").write_text("meeting at 10\n")
    (seized / "photos" / "img.bin").write_bytes(bytes(range(256)) * 400)
    return seized


def _signer(node: Node) -> NoteSigner:
    with node.work() as session:
        origin = service.node_log(session, node.settings).origin
    return log_signer(node.settings, origin)


def test_add_seal_prove_and_verify_offline(node: Node, people: dict[str, Subject], case_with_olga: str,
                                           tmp_path: Path) -> None:
    olga = people["olga"]
    items = service.add_evidence(node, olga, case=CASE, exhibit="EX-1", source="laptop of the suspect",
                                 authority="search warrant 17/2026", location="XA lab", paths=[_files(tmp_path)])
    assert [i["name"] for i in items] == ["seized/notes.txt", "seized/photos/img.bin"]
    assert [i["custody_event"] for i in items] == [0, 1]
    blob = Path(node.settings.blob_dir) / items[1]["sha256"][:2] / items[1]["sha256"]
    assert blob.read_bytes() == bytes(range(256)) * 400

    sealed = service.seal_case(node, olga, CASE)
    assert sealed["items"] == 2 and sealed["custody_event"] == 2 and sealed["kind"] == "sealed"
    bundle = Path(node.settings.blob_dir) / sealed["sha256"][:2] / sealed["sha256"]
    report = verify_bundle(bundle, [_signer(node).verifier])
    assert report.case == CASE and report.items == 2 and report.events == {"acquired": 2, "sealed": 1}

    proof = service.prove(node, olga, 1)
    parsed = InclusionProof.parse(proof["tlog_proof"].encode())
    assert proof["event"]["event"] == "acquired" and proof["tree_size"] == 3
    from nohaven.evidence.merkle import leaf_hash
    with node.db.session() as session:
        data = session.get(CustodyEvent, 1).data  # type: ignore[union-attr]
    from nohaven.evidence.note import Checkpoint
    root = Checkpoint.from_text(parsed.checkpoint.text).root
    verify_inclusion(1, 3, leaf_hash(data), list(parsed.path), root)

    doc = service.consistency(node, olga, 1, None)
    import base64
    verify_consistency(1, 3, base64.b64decode(doc["old"]["root"]), base64.b64decode(doc["new"]["root"]),
                       [base64.b64decode(h) for h in doc["proof"]])

    with node.work() as session:
        listed = service.case_evidence(session, olga, CASE)
        assert [b["id"] for b in listed["bundles"]] == [sealed["id"]]
        actions = set(session.execute(select(AuditEntry.action)).scalars())
        assert {"evidence.add", "evidence.seal", "evidence.list", "custody.prove", "custody.consistency"} <= actions
        assert audit_log.verify(session).ok


def test_outsiders_neither_see_nor_add_and_are_audited(node: Node, people: dict[str, Subject],
                                                        case_with_olga: str, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        service.add_evidence(node, people["otto"], case=CASE, exhibit="EX-9", source="s", authority="a",
                             location="", paths=[_files(tmp_path)])
    assert not list(Path(node.settings.blob_dir).glob("??/*"))  # refused before anything was copied
    with pytest.raises(NotFoundError), node.work() as session:
        service.case_evidence(session, people["aldo"], CASE)
    with pytest.raises(PermissionDeniedError):
        service.checkpoint(node, people["ada"])  # an admin manages users, not evidence
    # A supervisor may act on any case's evidence.
    service.add_evidence(node, people["sam"], case=CASE, exhibit="EX-2", source="s", authority="a", location="",
                         paths=[_files(tmp_path) / "notes.txt"])
    with pytest.raises(NotFoundError):
        service.prove(node, people["otto"], 0)  # the event's content belongs to the case
    with node.db.session() as session:
        denied = session.execute(select(AuditEntry.action).where(AuditEntry.outcome == "denied")).scalars().all()
    assert "evidence.add" in denied and "evidence.read" in denied and "custody.read" in denied


def test_receive_cosigns_and_logs_received(node: Node, people: dict[str, Subject], case_with_olga: str,
                                           tmp_path: Path) -> None:
    """A bundle from another State's (directory) store: verified with its key, cosigned, `received` logged."""
    from nohaven.evidence.bundle import seal
    from nohaven.evidence.store import Acquisition, DirectoryStore, acquire

    sender = DirectoryStore.init(tmp_path / "xb-store", "xb.example/evidence")
    acquire(sender, sender.log, [_files(tmp_path)], Acquisition(case="XB-7", exhibit="A", examiner="kurt",
                                                                source="server", authority="order 3"))
    seal(sender, sender.log, sender.signer(), "XB-7", tmp_path / "xb.zip", "kurt")
    theirs = sender.signer().verifier

    with pytest.raises(VerificationError):
        receiving.receive_bundle(node, people["olga"], case=CASE, bundle=tmp_path / "xb.zip",
                               trusted=[NoteSigner.generate("xb.example/evidence").verifier])
    got = receiving.receive_bundle(node, people["olga"], case=CASE, bundle=tmp_path / "xb.zip", trusted=[theirs])
    assert got.view["kind"] == "received" and got.report.case == "XB-7"
    assert [s["name"] for s in got.view["signatures"]] == ["xb.example/evidence", _signer(node).name]
    kept = Path(node.settings.blob_dir) / got.view["sha256"][:2] / got.view["sha256"]
    report = verify_bundle(kept, [theirs, _signer(node).verifier])
    assert [s.status for s in report.signatures] == ["verified", "verified"]
    with node.db.session() as session:
        event = session.get(CustodyEvent, got.view["custody_event"])
        assert event is not None and event.kind == "received" and event.case_reference == CASE
    with zipfile.ZipFile(kept) as zf:
        assert zf.read("custody/checkpoint").count("—".encode()) == 2


def test_api_add_list_seal_download_checkpoint(node: Node, client: Any, people: dict[str, Subject],
                                               case_with_olga: str) -> None:
    token = make_token(node, "olga")
    content = b"captured mailbox export\n" * 4000
    made = client.post(f"/api/v1/cases/{CASE}/evidence", content=content, headers=auth(token),
                       params={"name": "mailbox.mbox", "exhibit": "EX-3", "source": "mail provider",
                               "authority": "production order 5", "location": "remote"})
    assert made.status_code == 201, made.text
    assert made.json()["items"][0]["name"] == "mailbox.mbox" and made.json()["items"][0]["size"] == len(content)
    missing = client.post(f"/api/v1/cases/{CASE}/evidence", content=b"x", headers=auth(token),
                          params={"name": "x", "exhibit": "E"})
    assert missing.status_code == 422 and missing.headers["content-type"].startswith("application/problem+json")

    listed = client.get(f"/api/v1/cases/{CASE}/evidence", headers=auth(token)).json()
    assert [i["exhibit"] for i in listed["items"]] == ["EX-3"]
    sealed = client.post(f"/api/v1/cases/{CASE}/evidence/seal", headers=auth(token))
    assert sealed.status_code == 201, sealed.text
    got = client.get(f"/api/v1/cases/{CASE}/evidence/bundles/{sealed.json()['id']}", headers=auth(token))
    assert got.status_code == 200 and got.headers["x-content-sha256"] == sealed.json()["sha256"]
    item = client.get(f"/api/v1/cases/{CASE}/evidence/items/{listed['items'][0]['id']}", headers=auth(token))
    assert item.status_code == 200 and item.content == content
    assert 'filename*=UTF-8\'\'mailbox.mbox' in item.headers["content-disposition"]
    cp = client.post("/api/v1/custody/checkpoint", headers=auth(token)).json()
    assert cp["size"] == 4 and cp["checkpoint"].startswith(cp["origin"] + "\n4\n")
    # Who took a copy, and when, is in the custody log (besides the audit log).
    taken = _custody(node)
    assert [(e["event"], e["actor"]) for e in taken] == [("acquired", "olga"), ("sealed", "olga"),
                                                         ("exported", "olga"), ("accessed", "olga")]
    assert taken[2]["details"]["bundle_sha256"] == sealed.json()["sha256"] and taken[2]["details"]["via"] == "api"
    assert taken[3]["items"] == [listed["items"][0]["sha256"]] and taken[3]["details"]["name"] == "mailbox.mbox"

    make_user(node, "oscar", "officer")
    outsider = make_token(node, "oscar")
    assert client.get(f"/api/v1/cases/{CASE}/evidence", headers=auth(outsider)).status_code == 404
    assert client.post(f"/api/v1/cases/{CASE}/evidence/seal", headers=auth(outsider)).status_code == 404
    assert client.get(f"/api/v1/cases/{CASE}/evidence/items/{listed['items'][0]['id']}",
                      headers=auth(outsider)).status_code == 404
    assert client.get(f"/api/v1/cases/{CASE}/evidence/items/999", headers=auth(token)).status_code == 404
    assert len(_custody(node)) == 4  # a refused or missing download logs no custody event


def _custody(node: Node) -> list[dict[str, Any]]:
    with node.db.read_session() as session:
        return [json.loads(data) for data in session.execute(select(CustodyEvent.data).order_by(CustodyEvent.seq))
                .scalars()]


def test_the_log_is_free_while_a_seal_copies_its_items(node: Node, people: dict[str, Subject], case_with_olga: str,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another officer acquires evidence (which appends to the custody log) while the seal is copying items into
    the ZIP: it completes at once, since the seal holds no transaction then; the bundle stays whole."""
    olga = people["olga"]
    service.add_evidence(node, olga, case=CASE, exhibit="EX-1", source="laptop", authority="warrant 1",
                         location="lab", paths=[_files(tmp_path)])
    with node.work() as session:
        requests.create_request(session, olga, request_body(case_reference="XA-OTHER"))
    other = tmp_path / "other"
    other.mkdir()
    (other / "log.txt").write_text("another case\n")
    finished: list[float] = []

    class CopyingWhileOthersWrite(service.NodeBlobs):
        def open_blob(self, sha256: str) -> Any:
            if not finished:
                def acquire() -> None:
                    service.add_evidence(node, olga, case="XA-OTHER", exhibit="EX-9", source="phone",
                                         authority="warrant 2", location="lab", paths=[other])
                    finished.append(time.monotonic())
                worker = threading.Thread(target=acquire)
                started = time.monotonic()
                worker.start()
                worker.join(timeout=20)
                assert finished and finished[0] - started < 10, "the acquisition waited for the seal"
            return super().open_blob(sha256)

    monkeypatch.setattr(service, "NodeBlobs", CopyingWhileOthersWrite)
    sealed = service.seal_case(node, olga, CASE)
    assert sealed["custody_event"] == 3  # after the other case's acquisition (event 2)
    bundle = Path(node.settings.blob_dir) / sealed["sha256"][:2] / sealed["sha256"]
    report = verify_bundle(bundle, [_signer(node).verifier])
    assert report.items == 2 and report.events == {"acquired": 2, "sealed": 1} and report.tree_size == 4
