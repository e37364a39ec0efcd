"""Forensic evidence, offline: one-pass multi-digest hashing, the custody log (RFC 9162 Merkle tree with C2SP
checkpoints), sealed bundles with CASE/UCO, and the verifier.

Nothing here imports the node (database, API, web): a court verifies a bundle with this package, the
standard library, `cryptography` and `rfc8785` alone (`python -m nohaven.evidence verify BUNDLE --trust KEY`).
"""

from __future__ import annotations

from nohaven.evidence.bundle import SealResult, cosign_bundle, seal
from nohaven.evidence.custody import EVENT_TYPES, CustodyLedger, FileCustodyLog, make_event, parse_event
from nohaven.evidence.errors import (
    BundleFormatError,
    EvidenceError,
    HashingError,
    StoreError,
    UnknownAlgorithmError,
    VerificationError,
)
from nohaven.evidence.hashing import ALGORITHMS, DigestSet, FileEntry, MultiHasher, hash_file, hash_paths
from nohaven.evidence.merkle import MerkleTree, ProofError, verify_consistency, verify_inclusion
from nohaven.evidence.note import Checkpoint, NoteError, NoteSigner, NoteVerifier, SignedNote
from nohaven.evidence.proofs import InclusionProof
from nohaven.evidence.store import Acquisition, BlobSink, BlobSource, DirectoryStore, acquire
from nohaven.evidence.verify import BundleReport, verify_bundle

__all__ = [
    "ALGORITHMS",
    "EVENT_TYPES",
    "Acquisition",
    "BlobSink",
    "BlobSource",
    "BundleFormatError",
    "BundleReport",
    "Checkpoint",
    "CustodyLedger",
    "DigestSet",
    "DirectoryStore",
    "EvidenceError",
    "FileCustodyLog",
    "FileEntry",
    "HashingError",
    "InclusionProof",
    "MerkleTree",
    "MultiHasher",
    "NoteError",
    "NoteSigner",
    "NoteVerifier",
    "ProofError",
    "SealResult",
    "SignedNote",
    "StoreError",
    "UnknownAlgorithmError",
    "VerificationError",
    "acquire",
    "cosign_bundle",
    "hash_file",
    "hash_paths",
    "make_event",
    "parse_event",
    "seal",
    "verify_bundle",
    "verify_consistency",
    "verify_inclusion",
]
