"""RFC 9162 Merkle trees: leaf and node hashes, a growing tree, inclusion and consistency proofs and their checks.

The tree keeps the hash of every complete ("perfect") subtree it has built, level by level. Any subtree that
RFC 9162's recursive definitions ask for splits into at most log2(n) of those, so a root or a proof costs
O(log² n) hash look-ups and appending a leaf costs one hash per completed level (amortised two).

Verification follows RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency) step by step. The RFC defines
consistency proofs for 0 < first < second only; the two edge cases are settled here the way transparency-log
clients settle them: from the empty tree every tree is consistent (the proof must be empty), and a tree is
consistent with itself exactly when the two root hashes are equal (the proof must be empty).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "ProofError",
    "leaf_hash",
    "leaf_hashes",
    "node_hash",
    "root_from_inclusion_proof",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"


class ProofError(ValueError):
    """A proof does not verify; the message says which step refused it."""


def leaf_hash(data: bytes) -> bytes:
    """MTH of a one-leaf tree: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(_LEAF + data).digest()


def leaf_hashes(items: Iterable[bytes]) -> list[bytes]:
    """The leaf hash of each item, in order."""
    sha256, prefix = hashlib.sha256, _LEAF
    return [sha256(prefix + data).digest() for data in items]


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n ≥ 2): where RFC 9162 splits a list of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """An append-only RFC 9162 tree over leaf hashes, with roots and proofs for every size up to its own."""

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        # levels[k][i] = hash of the perfect subtree of 2**k leaves starting at leaf i * 2**k.
        self._levels: list[list[bytes]] = [[]]
        self.extend_hashes(leaf_hashes)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, data: bytes) -> int:
        """Add a leaf by its data; returns its index."""
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        """Add a leaf by its leaf hash; returns its index."""
        if len(h) != HASH_SIZE:
            raise ValueError("a leaf hash has 32 bytes")
        levels = self._levels
        index = len(levels[0])
        levels[0].append(h)
        level, i = 0, index
        while i & 1:  # a right child completes its parent
            if level + 1 == len(levels):
                levels.append([])
            h = node_hash(levels[level][i - 1], h)
            levels[level + 1].append(h)
            level += 1
            i >>= 1
        return index

    def extend_hashes(self, hashes: Iterable[bytes]) -> int:
        """Add many leaves by their leaf hashes at once; returns the index of the first.

        Level by level, only the parents the new leaves complete are hashed, in one pass each (no per-leaf loop
        through the levels), so a batch costs one hash per new node, the same as appending one at a time."""
        new = list(hashes)
        levels = self._levels
        first = len(levels[0])
        if new and set(map(len, new)) != {HASH_SIZE}:
            raise ValueError("a leaf hash has 32 bytes")
        levels[0].extend(new)
        sha256, prefix = hashlib.sha256, _NODE
        level = 0
        while len(levels[level]) >= 2:
            if level + 1 == len(levels):
                levels.append([])
            below, above = levels[level], levels[level + 1]
            done, complete = len(above), len(below) // 2
            if done >= complete:
                break
            pairs = iter(below[2 * done:2 * complete])  # zip(pairs, pairs): left and right child in turn
            above.extend([sha256(prefix + left + right).digest() for left, right in zip(pairs, pairs, strict=True)])
            level += 1
        return first

    def leaf(self, index: int) -> bytes:
        """The leaf hash at `index`."""
        return self._levels[0][index]

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range that RFC 9162's recursion produces (start aligned to its left split)."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self._levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first `size` leaves (all of them by default)."""
        size = self.size if size is None else size
        self._check_size(size)
        return self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """PATH(index, D[0:size]) per RFC 9162 §2.1.3.1, from the leaf's sibling up to the root's child."""
        size = self.size if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        # Walk down from the root, then reverse: the RFC lists the path bottom-up.
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        """PROOF(old, D[0:new]) per RFC 9162 §2.1.4.1; empty when old is 0 or old == new."""
        new = self.size if new is None else new
        self._check_size(new)
        if not 0 <= old <= new:
            raise ValueError(f"old size {old} must be between 0 and the new size {new}")
        if old in (0, new):
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, b: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if b else [self._subtree(start, end)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, start + k, b), self._subtree(start + k, end)]
        return [*self._subproof(m - k, start + k, end, False), self._subtree(start, start + k)]

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} is beyond the {self.size} leaves logged")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 §2.1.3.2 steps 1–5 without the final comparison)."""
    if index >= size or index < 0:
        raise ProofError(f"leaf index {index} is not below the tree size {size}")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if len(p) != HASH_SIZE:
            raise ProofError("a proof hash does not have 32 bytes")
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the proof is shorter than the tree is deep")
    return r


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> None:
    """Check that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`; raise ProofError if not."""
    if root_from_inclusion_proof(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof leads to another root hash")


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> None:
    """Check that the tree (old, old_root) is a prefix of (new, new_root) per RFC 9162 §2.1.4.2."""
    if not 0 <= old <= new:
        raise ProofError(f"old size {old} is larger than new size {new}")
    if any(len(c) != HASH_SIZE for c in proof):
        raise ProofError("a proof hash does not have 32 bytes")
    if old == new:
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal tree sizes with different root hashes")
        return
    if old == 0:
        if proof:
            raise ProofError("a proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is SHA-256 of nothing")
        return
    # Step 1: an empty path proves nothing for 0 < old < new.
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    # Step 2: when old is a power of two its root is itself a node of the new tree, and the path omits it.
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    # Steps 3–4.
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    # Step 6.
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # Step 7.
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root hash")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root hash")
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
