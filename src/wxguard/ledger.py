"""Tamper evidence: a hash chain over every appended record plus an RFC 6962 Merkle tree
whose roots are signed (Ed25519) in checkpoints.

Every record (message, blob, and later holds and disposals) gets a ledger ``seq``
(1-based) and a **leaf hash** binding its kind, reference, content commitment and
the digest of its stored bytes. The chain value is ``H("chain" || prev || leaf)``;
the Merkle tree over the leaves gives short inclusion proofs that
:mod:`wxguard.proofcheck` verifies offline.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import proofcheck

sha256 = hashlib.sha256
GENESIS = b"\x00" * 32
leaf_hash = proofcheck.leaf_hash
node_hash = proofcheck.node_hash
checkpoint_message = proofcheck.checkpoint_message


def chain_next(prev: bytes, leaf: bytes) -> bytes:
    return sha256(b"wxguard-chain\x00" + prev + leaf).digest()


def stored_digest(*fields: bytes | str | int) -> bytes:
    """Digest of a row's stored columns, framed so no two rows collide."""
    h = sha256()
    for f in fields:
        if isinstance(f, int):
            b = struct.pack(">q", f)
        elif isinstance(f, str):
            b = f.encode("utf-8")
        else:
            b = f
        h.update(struct.pack(">I", len(b)))
        h.update(b)
    return h.digest()


class Frontier:
    """Roots of the perfect subtrees of the tree so far: O(log n) state, O(1) amortised append."""

    __slots__ = ("size", "stack")

    def __init__(self, size: int = 0, stack: list[tuple[int, bytes]] | None = None) -> None:
        self.size = size
        self.stack: list[tuple[int, bytes]] = stack or []

    def append(self, leaf: bytes) -> None:
        stack = self.stack
        height, h = 0, leaf
        while stack and stack[-1][0] == height:
            _, left = stack.pop()
            h = sha256(b"\x01" + left + h).digest()
            height += 1
        stack.append((height, h))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return sha256(b"").digest()
        r = self.stack[-1][1]
        for _, h in reversed(self.stack[:-1]):
            r = node_hash(h, r)
        return r

    def dump(self) -> str:
        return ";".join(f"{hgt}:{h.hex()}" for hgt, h in self.stack)

    @classmethod
    def load(cls, size: int, text: str) -> Frontier:
        stack = []
        for part in filter(None, text.split(";")):
            hgt, hx = part.split(":")
            stack.append((int(hgt), bytes.fromhex(hx)))
        return cls(size, stack)


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    f = Frontier()
    for leaf in leaves:
        f.append(leaf)
    return f.root()


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def inclusion_path(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 6962 §2.1.1 PATH(m, D[n]) for leaf ``index`` (0-based) in ``leaves``."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf {index} outside tree of size {len(leaves)}")
    path: list[bytes] = []
    lo, hi, m = 0, len(leaves), index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(merkle_root(leaves[lo + k : hi]))
            hi = lo + k
        else:
            path.append(merkle_root(leaves[lo : lo + k]))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def inclusion_paths(indices: Sequence[int], leaves: Sequence[bytes]) -> dict[int, list[bytes]]:
    """RFC 6962 paths for many leaves at once: the tree's levels are built once (an unpaired
    last node is carried up unchanged, which gives the same tree), then each path is read
    off in O(log n). Same result as :func:`inclusion_path` per index."""
    for i in indices:
        if not 0 <= i < len(leaves):
            raise IndexError(f"leaf {i} outside tree of size {len(leaves)}")
    levels: list[Sequence[bytes]] = [leaves]
    while len(levels[-1]) > 1:
        lv = levels[-1]
        nxt = [sha256(b"\x01" + lv[j] + lv[j + 1]).digest() for j in range(0, len(lv) - 1, 2)]
        if len(lv) % 2:
            nxt.append(lv[-1])
        levels.append(nxt)
    out: dict[int, list[bytes]] = {}
    for i in indices:
        path, m = [], i
        for lv in levels[:-1]:
            sib = m ^ 1
            if sib < len(lv):
                path.append(lv[sib])
            m //= 2
        out[i] = path
    return out


def sign_checkpoint(key: Ed25519PrivateKey, size: int, root: bytes, chain: bytes, at: int) -> bytes:
    return key.sign(checkpoint_message(size, root, chain, at))
