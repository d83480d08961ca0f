"""Merkle tree, inclusion proofs and Ed25519 (Hypothesis + RFC 8032 vectors)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from wxguard.ledger import Frontier, inclusion_path, merkle_root, node_hash
from wxguard.proofcheck import ed25519_verify, ed25519_verify_pure, root_from_path


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 §2.1 MTH, written recursively as in the RFC."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


leaves_st = st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=70)


@given(leaves_st)
def test_frontier_root_matches_rfc6962(leaves: list[bytes]) -> None:
    assert merkle_root(leaves) == reference_root(leaves)


@given(leaves_st)
def test_frontier_survives_dump_and_load(leaves: list[bytes]) -> None:
    f = Frontier()
    half = len(leaves) // 2
    for leaf in leaves[:half]:
        f.append(leaf)
    g = Frontier.load(f.size, f.dump())
    for leaf in leaves[half:]:
        g.append(leaf)
    assert g.root() == reference_root(leaves)


@given(leaves_st, st.data())
def test_every_inclusion_path_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    root = reference_root(leaves)
    path = inclusion_path(i, leaves)
    assert root_from_path(i, len(leaves), leaves[i], path) == root


@given(leaves_st, st.data())
def test_wrong_leaf_index_or_path_fails(leaves: list[bytes], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(leaves) - 1))
    root = reference_root(leaves)
    path = inclusion_path(i, leaves)
    assert root_from_path(i, len(leaves), b"\x00" * 32, path) != root or leaves[i] == b"\x00" * 32
    if path:
        bad = list(path)
        bad[0] = bytes(32) if bad[0] != bytes(32) else b"\x01" * 32
        assert root_from_path(i, len(leaves), leaves[i], bad) != root
    assert root_from_path(len(leaves), len(leaves), leaves[i], path) is None


# RFC 8032 §7.1 TEST 1 and TEST 2
RFC8032 = [
    ("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]  # fmt: skip


@pytest.mark.parametrize(("pub", "msg", "sig"), RFC8032)
def test_pure_ed25519_rfc8032_vectors(pub: str, msg: str, sig: str) -> None:
    p, m, s = bytes.fromhex(pub), bytes.fromhex(msg), bytes.fromhex(sig)
    assert ed25519_verify_pure(p, m, s)
    assert ed25519_verify(p, m, s)
    bad = bytearray(s)
    bad[5] ^= 1
    assert not ed25519_verify_pure(p, m, bytes(bad))
    assert not ed25519_verify_pure(p, m + b"x", s)


@given(st.binary(max_size=200))
def test_pure_and_library_ed25519_agree(msg: bytes) -> None:
    key = Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives import serialization

    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = key.sign(msg)
    assert ed25519_verify_pure(pub, msg, sig) and ed25519_verify(pub, msg, sig)
    assert not ed25519_verify_pure(pub, msg + b"!", sig)
