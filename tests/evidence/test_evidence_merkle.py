"""RFC 9162 Merkle tree: proofs against a naive recomputation of the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nohaven.evidence.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofError,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
)


# The RFC's definitions, written as literally as possible, over the list of leaf data (independent of MerkleTree).
def mth(d: list[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def tree_of(d: list[bytes]) -> MerkleTree:
    t = MerkleTree()
    for x in d:
        t.append(x)
    return t


leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=150, deadline=None)
@given(leaves, st.data())
def test_inclusion_matches_the_rfc_and_verifies(d: list[bytes], data: st.DataObject) -> None:
    tree = tree_of(d)
    size = data.draw(st.integers(1, len(d)))
    index = data.draw(st.integers(0, size - 1))
    assert tree.root(size) == mth(d[:size])
    proof = tree.inclusion_proof(index, size)
    assert proof == path(index, d[:size])
    verify_inclusion(index, size, leaf_hash(d[index]), proof, mth(d[:size]))
    # Any change is refused: another leaf, another index, a flipped proof byte, a dropped or extra hash.
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf_hash(d[index] + b"x"), proof, mth(d[:size]))
    if size > 1:
        other = (index + 1) % size
        if leaf_hash(d[other]) != leaf_hash(d[index]) or path(other, d[:size]) != proof:
            with pytest.raises(ProofError):
                verify_inclusion(other, size, leaf_hash(d[index]), proof, mth(d[:size]))
        bad = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf_hash(d[index]), bad, mth(d[:size]))
        with pytest.raises(ProofError):
            verify_inclusion(index, size, leaf_hash(d[index]), proof[:-1], mth(d[:size]))
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf_hash(d[index]), [*proof, b"\x00" * 32], mth(d[:size]))


@settings(max_examples=150, deadline=None)
@given(leaves, st.data())
def test_consistency_matches_the_rfc_and_verifies(d: list[bytes], data: st.DataObject) -> None:
    tree = tree_of(d)
    new = data.draw(st.integers(1, len(d)))
    old = data.draw(st.integers(0, new))
    proof = tree.consistency_proof(old, new)
    if 0 < old < new:
        assert proof == subproof(old, d[:new], True)
    else:
        assert proof == []
    verify_consistency(old, new, mth(d[:old]), mth(d[:new]), proof)
    if 0 < old < new:
        with pytest.raises(ProofError):
            verify_consistency(old, new, mth(d[:old]), mth([*d[:new], b"extra"]), proof)
        with pytest.raises(ProofError):
            verify_consistency(old, new, mth([b"forged", *d[1:old]]), mth(d[:new]), proof)
        for i in range(len(proof)):
            bad = list(proof)
            bad[i] = bytes([bad[i][0] ^ 0x80]) + bad[i][1:]
            with pytest.raises(ProofError):
                verify_consistency(old, new, mth(d[:old]), mth(d[:new]), bad)
        with pytest.raises(ProofError):
            verify_consistency(old, new, mth(d[:old]), mth(d[:new]), proof[:-1])


def test_edge_cases() -> None:
    empty = MerkleTree()
    assert empty.root() == EMPTY_ROOT == hashlib.sha256(b"").digest()
    with pytest.raises(ProofError):  # nothing is included in the empty tree
        verify_inclusion(0, 0, leaf_hash(b"a"), [], EMPTY_ROOT)
    d = [bytes([i]) for i in range(7)]
    tree = tree_of(d)
    # Size 0 → any size: empty proof; a non-empty one is refused; the empty root must be the empty hash.
    verify_consistency(0, 7, EMPTY_ROOT, tree.root(), [])
    with pytest.raises(ProofError):
        verify_consistency(0, 7, EMPTY_ROOT, tree.root(), [tree.root()])
    with pytest.raises(ProofError):
        verify_consistency(0, 7, tree.root(1), tree.root(), [])
    # Equal sizes: empty proof and equal roots.
    verify_consistency(7, 7, tree.root(), tree.root(), [])
    with pytest.raises(ProofError):
        verify_consistency(7, 7, tree.root(), tree.root(6), [])
    with pytest.raises(ProofError):
        verify_consistency(7, 7, tree.root(), tree.root(), [tree.root()])
    # 0 < old < new with an empty proof is refused (RFC 9162 §2.1.4.2 step 1); old > new too.
    with pytest.raises(ProofError):
        verify_consistency(3, 7, tree.root(3), tree.root(), [])
    with pytest.raises(ProofError):
        verify_consistency(7, 3, tree.root(), tree.root(3), [])
    # First and last leaf; a one-leaf tree has an empty path.
    for index in (0, 6):
        verify_inclusion(index, 7, leaf_hash(d[index]), tree.inclusion_proof(index), tree.root())
    verify_inclusion(0, 1, leaf_hash(d[0]), [], tree.root(1))
    with pytest.raises(ProofError):
        verify_inclusion(7, 7, leaf_hash(d[6]), tree.inclusion_proof(6), tree.root())
    # Domain separation: a leaf hash is not a node hash of the same bytes.
    assert leaf_hash(b"ab") != node_hash(b"a", b"b")


def test_known_root() -> None:
    # Computed by hand from the definitions: MTH([a, b, c]) = H(1 ‖ H(1 ‖ H(0‖a) ‖ H(0‖b)) ‖ H(0‖c)).
    h = lambda x: hashlib.sha256(x).digest()  # noqa: E731
    expected = h(b"\x01" + h(b"\x01" + h(b"\x00a") + h(b"\x00b")) + h(b"\x00c"))
    assert tree_of([b"a", b"b", b"c"]).root() == expected


@settings(max_examples=150, deadline=None)
@given(leaves, st.lists(st.integers(0, 9), max_size=12))
def test_appending_in_batches_builds_the_same_tree(d: list[bytes], cuts: list[int]) -> None:
    """Leaves added in batches of any sizes (empty ones too) give the roots and proofs of the RFC's definitions."""
    tree, at = MerkleTree(), 0
    for n in [*cuts, len(d)]:
        batch = d[at:at + n]
        assert tree.extend_hashes(leaf_hash(x) for x in batch) == at
        at += len(batch)
        assert tree.size == at and tree.root() == mth(d[:at])
    for size in range(1, len(d) + 1, max(1, len(d) // 7)):
        assert tree.root(size) == mth(d[:size])
        assert tree.inclusion_proof(size - 1, size) == path(size - 1, d[:size])
    for wrong in ([b"short"], [b"a" * 31, b"b" * 33]):
        with pytest.raises(ValueError, match="32 bytes"):
            tree.extend_hashes(wrong)
    assert tree.size == len(d)  # a refused batch adds nothing
