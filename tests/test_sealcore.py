"""The native seal loop (_sealcore.c) against its Python reference, byte for byte."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import run_cli
from wxguard import msgkey, native, seal
from wxguard.archive import Archive
from wxguard.codec import Codec
from wxguard.crypto import NONCE, open_sealed
from wxguard.ledger import Frontier, merkle_root
from wxguard.model import ChatType
from wxguard.proofcheck import commitment
from wxguard.seal import Prepared, _seal_messages_py, native_seal_messages
from wxguard.sealed import body_aad

CODEC = Codec()

# scripts/test.sh installs the headers and sets this, so CI fails when the extension
# stops building instead of silently testing the Python loop alone.
REQUIRED = os.environ.get("WXGUARD_REQUIRE_NATIVE") == "1"
needs_native = pytest.mark.skipif(
    native_seal_messages is None and not REQUIRED, reason="native seal loop not built"
)


def test_native_is_built_where_required() -> None:
    if not REQUIRED:
        pytest.skip("WXGUARD_REQUIRE_NATIVE is not set (scripts/test.sh sets it)")
    assert native_seal_messages is not None, "wxguard._sealcore did not build"
    assert seal.seal_messages is native_seal_messages and native.ENABLED


def _key(kid: int) -> bytes:
    return hashlib.sha256(b"test key %d" % kid).digest()


# One well-formed prepared message.
GOOD: Prepared = ("wecom", "m", "wecom:m", "text", 0, ChatType.DIRECT, "", 0, (), None, "a", [],
                  "c", 1, b"c" * 16, b"s" * 16, b"v" * 16, b"\x00x", b"k" * 32)  # fmt: skip


def bucket_key(sent_at: int) -> tuple[int, bytes]:
    kid = sent_at // 86_400_000 % 3 + 1  # a different key every day, repeating
    return kid, _key(kid)


text = st.text(max_size=40)
prepared = st.tuples(
    text, text, text, st.sampled_from(["text", "image", "revoke", "未知"]),
    st.integers(-(2**40), 2**45), st.sampled_from(list(ChatType)), text,
    st.integers(0, 2**62), st.just(()), st.none(), text, st.just([]), text,
    st.integers(0, 2**63 - 1), st.binary(min_size=16, max_size=16),
    st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16),
    st.binary(max_size=3000), st.binary(min_size=32, max_size=32),
)  # fmt: skip


def _types(x: Any) -> Any:
    if isinstance(x, (list, tuple)):
        return [_types(v) for v in x]
    return type(x)


@needs_native
@settings(max_examples=300, deadline=None)
@given(
    todo=st.lists(prepared, max_size=12),
    seq0=st.integers(1, 2**40),
    head=st.binary(min_size=32, max_size=32),
    prior=st.integers(0, 70),
    now=st.integers(0, 2**50),
    data=st.data(),
)
def test_native_loop_matches_python(
    todo: list[Prepared], seq0: int, head: bytes, prior: int, now: int, data: st.DataObject
) -> None:
    assert native_seal_messages is not None
    tree = Frontier()
    for i in range(prior):
        tree.append(hashlib.sha256(b"%d" % i).digest())
    nonces = data.draw(st.binary(min_size=NONCE * len(todo), max_size=NONCE * len(todo) + 20))
    args = (todo, bucket_key, nonces, seq0, head, list(tree.stack), now)
    want = _seal_messages_py(*args)
    got = native_seal_messages(*args)
    assert got == want
    assert _types(got) == _types(want)  # bytearray, exact str and int where sqlite3 binds them


@needs_native
def test_native_rows_open_and_chain() -> None:
    """Not only equal to the reference: the bodies open under their AAD and the frontier
    gives the Merkle root of all leaves."""
    assert native_seal_messages is not None
    todo: list[Prepared] = [
        ("wecom", f"id{i}", f"wecom:id{i}", "text", 86_400_000 * (i % 4), ChatType.GROUP, "",
         0, (), None, "alice", [], "room", i, b"c" * 16, b"s" * 16, b"v" * 16,
         b"\x00body %d" % i, b"k" * 32)
        for i in range(40)
    ]  # fmt: skip
    prior = [hashlib.sha256(b"%d" % i).digest() for i in range(5)]
    tree = Frontier()
    for leaf in prior:
        tree.append(leaf)
    rows, ledger_rows, key_rows, head, stack = native_seal_messages(
        todo, bucket_key, os.urandom(NONCE * 40), 6, b"\x00" * 32, list(tree.stack), 1
    )
    for row, pm in zip(rows, todo, strict=True):
        seq, kid, body = row[0], row[8], bytes(row[12])
        assert open_sealed(AESGCM(_key(kid)), body, body_aad(seq, pm[2])) == pm[17]
        assert type(row[7]) is str and row[7] == "group"
    assert [r[0] for r in ledger_rows] == list(range(6, 46))
    assert key_rows == [(i, 6 + i) for i in range(40)]
    assert bytes(ledger_rows[-1][4]) == head
    assert Frontier(45, stack).root() == merkle_root(prior + [bytes(r[3]) for r in ledger_rows])


@needs_native
def test_native_rejects_bad_input_clearly() -> None:
    assert native_seal_messages is not None
    with pytest.raises(ValueError, match="nonce bytes"):
        native_seal_messages([GOOD, GOOD], bucket_key, b"n" * NONCE, 1, b"\x00" * 32, [], 0)
    bad: Any = (*GOOD[:17], "not bytes", *GOOD[18:])
    with pytest.raises(TypeError, match="body must be bytes"):
        native_seal_messages([GOOD, bad], bucket_key, b"n" * 24, 1, b"\x00" * 32, [], 0)
    with pytest.raises(ValueError, match="commitment must be 32 bytes"):
        native_seal_messages([(*GOOD[:18], b"short")], bucket_key, b"n" * 12, 1,
                             b"\x00" * 32, [], 0)  # fmt: skip
    with pytest.raises(TypeError, match="bucket_key must return"):
        native_seal_messages([GOOD], lambda t: (1, b"short"), b"n" * 12, 1, b"\x00" * 32, [], 0)
    with pytest.raises(ZeroDivisionError):  # the key lookup's own error comes through
        native_seal_messages([GOOD], lambda t: (1 // 0, b""), b"n" * 12, 1, b"\x00" * 32, [], 0)


@needs_native
@settings(max_examples=300, deadline=None)
@given(key=st.binary(max_size=100), domain=st.binary(max_size=8), data=st.binary(max_size=600))
def test_native_fingerprint_is_the_documented_hmac(key: bytes, domain: bytes, data: bytes) -> None:
    assert native.built is not None
    want = hmac.new(key, domain + b"\x00" + data, hashlib.sha256).digest()[:16]
    assert native.built.fingerprint(key, domain, data) == want


compressible = st.text(max_size=60).map(lambda t: (t * 20).encode())


@needs_native
@settings(max_examples=200, deadline=None)
@given(
    salt=st.binary(min_size=16, max_size=16),
    canonical=st.one_of(st.binary(max_size=2000), compressible),
    raw=st.one_of(st.binary(max_size=2000), compressible),
)
def test_native_pack_commit_matches_codec(salt: bytes, canonical: bytes, raw: bytes) -> None:
    """Both codec bytes occur: random bytes do not compress, repeated text does."""
    assert native.built is not None
    pt = salt + struct.pack(">I", len(canonical)) + canonical + raw
    got = native.built.pack_commit(salt, canonical, raw, CODEC.compress)
    assert got == (CODEC.pack(pt), commitment(pt))
    assert CODEC.unpack(got[0]) == pt


@needs_native
def test_native_pack_commit_errors() -> None:
    assert native.built is not None
    with pytest.raises(ValueError, match="a salt is 16 bytes, got 3"):
        native.built.pack_commit(b"abc", b"{}", b"{}", CODEC.compress)

    def broken(pt: bytes) -> bytes:
        raise MemoryError("compressor")

    with pytest.raises(MemoryError, match="compressor"):
        native.built.pack_commit(b"s" * 16, b"{}", b"{}", broken)


@needs_native
def test_native_loop_reads_its_own_copy_of_the_batch() -> None:
    """The key lookup is Python: emptying the caller's list from there changes nothing."""
    assert native_seal_messages is not None
    todo = [GOOD, GOOD, GOOD]

    def meddling(sent_at: int) -> tuple[int, bytes]:
        todo.clear()
        return bucket_key(sent_at)

    rows, ledger_rows, _, _, _ = native_seal_messages(
        todo, meddling, b"n" * 36, 1, b"\x00" * 32, [], 0
    )
    assert [r[0] for r in rows] == [1, 2, 3] and len(ledger_rows) == 3 and todo == []


def test_ledger_extend_refuses_a_gap(archive: Archive) -> None:
    """Rows from the loop must continue the ledger where it is."""
    with pytest.raises(ValueError, match="start at 3, not 1"):
        archive.ledger_extend([(3, "message", "x", bytearray(32), bytearray(32))], b"", [])
    assert archive.ledger_size == 0


def test_ingest_and_verify_with_either_loop(demo: Path, tmp_path: Path) -> None:
    """WXGUARD_NATIVE=0 selects the Python loop; the two archives verify and hold the same
    records."""
    probe = "import wxguard.seal as s; print(s.seal_messages.__name__)"
    names = {}
    summaries = {}
    for flag in ("1", "0"):
        env = {**os.environ, "WXGUARD_NATIVE": flag}
        names[flag] = subprocess.run([sys.executable, "-c", probe], env=env, check=True,
                                     capture_output=True, text=True).stdout.strip()  # fmt: skip
        data = tmp_path / f"data{flag}"
        run_cli("init", data=data, env={"WXGUARD_NATIVE": flag})
        run_cli("ingest", demo, data=data, env={"WXGUARD_NATIVE": flag})
        out = run_cli("verify", data=data, env={"WXGUARD_NATIVE": flag}).stdout
        assert out.startswith("OK:"), out
        summaries[flag] = " ".join(out.split("signing key")[0].split())
    assert names["0"] == "_seal_messages_py"
    if native_seal_messages is not None:
        assert names["1"] == "seal_messages"
    assert summaries["1"] == summaries["0"]
    off = run_cli("--version", env={"WXGUARD_NATIVE": "0"}).stdout
    assert "seal loop: Python (WXGUARD_NATIVE=0)" in off
    if native_seal_messages is not None:
        assert "seal loop: native" in run_cli("--version").stdout
    assert "(3,000 messages" in summaries["1"]


# ---------------------------------------------------------------- dedupe keys

_B64 = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", max_size=70)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


@st.composite
def wecom_ids(draw: st.DrawFn) -> str:
    """Ids of every shape msgkey reads, near misses of them, and anything at all."""
    shape = draw(st.integers(0, 4))
    if shape == 0:  # <digits>_<seconds>[_suffix], with lengths around the limits
        head = "7" * draw(st.integers(0, 22))
        digits = draw(
            st.one_of(
                st.integers(900_000_000, 4_200_000_000).map(str),
                st.text("0123456789", min_size=8, max_size=11),
            )
        )
        tail = draw(st.one_of(
            st.sampled_from(["", "_", "_external", "_updown_stream", "_x1"]),
            st.text("ab_Z", min_size=30, max_size=34).map(lambda t: "_" + t),
        ))  # fmt: skip
        return f"{head}_{digits}{tail}{draw(st.sampled_from(['', '', 'é', ' ']))}"
    if shape == 1:  # base64 protobufs: 08 <varint> 10 <varint seconds> ..., some damaged
        secs = draw(st.one_of(st.integers(0, 2**64), st.integers(940_000_000, 4_200_000_000)))
        tag = draw(st.sampled_from([b"\x10", b"\x10", b"\x18"]))
        first = draw(st.one_of(st.integers(0, 15), st.integers(0, 2**64)))  # < 16: "CA…"
        data = b"\x08" + _varint(first) + tag + _varint(secs) + draw(st.binary(max_size=50))
        cut = draw(st.integers(1, len(data)))
        text = base64.b64encode(data[:cut] if draw(st.booleans()) else data).decode()
        strip = draw(st.integers(0, 3))
        text = text[: len(text) - strip] if strip else text
        return text.rstrip("=") + "=" * draw(st.integers(0, 4))  # any padding at all
    if shape == 2:
        return "CA" + draw(_B64) + draw(st.sampled_from(["", "=", "==", "===", "====", "=A"]))
    if shape == 3:
        return draw(st.text(max_size=300))  # any text: lone surrogates, CJK, long
    return draw(st.text("0123456789_CA=", max_size=40))


@needs_native
@settings(max_examples=3000)
@given(wecom_ids())
def test_native_dedupe_key_is_the_python_one(mid: str) -> None:
    assert native.built is not None
    assert native.built.dedupe_key(mid) == msgkey.dedupe_key_py(mid)


@needs_native
@given(st.binary(max_size=400))
def test_native_blake2b_is_hashlibs(data: bytes) -> None:
    """Ids that are not timed are keyed by the 8-byte BLAKE2b alone: multi-block input too."""
    assert native.built is not None
    mid = data.decode("latin-1")
    expect = int.from_bytes(hashlib.blake2b(mid.encode(), digest_size=8).digest()) >> 1
    if msgkey.time_of(mid) is None:
        assert native.built.dedupe_key(mid) == expect


@needs_native
def test_native_dedupe_key_examples_and_a_non_string() -> None:
    assert native.built is not None
    with pytest.raises(TypeError, match="must be str"):
        native.built.dedupe_key(b"1_1600000000")
    # the documented examples (specs/wecom-archive.md §2.1)
    assert native.built.dedupe_key("15775510700152506326_1603875615") >> 30 == 1603875615
    assert native.built.dedupe_key("CAQQluDa4QUY0pmstAIgzPLx5YCAgAM=") >> 30 == 1547087894
    # the longest id read as a protobuf is 64 characters (48 bytes); longer ones are hashed
    for extra in (40, 43):
        mid = base64.b64encode(b"\x08\x04\x10" + _varint(1547087894) + b"\x00" * extra).decode()
        assert native.built.dedupe_key(mid) == msgkey.dedupe_key_py(mid)
        assert (native.built.dedupe_key(mid) >> 30 == 1547087894) == (len(mid) <= 64)
