"""Encryption round trips and failure modes (Hypothesis)."""

from __future__ import annotations

import hmac

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from wxguard.codec import Codec
from wxguard.crypto import (
    Fingerprinter,
    IntegrityError,
    KeyProblem,
    decode_kek,
    encode_kek,
    new_key,
    open_sealed,
    seal,
    unwrap,
    wrap,
)

KEY = AESGCM(b"k" * 32)
CODEC = Codec()


@given(st.binary(max_size=4096), st.binary(max_size=64))
def test_seal_round_trip(data: bytes, aad: bytes) -> None:
    assert open_sealed(KEY, seal(KEY, data, aad), aad) == data


@given(st.binary(min_size=1, max_size=512), st.data())
def test_any_flipped_bit_is_detected(data: bytes, draw: st.DataObject) -> None:
    sealed = bytearray(seal(KEY, data, b"a"))
    i = draw.draw(st.integers(0, len(sealed) - 1))
    sealed[i] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(IntegrityError):
        open_sealed(KEY, bytes(sealed), b"a")


@given(st.binary(max_size=256))
def test_wrong_aad_or_key_is_detected(data: bytes) -> None:
    sealed = seal(KEY, data, b"row-1")
    with pytest.raises(IntegrityError):
        open_sealed(KEY, sealed, b"row-2")
    with pytest.raises(IntegrityError):
        open_sealed(AESGCM(b"x" * 32), sealed, b"row-1")


@given(st.binary(min_size=32, max_size=32))
def test_wrap_round_trip_and_label_binding(secret: bytes) -> None:
    kek = new_key()
    w = wrap(kek, secret, "data-key/2026-10/compliance")
    assert unwrap(kek, w, "data-key/2026-10/compliance") == secret
    with pytest.raises(KeyProblem):
        unwrap(kek, w, "data-key/2026-11/compliance")
    with pytest.raises(KeyProblem):
        unwrap(new_key(), w, "data-key/2026-10/compliance")


@given(st.binary(max_size=8192))
def test_codec_round_trip(data: bytes) -> None:
    assert CODEC.unpack(CODEC.pack(data)) == data


def test_codec_rejects_unknown_and_corrupt() -> None:
    with pytest.raises(ValueError, match="unknown body codec"):
        CODEC.unpack(b"\x07abc")
    with pytest.raises(ValueError, match="decompress"):
        CODEC.unpack(b"\x01not zstd")


def test_codec_compresses_chat_json() -> None:
    text = '{"msgid":"1_2","action":"send","from":"ZhangWei","msgtype":"text","text":{"content":"好的，收到，谢谢！"}}'
    assert len(CODEC.pack(text.encode() * 3)) < len(text) * 3 // 2


def test_kek_text_format() -> None:
    k = new_key()
    assert decode_kek(encode_kek(k), "x") == k
    with pytest.raises(KeyProblem, match="32 bytes"):
        decode_kek("wxguard-kek-v1:AAAA", "x")
    with pytest.raises(KeyProblem, match="base64"):
        decode_kek("wxguard-kek-v1:!!!!", "x")


def test_fingerprints_are_keyed() -> None:
    a, b = Fingerprinter(b"1" * 32), Fingerprinter(b"2" * 32)
    assert a.of_id("13800138000") == a.of_id("13800138000")
    assert a.of_id("13800138000") != b.of_id("13800138000")
    assert a.of_bytes(b"x", b"msg") != a.of_bytes(b"x", b"blob")


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=2048), st.binary(max_size=8))
def test_fingerprint_is_the_documented_hmac(key: bytes, data: bytes, domain: bytes) -> None:
    """of_bytes copies a pre-keyed HMAC state; it must stay HMAC-SHA-256(key, domain 0 data)
    truncated to 128 bits, the value every stored fingerprint was made with."""
    fp = Fingerprinter(key)
    want = hmac.digest(key, domain + b"\x00" + data, "sha256")[:16]
    assert fp.of_bytes(data, domain) == want
    assert fp.of_bytes(data, domain) == want  # the keyed state is not consumed by a call


def test_seal_with_a_given_nonce() -> None:
    nonce = bytes(range(12))
    sealed = seal(KEY, b"body", b"aad", nonce)
    assert sealed[:12] == nonce and open_sealed(KEY, sealed, b"aad") == b"body"
    with pytest.raises(ValueError, match="12 bytes"):
        seal(KEY, b"body", b"aad", b"short")


def test_shipped_dictionary_never_changes() -> None:
    """Codec 1 means *this* dictionary forever: a new one needs a new codec byte."""
    import hashlib
    from importlib import resources

    data = resources.files("wxguard").joinpath("data/zdict-v1.bin").read_bytes()
    assert (
        hashlib.sha256(data).hexdigest()
        == "d6386440a4ca19142babf2ad58542bec3fcd45b40894e6ed642f77b04c9ca73b"
    )
