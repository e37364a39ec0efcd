"""Helpers shared by the evidence tests (imported by name: the test folders are not packages)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from nohaven.evidence.bundle import seal
from nohaven.evidence.note import NoteSigner
from nohaven.evidence.store import Acquisition, DirectoryStore, acquire

IN_CI = os.environ.get("CI", "").lower() == "true"
NOHAVEN = [sys.executable, "-m", "nohaven.cli.main"]


def require_tool(name: str) -> str:
    """The path of a command-line tool; in CI a missing tool fails the test instead of skipping it."""
    beside_python = Path(sys.executable).parent / name  # tools installed in this virtualenv (the test extra)
    path = str(beside_python) if beside_python.exists() else shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; CI must install it (see .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real `nohaven` command line in a subprocess."""
    return subprocess.run([*NOHAVEN, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@dataclass
class Sealed:
    store: DirectoryStore
    signer: NoteSigner
    bundle: Path
    evidence: Path


def make_evidence(root: Path) -> Path:
    folder = root / "seized"
    (folder / "mail").mkdir(parents=True)
    (folder / "disk.img").write_bytes(os.urandom(300_000))
    (folder / "mail" / "message.eml").write_text("From: a@example.org\nSubject: invoice\n\nPay now.\n")
    (folder / "empty.log").write_bytes(b"")
    return folder


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    """Run the same command line in this process (it starts in ~4 s as a subprocess because of the node's imports)."""
    from nohaven.cli.main import main

    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return Ran(code, out, err)


@pytest.fixture(name="sealed")
def sealed_fixture(tmp_path: Path) -> Sealed:
    """A directory store with one acquired item and its sealed bundle. (Here, not in a conftest.py: a second
    module named conftest would shadow the suite's own for every `from conftest import ...`.)"""
    store = DirectoryStore.init(tmp_path / "store", "xa.example/evidence")
    evidence = make_evidence(tmp_path)
    acquire(store, store.log, [evidence], Acquisition(
        case="XA-2026-0042", exhibit="EX-1", examiner="olga.petrova", source="laptop seized at Rue X 12",
        authority="search warrant 17/2026, investigating judge", location="XA forensic lab, room 3"))
    signer = store.signer()
    bundle = tmp_path / "bundle.zip"
    seal(store, store.log, signer, "XA-2026-0042", bundle, "olga.petrova")
    return Sealed(store, signer, bundle, evidence)
