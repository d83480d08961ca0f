"""The archive's keys, unwrapped in memory from what the database stores wrapped.

Buckets: one AES-256-GCM data key per (month, retention class). Secrets: the
fingerprint (HMAC) key, the Ed25519 checkpoint key and the *records* key that
encrypts directory entries (participants, conversations) and quarantined input.
"""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .crypto import Fingerprinter, KeyProblem, key_id, new_key, unwrap, wrap

DEFAULT_CLASS = "compliance"
SECRET_NAMES = ("fingerprint", "signing", "records")


def month_of(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m")


def _dk_label(month: str, klass: str) -> str:
    return f"data-key/{month}/{klass}"


class KeyRing:
    def __init__(self, conn: sqlite3.Connection, kek: bytes) -> None:
        self._conn = conn
        self._kek = kek
        self._buckets: dict[tuple[str, str], tuple[int, AESGCM]] = {}
        self._by_day: dict[tuple[int, str], tuple[int, AESGCM]] = {}
        self._by_id: dict[int, AESGCM] = {}
        self._raw: dict[int, bytes] = {}  # key id -> data key, for the native seal loop
        secrets = {
            n: unwrap(kek, w, f"secret/{n}")
            for n, w in conn.execute("SELECT name, wrapped FROM secrets")
        }
        missing = [n for n in SECRET_NAMES if n not in secrets]
        if missing:
            raise KeyProblem(f"archive is missing its {', '.join(missing)} key(s)")
        self.fingerprints = Fingerprinter(secrets["fingerprint"])
        # Handed (in memory, over a pipe) to the worker processes of `ingest --jobs`,
        # which fingerprint what they prepare; never written anywhere.
        self.fingerprint_key = secrets["fingerprint"]
        self.signing = Ed25519PrivateKey.from_private_bytes(secrets["signing"])
        self.records = AESGCM(secrets["records"])

    @staticmethod
    def create_secrets(conn: sqlite3.Connection, kek: bytes) -> None:
        signing = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        values = {"fingerprint": new_key(), "signing": signing, "records": new_key()}
        for name, value in values.items():
            conn.execute(
                "INSERT INTO secrets (name, wrapped) VALUES (?, ?)",
                (name, wrap(kek, value, f"secret/{name}")),
            )

    @property
    def public_key(self) -> bytes:
        return self.signing.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def bucket(self, sent_at_ms: int, klass: str = DEFAULT_CLASS) -> tuple[int, AESGCM]:
        """The data key for a message's bucket, created (inside the caller's transaction)."""
        day = (sent_at_ms // 86_400_000, klass)
        hit = self._by_day.get(day)
        if hit is not None:
            return hit
        hit = self._bucket(month_of(sent_at_ms), klass)
        self._by_day[day] = hit
        return hit

    def _bucket(self, month: str, klass: str) -> tuple[int, AESGCM]:
        hit = self._buckets.get((month, klass))
        if hit is not None:
            return hit
        row = self._conn.execute(
            "SELECT id, wrapped FROM data_keys WHERE month = ? AND class = ?", (month, klass)
        ).fetchone()
        if row is None:
            key = new_key()
            cur = self._conn.execute(
                "INSERT INTO data_keys (month, class, wrapped, created_at) VALUES (?, ?, ?, ?)",
                (month, klass, wrap(self._kek, key, _dk_label(month, klass)), int(time.time())),
            )
            kid = int(cur.lastrowid or 0)
        else:
            kid, wrapped = row
            if wrapped is None:
                raise KeyProblem(f"data key for {month}/{klass} has been destroyed")
            key = unwrap(self._kek, wrapped, _dk_label(month, klass))
        aead = AESGCM(key)
        self._buckets[(month, klass)] = (kid, aead)
        self._by_id[kid] = aead
        self._raw[kid] = key
        return kid, aead

    def bucket_key(self, sent_at_ms: int) -> tuple[int, bytes]:
        """:meth:`bucket` of the default class as (key id, the 32-byte data key), for the
        seal loop (``wxguard.seal.seal_messages``), which keys AES-GCM itself."""
        kid, _ = self.bucket(sent_at_ms)
        return kid, self._raw[kid]

    def forget_uncommitted(self) -> None:
        """Drop cached buckets after a rollback (their rows may not exist)."""
        self._buckets.clear()
        self._by_day.clear()
        self._by_id.clear()
        self._raw.clear()

    def by_id(self, kid: int) -> AESGCM | None:
        """Data key by id; None when it was destroyed (crypto-shredded)."""
        aead = self._by_id.get(kid)
        if aead is not None:
            return aead
        row = self._conn.execute(
            "SELECT month, class, wrapped FROM data_keys WHERE id = ?", (kid,)
        ).fetchone()
        if row is None:
            raise KeyProblem(f"data key {kid} is unknown to this archive")
        month, klass, wrapped = row
        if wrapped is None:
            return None
        aead = AESGCM(unwrap(self._kek, wrapped, _dk_label(month, klass)))
        self._by_id[kid] = aead
        return aead


def rewrap_all(conn: sqlite3.Connection, old: bytes, new: bytes) -> int:
    """Re-wrap every secret and live data key from ``old`` to ``new`` KEK (caller's tx)."""
    n = 0
    for name, wrapped in conn.execute("SELECT name, wrapped FROM secrets").fetchall():
        label = f"secret/{name}"
        conn.execute(
            "UPDATE secrets SET wrapped = ? WHERE name = ?",
            (wrap(new, unwrap(old, wrapped, label), label), name),
        )
        n += 1
    rows = conn.execute(
        "SELECT id, month, class, wrapped FROM data_keys WHERE wrapped IS NOT NULL"
    ).fetchall()
    for kid, month, klass, wrapped in rows:
        label = _dk_label(month, klass)
        conn.execute(
            "UPDATE data_keys SET wrapped = ? WHERE id = ?",
            (wrap(new, unwrap(old, wrapped, label), label), kid),
        )
        n += 1
    conn.execute("UPDATE meta SET value = ? WHERE key = 'kek_id'", (key_id(new),))
    return n
