"""Fixtures for the offline evidence tests: a directory store with items and a sealed bundle."""

from __future__ import annotations

from pathlib import Path

import pytest
from _evidence_support import Sealed, make_evidence

from nohaven.evidence.bundle import seal
from nohaven.evidence.store import Acquisition, DirectoryStore, acquire


@pytest.fixture
def sealed(tmp_path: Path) -> Sealed:
    store = DirectoryStore.init(tmp_path / "store", "xa.example/evidence")
    evidence = make_evidence(tmp_path)
    acquire(store, store.log, [evidence], Acquisition(
        case="XA-2026-0042", exhibit="EX-1", examiner="olga.petrova", source="laptop seized at Rue X 12",
        authority="search warrant 17/2026, investigating judge", location="XA forensic lab, room 3"))
    signer = store.signer()
    bundle = tmp_path / "bundle.zip"
    seal(store, store.log, signer, "XA-2026-0042", bundle, "olga.petrova")
    return Sealed(store, signer, bundle, evidence)
