"""Defensible disposal: ``apply`` a retention :func:`~wxguard.retention.plan`.

It deletes the planned messages and, with them, their attachments (when no kept message
links them), findings, alert evidence, samples, media downloads and index entries;
appends a **tombstone** ledger record per disposed record (``verify`` accepts the missing
rows and reports them); destroys a data key when nothing in its (month, class) bucket
remains (crypto-shredding: any copy of the ciphertext — a backup — becomes unreadable);
and writes a disposition **certificate** signed with the archive's Ed25519 key. SQLite's
``secure_delete`` overwrites the freed pages.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from . import audit
from .archive import Archive, _now_ms
from .holds import holds
from .ledger import leaf_hash, stored_digest
from .msgkey import dedupe_key
from .proofcheck import commitment, ed25519_verify, key_fingerprint
from .retention import CHUNK, RetentionError, plan

CERT_DOMAIN = b"wxguard-disposal-certificate-v1\x00"


def tombstone_leaf(
    seq: int, kind: str, ref: str, sent_at: int, rule: str, disposal: int, at: int
) -> bytes:
    stored = stored_digest(seq, kind, ref, sent_at, rule, disposal, at)
    return leaf_hash("tombstone", ref, commitment(f"{kind}\x00{seq}".encode()), stored)


@dataclass
class DisposalReport:
    id: int
    messages: int
    blobs: int
    held: int
    keys_destroyed: list[str]
    certificate: dict[str, Any]
    certificate_path: str


def apply(
    a: Archive,
    actor: str,
    now_ms: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DisposalReport:
    """Dispose of what :func:`plan` lists at ``now_ms``; chunked, each chunk one transaction
    (a crash leaves a consistent archive; running again finishes the job)."""
    now_ms = _now_ms() if now_ms is None else now_ms
    p = plan(a, now_ms)
    started = _now_ms()
    with a.transaction():
        cur = a.conn.execute(
            "INSERT INTO disposals (as_of, actor, started_at) VALUES (?, ?, ?)",
            (now_ms, actor, started),
        )
        did = int(cur.lastrowid or 0)
    a.conn.execute("PRAGMA secure_delete = ON")
    first_tomb = a.ledger_size + 1
    done = 0
    refs = hashlib.sha256()
    for i in range(0, len(p.dispose), CHUNK):
        chunk = p.dispose[i : i + CHUNK]
        with a.transaction():
            for seq, rule in chunk:
                refs.update(_dispose_message(a, seq, rule, did, now_ms).encode() + b"\n")
        done += len(chunk)
        if progress:
            progress(done, len(p.dispose))
    files = []
    with a.transaction():
        for bid in sorted(p.freed_blobs):
            row = a.conn.execute(
                "SELECT seq, created_at FROM blobs WHERE id = ?", (bid,)
            ).fetchone()
            if row is None:
                continue
            at = _now_ms()
            ts = a.ledger_append(
                "tombstone", bid, tombstone_leaf(row[0], "blob", bid, row[1], "", did, at)
            )
            a.conn.execute(
                "INSERT INTO tombstones (seq, kind, ref, sent_at, rule, disposal, at, tomb_seq) "
                "VALUES (?, 'blob', ?, ?, '', ?, ?, ?)",
                (row[0], bid, row[1], did, at, ts),
            )
            a.conn.execute("DELETE FROM blobs WHERE id = ?", (bid,))
            files.append(bid)
            refs.update(bid.encode() + b"\n")
    for bid in files:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(a.blobs.path(bid))
    destroyed = _destroy_keys(a, p.keys)
    held = sum(p.held.values())
    with a.transaction():
        cp = a.checkpoint_if_due(force=True)
        last_tomb = a.ledger_size
        a.conn.execute(
            "UPDATE disposals SET finished_at = ?, messages = ?, blobs = ?, held = ?, "
            "keys_destroyed = ? WHERE id = ?",
            (_now_ms(), len(p.dispose), len(files), held, len(destroyed), did),
        )
    cert_body = {
        "format": "wxguard-disposal-certificate/1",
        "disposal": did,
        "archive": a.meta("created_at"),
        "as_of": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(),
        "performed_by": actor,
        "started_at": datetime.fromtimestamp(started / 1000, UTC).isoformat(),
        "rules": [msgspec.to_builtins(r) for r in p.rules],
        "holds_in_force": [
            {"id": h.id, "name": h.name, "matter": h.matter, "kept": p.held.get(h.id, 0)}
            for h in holds(a, active_only=True)
        ],
        "disposed": {
            "messages": len(p.dispose),
            "by_rule": p.by_rule,
            "blobs": len(files),
            "refs_sha256": refs.hexdigest(),
            "tombstones": [first_tomb, last_tomb] if last_tomb >= first_tomb else [],
        },
        "keys_destroyed": destroyed,
        "checkpoint": (
            {"size": cp.size, "root": cp.root.hex(), "signature": cp.signature.hex()}
            if cp
            else None
        ),
        "public_key": a.keys.public_key.hex(),
    }
    cert = sign_certificate(a, cert_body)
    path = a.data_dir / "certificates" / f"disposal-{did:05d}.json"
    path.parent.mkdir(mode=0o700, exist_ok=True)
    text = orjson.dumps(cert, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode()
    with a.transaction():
        a.conn.execute("UPDATE disposals SET certificate = ? WHERE id = ?", (text, did))
        audit.record(
            a,
            actor,
            "disposal",
            f"disposal:{did}",
            {
                "messages": len(p.dispose),
                "blobs": len(files),
                "held": held,
                "keys_destroyed": destroyed,
                "as_of": now_ms,
                "certificate_sha256": hashlib.sha256(text.encode()).hexdigest(),
            },
        )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    a.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    a.conn.execute("PRAGMA secure_delete = OFF")
    return DisposalReport(did, len(p.dispose), len(files), held, destroyed, cert, str(path))


def _dispose_message(a: Archive, seq: int, rule: str, did: int, now_ms: int) -> str:
    c = a.conn
    row = c.execute(
        "SELECT source, source_msg_id, sent_at FROM messages WHERE seq = ?", (seq,)
    ).fetchone()
    if row is None:
        return ""
    ref = f"{row[0]}:{row[1]}"
    at = _now_ms()
    ts = a.ledger_append(
        "tombstone", ref, tombstone_leaf(seq, "message", ref, row[2], rule, did, at)
    )
    c.execute(
        "INSERT INTO tombstones (seq, kind, ref, sent_at, rule, disposal, at, tomb_seq) "
        "VALUES (?, 'message', ?, ?, ?, ?, ?, ?)",
        (seq, ref, row[2], rule, did, at, ts),
    )
    for q in (
        "DELETE FROM messages WHERE seq = ?",
        "DELETE FROM findings WHERE seq = ?",
        "DELETE FROM alert_evidence WHERE seq = ?",
        "DELETE FROM samples WHERE seq = ?",
        "DELETE FROM media_queue WHERE msg_seq = ?",
        "DELETE FROM message_blobs WHERE msg_seq = ?",
        "DELETE FROM recalls WHERE revoke_seq = ?",
    ):
        c.execute(q, (seq,))
    c.execute("DELETE FROM message_keys WHERE k = ? AND seq = ?", (dedupe_key(row[1]), seq))
    c.execute("INSERT OR IGNORE INTO index_deletions (seq) VALUES (?)", (seq,))
    return ref


def _destroy_keys(a: Archive, buckets: list[str]) -> list[str]:
    """Crypto-shred buckets that hold nothing any more (checked again under the lock)."""
    out = []
    with a.transaction():
        for b in buckets:
            month, klass = b.split("/")
            row = a.conn.execute(
                "SELECT id FROM data_keys WHERE month = ? AND class = ? AND wrapped IS NOT NULL",
                (month, klass),
            ).fetchone()
            if row is None:
                continue
            kid = row[0]
            if a.conn.execute("SELECT 1 FROM messages WHERE key_id = ? LIMIT 1", (kid,)).fetchone():
                continue
            if a.conn.execute("SELECT 1 FROM blobs WHERE key_id = ? LIMIT 1", (kid,)).fetchone():
                continue
            # renamed so a late message for that month gets a fresh key, never this one
            a.conn.execute(
                "UPDATE data_keys SET wrapped = NULL, destroyed_at = ?, month = ? WHERE id = ?",
                (_now_ms() // 1000, f"{month}~shredded-{kid}", kid),
            )
            out.append(b)
    a.keys.forget_uncommitted()
    return out


def sign_certificate(a: Archive, body: dict[str, Any]) -> dict[str, Any]:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return {**body, "signature": a.keys.signing.sign(CERT_DOMAIN + canonical).hex()}


def check_certificate(doc: dict[str, Any], public_key: bytes | None = None) -> str:
    """Verify a disposition certificate; returns the signing key's fingerprint."""
    body = {k: v for k, v in doc.items() if k != "signature"}
    try:
        pub = bytes.fromhex(body["public_key"])
        sig = bytes.fromhex(doc["signature"])
    except (KeyError, ValueError, TypeError):
        raise RetentionError("certificate has no valid public_key or signature") from None
    if public_key is not None and pub != public_key:
        raise RetentionError("certificate is signed by a different key than this archive's")
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    if not ed25519_verify(pub, CERT_DOMAIN + canonical, sig):
        raise RetentionError("certificate signature is invalid (the document was altered)")
    return key_fingerprint(pub)
