"""Envelope encryption and keyed fingerprints.

* The **key-encryption key** (KEK, 32 random bytes) lives outside the database: in a
  key file (``wxguard-kek-v1:<base64>``, mode 0600) or an environment variable,
  referenced as ``$file:PATH`` or ``$env:NAME``.
* **Data keys** (AES-256-GCM) exist per (month, retention class) and are stored in the
  database only wrapped by the KEK. Destroying a data key shreds its bucket.
* The **fingerprint key** (HMAC-SHA-256) and the **checkpoint signing key** (Ed25519)
  are stored wrapped by the KEK too; rotation re-wraps all of them.

Sealed format: ``nonce(12) || ciphertext || tag(16)``; the associated data binds a
ciphertext to its row so a body cannot be moved to another record undetected.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import native

_native_fingerprint: Callable[[bytes, bytes, bytes], bytes] | None = (
    native.core.fingerprint if native.core else None
)
KEK_PREFIX = "wxguard-kek-v1:"
NONCE = 12


class KeyProblem(Exception):
    """A key problem: missing, unreadable, wrong or too widely readable."""


class IntegrityError(Exception):
    """A ciphertext failed authentication (tampered, truncated or wrong key)."""


def new_key() -> bytes:
    return os.urandom(32)


def key_id(kek: bytes) -> str:
    """Public identifier of a KEK (safe to store and print: derived from 256 random bits)."""
    return hashlib.sha256(b"wxguard-kek-id\x00" + kek).hexdigest()[:16]


def encode_kek(kek: bytes) -> str:
    return KEK_PREFIX + base64.b64encode(kek).decode("ascii")


def decode_kek(text: str, where: str) -> bytes:
    text = text.strip()
    if not text.startswith(KEK_PREFIX):
        raise KeyProblem(f"{where}: not a wxguard key (expected it to start with {KEK_PREFIX!r})")
    try:
        kek = base64.b64decode(text[len(KEK_PREFIX) :], validate=True)
    except ValueError:
        raise KeyProblem(f"{where}: key is not valid base64") from None
    if len(kek) != 32:
        raise KeyProblem(f"{where}: key must be 32 bytes, found {len(kek)}")
    return kek


def write_key_file(path: Path, kek: bytes) -> None:
    """Create a key file readable only by its owner; never overwrites silently."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (encode_kek(kek) + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def load_kek(ref: str, base_dir: Path | None = None) -> bytes:
    """Resolve ``$env:NAME`` / ``$file:PATH`` (or a bare path) to a KEK."""
    if ref.startswith("$env:"):
        name = ref[5:]
        val = os.environ.get(name)
        if not val:
            raise KeyProblem(f"environment variable {name} (key reference {ref}) is not set")
        return decode_kek(val, f"environment variable {name}")
    path = Path(ref[6:] if ref.startswith("$file:") else ref)
    if base_dir is not None and not path.is_absolute():
        path = base_dir / path
    try:
        st = path.stat()
    except FileNotFoundError:
        raise KeyProblem(f"key file {path} does not exist") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(st.st_mode)
        raise KeyProblem(
            f"key file {path} is accessible by group/others (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        text = path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as e:
        raise KeyProblem(f"key file {path} cannot be read: {type(e).__name__}") from None
    return decode_kek(text, f"key file {path}")


def seal(aead: AESGCM, plaintext: bytes, aad: bytes, nonce: bytes | None = None) -> bytes:
    """``nonce || AES-GCM(plaintext, aad)``. ``nonce`` is for callers that draw many random
    nonces in one ``os.urandom`` call (a system call each otherwise); never pass a counter
    or a reused value."""
    if nonce is None:
        nonce = os.urandom(NONCE)
    elif len(nonce) != NONCE:
        raise ValueError(f"a nonce is {NONCE} bytes, got {len(nonce)}")
    return nonce + aead.encrypt(nonce, plaintext, aad)


def open_sealed(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < NONCE + 16:
        raise IntegrityError("ciphertext is truncated")
    try:
        return aead.decrypt(sealed[:NONCE], sealed[NONCE:], aad)
    except InvalidTag:
        raise IntegrityError("ciphertext failed authentication") from None


def wrap(kek: bytes, secret: bytes, label: str) -> bytes:
    return seal(AESGCM(kek), secret, b"wxguard-wrap\x00" + label.encode())


def unwrap(kek: bytes, wrapped: bytes, label: str) -> bytes:
    try:
        return open_sealed(AESGCM(kek), wrapped, b"wxguard-wrap\x00" + label.encode())
    except IntegrityError:
        raise KeyProblem(f"cannot unwrap {label}: wrong key-encryption key or damaged") from None


class Fingerprinter:
    """Keyed fingerprints (HMAC-SHA-256, 128-bit): safe to store where a bare hash is not."""

    __slots__ = ("_cache", "_key", "_keyed")

    def __init__(self, key: bytes) -> None:
        # Keyed once: copying a keyed HMAC state is a third cheaper than hmac.digest(),
        # which looks SHA-256 up and keys it again on every call (OpenSSL 3).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)
        self._key = key
        self._cache: dict[str, bytes] = {}

    def of_bytes(self, data: bytes, domain: bytes = b"v") -> bytes:
        """HMAC-SHA-256(key, domain || 0x00 || data), first 16 bytes."""
        if _native_fingerprint is not None:  # ~5x cheaper than the copy below
            return _native_fingerprint(self._key, domain, data)
        h = self._keyed.copy()
        h.update(domain + b"\x00" + data)
        return h.digest()[:16]

    def of_id(self, ident: str) -> bytes:
        """Fingerprint of a participant or conversation id (memoised: ids repeat)."""
        fp = self._cache.get(ident)
        if fp is None:
            fp = self.of_bytes(ident.encode("utf-8"), b"id")
            if len(self._cache) < 1_000_000:
                self._cache[ident] = fp
        return fp
