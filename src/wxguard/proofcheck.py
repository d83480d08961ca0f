"""Offline verifier for wxguard inclusion proofs — standard library only.

This file is deliberately self-contained so an auditor can copy it anywhere and run::

    python3 proofcheck.py PROOF.json [--public-key HEX]

It checks, with no access to the archive or its keys, that the message in the proof
(canonical form and the original bytes as received) is committed to by a leaf of the
archive's Merkle tree, that the leaf is included in a checkpoint, and that the
checkpoint is signed by the archive's Ed25519 key. Compare the key fingerprint it
prints against the one the archive publishes (``wxguard verify`` prints it), or pass
``--public-key``. Ed25519 is verified with ``cryptography`` when installed, else with
the RFC 8032 reference arithmetic below. Format: ``docs/formats.md`` (proofs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import sys
from typing import Any

FORMAT = "wxguard-proof-v1"
MANIFEST_FORMAT = "wxguard-export-manifest/1"
SALT = 16


def _frame(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def leaf_hash(kind: str, ref: str, commitment: bytes, stored: bytes) -> bytes:
    body = _frame(kind.encode()) + _frame(ref.encode("utf-8")) + commitment + stored
    return hashlib.sha256(b"\x00" + body).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def commitment(plaintext: bytes) -> bytes:
    return hashlib.sha256(b"wxguard-commit-v1\x00" + plaintext).digest()


def checkpoint_message(size: int, root: bytes, chain: bytes, at: int) -> bytes:
    return f"wxguard-checkpoint-v1\n{size}\n{root.hex()}\n{chain.hex()}\n{at}\n".encode()


def split_plaintext(pt: bytes) -> tuple[bytes, bytes, bytes]:
    """Sealed plaintext = salt(16) | u32 len | canonical JSON | raw bytes as received."""
    if len(pt) < SALT + 4:
        raise ValueError("sealed plaintext is truncated")
    (n,) = struct.unpack(">I", pt[SALT : SALT + 4])
    if SALT + 4 + n > len(pt):
        raise ValueError("sealed plaintext length field is out of range")
    return pt[:SALT], pt[SALT + 4 : SALT + 4 + n], pt[SALT + 4 + n :]


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2; returns the implied root, or None if the path is malformed."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# --------------------------------------------------------------------------- Ed25519 (RFC 8032)

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_Pt = tuple[int, int, int, int]


def _add(a: _Pt, b: _Pt) -> _Pt:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = t1 * 2 * _D * t2 % _P
    dd = z1 * 2 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _mul(s: int, p: _Pt) -> _Pt:
    q: _Pt = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P)
    if x2 % _P == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x


def _decompress(s: bytes) -> _Pt | None:
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_G: _Pt = (_GX, _GY, 1, _GX * _GY % _P)


def _equal(a: _Pt, b: _Pt) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def ed25519_verify_pure(public: bytes, msg: bytes, sig: bytes) -> bool:
    if len(public) != 32 or len(sig) != 64:
        return False
    a = _decompress(public)
    r = _decompress(sig[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= _Q:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + public + msg).digest(), "little") % _Q
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


def ed25519_verify(public: bytes, msg: bytes, sig: bytes) -> bool:
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:  # pragma: no cover - exercised by the pure-Python tests
        return ed25519_verify_pure(public, msg, sig)
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def key_fingerprint(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:32]


# --------------------------------------------------------------------------- checking


class ProofError(Exception):
    pass


def _hex(obj: dict[str, Any], key: str, size: int | None = None) -> bytes:
    try:
        v = bytes.fromhex(obj[key])
    except (KeyError, TypeError, ValueError):
        raise ProofError(f"field {key!r} is missing or not hex") from None
    if size is not None and len(v) != size:
        raise ProofError(f"field {key!r} must be {size} bytes")
    return v


def check(proof: dict[str, Any], public_key: bytes | None = None) -> dict[str, Any]:
    """Verify a proof document; raises :class:`ProofError` naming the failed step."""
    if proof.get("format") != FORMAT:
        raise ProofError(f"not a {FORMAT} document")
    rec, cp = proof.get("record"), proof.get("checkpoint")
    if not isinstance(rec, dict) or not isinstance(cp, dict):
        raise ProofError("record or checkpoint section missing")
    try:
        pt = base64.b64decode(rec["sealed_plaintext_b64"], validate=True)
        index, size, at = int(rec["index"]), int(cp["size"]), int(cp["at"])
        kind, ref = str(rec["kind"]), str(rec["ref"])
        path = [bytes.fromhex(p) for p in proof["path"]]
    except (KeyError, TypeError, ValueError) as e:
        raise ProofError(f"malformed proof: {e}") from None
    _salt, canonical, raw = split_plaintext(pt)
    message = json.loads(canonical)
    if message != proof.get("message"):
        raise ProofError("the message shown differs from the committed canonical bytes")
    if message.get("id") != ref:
        raise ProofError("the committed message id differs from the record reference")
    leaf = leaf_hash(kind, ref, commitment(pt), _hex(rec, "stored_digest", 32))
    root = root_from_path(index, size, leaf, path)
    if root is None or root != _hex(cp, "root", 32):
        raise ProofError("inclusion path does not lead to the checkpoint root")
    pub = _hex(cp, "public_key", 32)
    if public_key is not None and pub != public_key:
        raise ProofError("checkpoint is signed by a different key than the one expected")
    msg = checkpoint_message(size, root, _hex(cp, "chain", 32), at)
    if not ed25519_verify(pub, msg, _hex(cp, "signature", 64)):
        raise ProofError("checkpoint signature is invalid")
    return {
        "ok": True,
        "message_id": ref,
        "leaf_index": index,
        "checkpoint_size": size,
        "checkpoint_at": at,
        "signing_key_fingerprint": key_fingerprint(pub),
        "raw_bytes": len(raw),
        "message": message,
    }


def manifest_message(canonical: bytes) -> bytes:
    """What an export manifest's signature covers (the manifest without its signature,
    keys sorted, compact JSON)."""
    return b"wxguard-export-manifest-v1\x00" + canonical


def canonical_json(obj: Any) -> bytes:
    """Compact JSON, keys sorted, UTF-8 as is: the bytes a manifest signature covers."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def check_manifest(path: str, public_key: bytes | None = None) -> dict[str, Any]:
    """Verify an export package from its manifest: the manifest's signature, every file's
    SHA-256, and every message's inclusion proof against the archive's key."""
    import os

    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("format") != MANIFEST_FORMAT:
        raise ProofError(f"not a {MANIFEST_FORMAT} document")
    root = os.path.dirname(os.path.abspath(path))
    pub = _hex(doc, "public_key", 32)
    if public_key is not None and pub != public_key:
        raise ProofError("manifest is signed by a different key than the one expected")
    body = {k: v for k, v in doc.items() if k != "signature"}
    if not ed25519_verify(pub, manifest_message(canonical_json(body)), _hex(doc, "signature", 64)):
        raise ProofError("manifest signature is invalid (the manifest was altered)")
    for entry in doc.get("files", []):
        rel = str(entry["path"])
        full = os.path.normpath(os.path.join(root, rel))
        if not full.startswith(root + os.sep):
            raise ProofError(f"file {rel!r} points outside the package")
        try:
            with open(full, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
        except OSError as e:
            raise ProofError(f"file {rel}: {e.strerror}") from None
        if digest != entry["sha256"]:
            raise ProofError(f"file {rel} has been altered (SHA-256 differs)")
    for m in doc.get("messages", []):
        with open(os.path.join(root, str(m["proof"])), encoding="utf-8") as f:
            proof = json.load(f)
        try:
            res = check(proof, pub)
        except ProofError as e:
            raise ProofError(f"message {m.get('id')}: {e}") from None
        if res["message_id"] != m["id"]:
            raise ProofError(f"proof {m['proof']} is for {res['message_id']}, not {m['id']}")
    return {
        "ok": True,
        "export": doc.get("export"),
        "messages": len(doc.get("messages", [])),
        "files": len(doc.get("files", [])),
        "signing_key_fingerprint": key_fingerprint(pub),
    }


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    expected: bytes | None = None
    if "--public-key" in args:
        i = args.index("--public-key")
        expected = bytes.fromhex(args[i + 1])
        del args[i : i + 2]
    if len(args) != 1:
        print("usage: proofcheck.py PROOF.json|manifest.json [--public-key HEX]", file=sys.stderr)
        return 2
    try:
        with open(args[0], encoding="utf-8") as f:
            doc = json.load(f)
        if isinstance(doc, dict) and doc.get("format") == MANIFEST_FORMAT:
            res = check_manifest(args[0], expected)
            print(
                f"VALID: export {res['export']}: manifest signed by key "
                f"{res['signing_key_fingerprint']}, {res['files']} files intact, "
                f"{res['messages']} message proofs verified"
            )
            return 0
        result = check(doc, expected)
    except (OSError, ValueError, ProofError) as e:
        print(f"INVALID: {args[0]}: {e}")
        return 1
    print(
        f"VALID: message {result['message_id']} is leaf {result['leaf_index']} of checkpoint "
        f"size {result['checkpoint_size']} signed by key {result['signing_key_fingerprint']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
