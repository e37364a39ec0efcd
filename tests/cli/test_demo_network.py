"""`nohaven demo` as a user runs it: three real node processes on loopback, the preservation scenario driven from
XA to XB and printed step by step, then each node's database and audit chain checked from outside; preparing the
demo network again changes nothing, and the scenario runs again on the same data directory."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import free_ports
from nohaven.audit import log as audit
from nohaven.auth.models import User
from nohaven.blobs import BlobStore
from nohaven.config import Settings
from nohaven.demo.seed import DEMO_USERS
from nohaven.directory.models import State
from nohaven.federation.models import InstalledDirectory
from nohaven.node import Node
from nohaven.requests.models import CooperationRequest, RequestAttachment

NOHAVEN = Path(sys.executable).with_name("nohaven")
STATES = ("xa", "xb", "xc")
STEPS = [str(n) for n in range(1, 9)]
ATTACHMENT = "preservation-confirmation.json"

pytestmark = pytest.mark.xdist_group("demo-network")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOHAVEN_")}
    # Poll the outbox every 200 ms rather than every 2 s: the same exchange, a few times faster. Wide lines so
    # that no step is wrapped.
    env.update({"NOHAVEN_FEDERATION_POLL_SECONDS": "0.2", "COLUMNS": "250"})
    return env


def _nohaven(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """Run the CLI; on a timeout stop the whole process group, so no demo node outlives the test."""
    process = subprocess.Popen([str(NOHAVEN), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=_env(), start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            out, err = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
        pytest.fail(f"nohaven {' '.join(args)} did not finish within {timeout:.0f} s:\n{out}\n{err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@contextmanager
def _database(data_dir: Path) -> Iterator[Node]:
    node = Node(Settings(data_dir=data_dir, demo_mode=True))
    try:
        yield node
    finally:
        node.close()


def _serial(base: Path) -> int:
    return int(json.loads((base / "network-directory.json").read_text())["directory"]["serial"])


def _audit_intact(base: Path) -> dict[str, int]:
    """Entries in each node's audit log, after `nohaven audit verify` found its chain intact."""
    counts = {}
    for name in STATES:
        done = _nohaven("--data-dir", str(base / name), "audit", "verify", "--json", timeout=60)
        assert done.returncode == 0, f"audit chain of {name}:\n{done.stdout}\n{done.stderr}"
        result = json.loads(done.stdout)
        assert result["ok"] is True and result["first_broken_seq"] is None, result
        counts[name] = result["entries"]
    return counts


def _run_scenario(base: Path, port: int) -> tuple[str, str, str]:
    """Run the scenario; returns the references it printed: XA's request, XB's copy, XA's MLA request."""
    done = _nohaven("--data-dir", str(base), "demo", "--port", str(port), "--scenario", "preservation", "--exit")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    steps = re.findall(r"^(\d)\. ", done.stdout, flags=re.MULTILINE)
    assert steps == STEPS, f"steps printed: {steps}\n{done.stdout}"
    assert "Traceback" not in output
    ours = re.search(r"^   (XA-\d{4}-\d+) created", done.stdout, flags=re.MULTILINE)
    theirs = re.search(r"^2\. .* holds the request as (XB-\d{4}-\d+)$", done.stdout, flags=re.MULTILINE)
    mla = re.search(r"^7\. XA files the follow-up MLA request (XA-\d{4}-\d+), linked to (XA-\d{4}-\d+)$",
                    done.stdout, flags=re.MULTILINE)
    assert ours and theirs and mla, done.stdout
    assert mla.group(2) == ours.group(1)
    assert f"6. XA sees {ours.group(1)} Preserved, and {ATTACHMENT}" in done.stdout
    return ours.group(1), theirs.group(1), mla.group(1)


def _check_requesting_side(base: Path, reference: str, mla_reference: str) -> bytes:
    """XA holds its request Preserved, the confirmation received from XB and the MLA request linked; returns the
    confirmation's bytes."""
    with _database(base / "xa") as node, node.db.session() as session:
        req = session.execute(select(CooperationRequest).where(CooperationRequest.reference == reference)).scalar_one()
        assert (req.type, req.direction, req.channel, req.requested_state) == ("preservation", "outgoing",
                                                                                "platform", "XB")
        assert req.status == "Preserved" and req.preserved_at is not None and req.acknowledged_at is not None
        assert req.exchange_id and (req.peer_country, req.peer_node_id) == ("XB", "xb-bfp")
        mla = session.get(CooperationRequest, req.follow_up_mla_id)
        assert mla is not None and (mla.reference, mla.type, mla.direction) == (mla_reference, "mla", "outgoing")
        attachments = session.execute(select(RequestAttachment).where(RequestAttachment.request_id == req.id)
                                      ).scalars().all()
        assert [(a.name, a.origin) for a in attachments] == [(ATTACHMENT, "received")]
        content = BlobStore(node.settings.blob_dir).path(attachments[0].sha256).read_bytes()
        assert hashlib.sha256(content).hexdigest() == attachments[0].sha256 and len(content) == attachments[0].size
        assert json.loads(content)["preserved"] is True
        return content


def _check_requested_side(base: Path, reference: str, their_reference: str, content: bytes) -> None:
    """XB holds the request as received from XA: acknowledged, Preserved, the MLA request linked, and the same
    confirmation it sent."""
    with _database(base / "xb") as node, node.db.session() as session:
        req = session.execute(select(CooperationRequest).where(CooperationRequest.reference == their_reference)
                              ).scalar_one()
        assert (req.type, req.direction, req.requesting_state, req.requested_state) == ("preservation", "incoming",
                                                                                        "XA", "XB")
        assert req.their_reference == reference
        assert req.acknowledged_at is not None and req.acknowledged_by is not None
        assert req.status == "Preserved" and req.preserved_at is not None
        assert (req.peer_country, req.peer_node_id) == ("XA", "xa-ncu")
        mla = session.get(CooperationRequest, req.follow_up_mla_id)
        assert mla is not None and (mla.type, mla.direction, mla.requesting_state) == ("mla", "incoming", "XA")
        attachment = session.execute(select(RequestAttachment).where(RequestAttachment.request_id == req.id)
                                     ).scalar_one()
        assert (attachment.name, attachment.origin) == (ATTACHMENT, "added")
        assert attachment.sha256 == hashlib.sha256(content).hexdigest()


def _check_directory_installed(base: Path) -> None:
    serial = _serial(base)
    for name in STATES:
        with _database(base / name) as node, node.db.session() as session:
            assert session.execute(select(func.max(InstalledDirectory.serial))).scalar_one() == serial, name


def test_preservation_scenario_runs_and_runs_again(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    port = free_ports(3)
    reference, their_reference, mla_reference = _run_scenario(base, port)
    content = _check_requesting_side(base, reference, mla_reference)
    _check_requested_side(base, reference, their_reference, content)
    _check_directory_installed(base)
    first_audit = _audit_intact(base)
    serial = _serial(base)
    # XC took part in nothing, but its node ran and installed the directory.
    assert all(count > 0 for count in first_audit.values()), first_audit

    # The same data directory again: the nodes start on what they kept and exchange a second request.
    again = _run_scenario(base, port)
    assert again[0] != reference and again[1] != their_reference and again[2] != mla_reference
    content = _check_requesting_side(base, again[0], again[2])
    _check_requested_side(base, again[0], again[1], content)
    assert _serial(base) == serial  # same ports, same keys: the signed directory is kept as it was
    second_audit = _audit_intact(base)
    assert second_audit["xa"] > first_audit["xa"] and second_audit["xb"] > first_audit["xb"]
    with _database(base / "xa") as node, node.db.session() as session:
        exchanged = session.execute(select(CooperationRequest.reference, CooperationRequest.status).where(
            CooperationRequest.exchange_id.is_not(None), CooperationRequest.type == "preservation")).all()
    assert sorted(exchanged) == sorted([(reference, "Preserved"), (again[0], "Preserved")])


def _snapshot(base: Path) -> dict[str, object]:
    """What preparing the demo network makes: the signed directory, and per node its users, States, requests."""
    seen: dict[str, object] = {"directory": (base / "network-directory.json").read_bytes()}
    for name in STATES:
        with _database(base / name) as node, node.db.session() as session:
            seen[name] = (sorted(session.execute(select(User.username, User.role)).all()),
                          session.execute(select(func.count()).select_from(State)).scalar_one(),
                          session.execute(select(func.count()).select_from(CooperationRequest)).scalar_one())
    return seen


def test_seed_only_twice_changes_nothing(tmp_path: Path) -> None:
    base = tmp_path / "demo"
    port = free_ports(3)
    first = _nohaven("--data-dir", str(base), "demo", "--port", str(port), "--seed-only", timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    for state in ("XA", "XB", "XC"):
        assert f"nohaven demo node for State {state} (fictional)" in first.stdout
    for user in DEMO_USERS:
        assert first.stdout.count(f"password {user.password}") == 3
    before = _snapshot(base)
    assert _serial(base) == 1
    users = sorted((u.username, u.role) for u in DEMO_USERS)
    xa_users, states, xa_requests = before["xa"]  # type: ignore[misc]
    assert xa_users == users and states > 0 and xa_requests > 0  # XA's node comes with sample requests
    assert before["xb"] == (users, states, 0) and before["xc"] == (users, states, 0)

    second = _nohaven("--data-dir", str(base), "demo", "--port", str(port), "--seed-only", timeout=120)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _snapshot(base) == before
    assert _serial(base) == 1
    for name in STATES:  # preparing twice wrote nothing that breaks the chain (the CLI check is in the test above)
        with _database(base / name) as node, node.db.session() as session:
            assert audit.verify(session).ok, name
