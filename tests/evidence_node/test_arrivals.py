"""A sealed bundle delivered over the federation is verified and cosigned on arrival, by real node processes.

XA asks XB for preservation by the platform channel; XB's officer takes the request, seizes files, seals them and
attaches the bundle, which XB's node delivers to XA's. XA's node verifies it with XB's directory key, cosigns
its checkpoint (C2SP tlog-cosignature), logs `received` and notes it on the request; anyone then verifies the
cosigned copy offline with both keys. A bundle changed on the way is kept as a plain attachment, the failed
check named on the timeline and audited; a file that is not a bundle is left alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "federation"))
from bundletools import tampered
from nettools import NetNode, Network, build_network, outgoing_preservation, running, wait_for

from nohaven.audit.models import AuditEntry
from nohaven.auth.policy import Peer
from nohaven.blobs import BlobStore
from nohaven.evidence.bundle import seal
from nohaven.evidence.store import Acquisition, DirectoryStore, acquire
from nohaven.evidence_node import arrivals, receiving
from nohaven.evidence_node import service as evidence
from nohaven.evidence_node.models import CustodyEvent, EvidenceBundle
from nohaven.requests import peer
from nohaven.requests import service as requests
from nohaven.requests.models import CooperationRequest, RequestAttachment, RequestEvent
from nohaven.timeutil import utcnow

NOHAVEN = Path(sys.executable).with_name("nohaven")
ENV = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}


@pytest.fixture
def net(tmp_path: Path, db_url: str) -> Iterator[Network]:
    """XA (where bundles arrive) on SQLite and on PostgreSQL; XB on SQLite."""
    network = build_network(tmp_path / "net", database_urls={"XA": db_url})
    with running(network) as started:
        yield started


def _events(node: NetNode, request_id: int, kind: str) -> list[str]:
    with node.node.db.read_session() as session:
        return list(session.execute(select(RequestEvent.note).where(
            RequestEvent.request_id == request_id, RequestEvent.kind == kind).order_by(RequestEvent.id)).scalars())


def _attach(b: NetNode, request_id: int, name: str, path: Path) -> None:
    digest, size = BlobStore(b.node.settings.blob_dir).put_file(path)
    with b.node.work() as session:
        peer.add_attachment(session, b.subject(), request_id, name=name, media_type="application/zip", size=size,
                            sha256=digest, now=utcnow())


def _received_attachments(a: NetNode, request_id: int) -> list[str]:
    with a.node.db.read_session() as session:
        return list(session.execute(select(RequestAttachment.name).where(
            RequestAttachment.request_id == request_id, RequestAttachment.origin == "received")
            .order_by(RequestAttachment.id)).scalars())


def test_a_delivered_bundle_is_verified_and_cosigned_and_a_changed_one_is_kept_unverified(
        net: Network, tmp_path: Path) -> None:
    a, b = net["XA"], net["XB"]
    with a.node.work() as session:
        asked = requests.create_request(session, a.subject(), outgoing_preservation(1))
        object_id, request_id, a_case = asked.exchange_id, asked.id, asked.case.reference
    incoming = wait_for(lambda: [r for r in b.incoming() if r.exchange_id == object_id], 30, "XB to receive it",
                        a, b)[0]
    with b.node.work() as session:
        requests.acknowledge(session, b.subject(), incoming.id)
        got = session.get(CooperationRequest, incoming.id)
        assert got is not None
        b_case = got.case.reference

    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "mailbox.mbox").write_bytes(os.urandom(200_000))
    (seized / "notes.txt").write_text("ransom paid from wallet 1\n")
    evidence.add_evidence(b.node, b.subject(), case=b_case, exhibit="EX-7", source="mail server of Examplenet",
                          authority="preservation order 3/2026", location="XB lab", paths=[seized])
    sealed = evidence.seal_case(b.node, b.subject(), b_case)
    sealed_path = BlobStore(b.node.settings.blob_dir).path(sealed["sha256"])
    not_a_bundle = tmp_path / "subscriber.csv"
    not_a_bundle.write_text("msisdn,subscriber\n+15555550123,Example Subscriber\n")
    _attach(b, incoming.id, "subscriber.csv", not_a_bundle)
    _attach(b, incoming.id, "evidence.zip", sealed_path)

    # XA's node verified the bundle with XB's key from the directory, cosigned it and logged `received`.
    notes = wait_for(lambda: _events(a, request_id, "evidence_received"), 60, "XA to receive the bundle", a, b)
    assert "evidence.zip verified" in notes[0] and f"case {b_case}" in notes[0] and "2 items" in notes[0]
    assert _received_attachments(a, request_id) == ["subscriber.csv", "evidence.zip"]  # both kept as delivered
    with a.node.db.read_session() as session:
        kept = session.execute(select(EvidenceBundle)).scalars().all()
        assert [(k.kind, k.name, k.tree_size) for k in kept] == [("received", "evidence.zip", sealed["tree_size"])]
        received = session.execute(select(CustodyEvent).where(CustodyEvent.kind == "received")).scalars().all()
        assert [(r.seq, r.case_reference) for r in received] == [(kept[0].event_seq, a_case)]
        details = json.loads(received[0].data)["details"]
        assert details["from_case"] == b_case and details["bundle_sha256"] == sealed["sha256"]
        assert details["received_from"] == f"XB/{b.demo.node_id}"
        audited = session.execute(select(AuditEntry.outcome).where(AuditEntry.action == "evidence.receive")
                                  ).scalars().all()
        assert audited == ["ok"]
        cosigned = BlobStore(a.node.settings.blob_dir).path(kept[0].sha256)
    assert kept[0].sha256 != sealed["sha256"]

    # What the node runs on the stored content before the delivery's transaction opens (so the database is not
    # held while a large bundle is hashed): the report the hook then uses.
    found = arrivals.verify_before(peer.Arrival(a.node.settings, net.directory), Peer("XB", b.demo.node_id),
                                   [{"sha256": sealed["sha256"]}], utcnow())
    assert found[sealed["sha256"]][2][1].items == 2

    # A third person verifies the cosigned copy offline with both public keys.
    xb_key, xa_key = tmp_path / "xb.vkey", tmp_path / "xa.vkey"
    xb_key.write_text(evidence.checkpoint(b.node, b.subject())["verifier_key"] + "\n")
    xa_key.write_text(evidence.checkpoint(a.node, a.subject())["verifier_key"] + "\n")
    done = subprocess.run([str(NOHAVEN), "verify", str(cosigned), "--trust", str(xb_key), "--trust", str(xa_key),
                           "--json"], capture_output=True, text=True, env=ENV, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["case"] == b_case and report["items"] == 2
    signatures = [(s["name"], s["status"], s["kind"]) for s in report["signatures"]]
    assert signatures == [(xb_key.read_text().split("+")[0], "verified", "signature"),
                          (xa_key.read_text().split("+")[0], "verified", "cosignature")]
    assert report["signatures"][1]["cosigned_at"].endswith("Z")
    assert report["signatures"][0]["cosigned_at"] is None

    # A bundle changed on the way: kept as the attachment it is, the failed check named, audited; nothing logged.
    changed = tampered(sealed_path, tmp_path / "tampered.zip", "notes.txt", b"wallet 1", b"wallet 2")
    _attach(b, incoming.id, "evidence-again.zip", changed)
    failed = wait_for(lambda: _events(a, request_id, "evidence_not_verified"), 60, "XA to refuse the bundle", a, b)
    assert "evidence-again.zip" in failed[0] and "notes.txt" in failed[0] and "SHA256 is" in failed[0]
    assert _received_attachments(a, request_id) == ["subscriber.csv", "evidence.zip", "evidence-again.zip"]
    with a.node.db.read_session() as session:
        assert len(session.execute(select(EvidenceBundle)).scalars().all()) == 1
        assert len(session.execute(select(CustodyEvent).where(CustodyEvent.kind == "received")).all()) == 1
        outcomes = session.execute(select(AuditEntry.outcome, AuditEntry.actor).where(
            AuditEntry.action == "evidence.receive").order_by(AuditEntry.seq)).all()
        assert [tuple(o) for o in outcomes] == [("ok", "federation-inbox"), ("failed", "federation-inbox")]
    assert _events(a, request_id, "evidence_received") == notes  # the CSV and the bad bundle noted nothing more

    # A bundle sealed elsewhere (a carrier's own store, its own key), forwarded by XB: sound, but no key the
    # directory lists for XB signed it, so XA keeps it unverified and says why.
    store = DirectoryStore.init(tmp_path / "carrier", "carrier.example/preservation")
    acquire(store, store.log, [seized / "notes.txt"], Acquisition(
        case="P-1", exhibit="LOG-1", examiner="noc", source="NAT logs", authority="preservation order 3/2026"))
    seal(store, store.log, store.signer(), "P-1", tmp_path / "carrier.zip", "noc")
    _attach(b, incoming.id, "carrier.zip", tmp_path / "carrier.zip")
    refused = wait_for(lambda: _events(a, request_id, "evidence_not_verified")[1:], 60, "XA to note it", a, b)
    assert "carrier.zip" in refused[0] and "no signature by a key the network directory lists for XB/" in refused[0]

    # The same bundle once XB has received it (verified with the carrier's key) and cosigned it: XB's cosignature
    # is what XA's directory trusts, so XA verifies it by that and adds its own.
    got = receiving.receive_bundle(b.node, b.subject(), case=b_case, bundle=tmp_path / "carrier.zip",
                                   trusted=[store.signer().verifier])
    _attach(b, incoming.id, "carrier-cosigned.zip", BlobStore(b.node.settings.blob_dir).path(got.view["sha256"]))
    passed_on = wait_for(lambda: _events(a, request_id, "evidence_received")[1:], 60, "XA to receive it", a, b)
    assert "carrier-cosigned.zip verified (case P-1 of log carrier.example/preservation" in passed_on[0]
