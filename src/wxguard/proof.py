"""Inclusion proofs for archived messages (checked by :mod:`wxguard.proofcheck`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import orjson

from .archive import Archive, ArchiveError
from .ledger import inclusion_path, inclusion_paths
from .msgkey import dedupe_key
from .proofcheck import FORMAT, split_plaintext
from .sealed import message_stored_digest, open_body


def _by_id(a: Archive, msgid: str) -> list[tuple[int, str, str]]:
    """(seq, source, id) of the archived messages with source id ``msgid``, any source."""
    return a.conn.execute(
        "SELECT m.seq, m.source, m.source_msg_id FROM message_keys k "
        "JOIN messages m ON m.seq = k.seq WHERE k.k = ? AND m.source_msg_id = ? "
        "ORDER BY m.seq",
        (dedupe_key(msgid), msgid),
    ).fetchall()


def find_message(a: Archive, ident: str) -> tuple[int, str]:
    """Resolve ``source:msgid`` or a bare source msgid to (seq, message id)."""
    source, sep, msgid = ident.partition(":")
    rows = []
    if sep:  # source:msgid
        rows = [r for r in _by_id(a, msgid) if r[1] == source]
    if not rows:  # a bare msgid (ids from different sources can collide)
        rows = _by_id(a, ident)
    if not rows:
        raise ArchiveError(f"no archived message with id {ident!r}")
    if len(rows) > 1:
        ids = ", ".join(f"{r[1]}:{r[2]}" for r in rows)
        raise ArchiveError(f"message id {ident!r} is ambiguous ({ids}); use source:msgid")
    seq, source, msgid = rows[0]
    return int(seq), f"{source}:{msgid}"


_ROW = (
    "SELECT source, source_msg_id, kind, sent_at, sender_fp, conv_fp, chat, key_id, "
    "content_fp, flags, media_bytes, body FROM messages WHERE seq = ?"
)
_CP = (
    "SELECT size, root, chain, at, signature FROM checkpoints WHERE size >= ? "
    "ORDER BY size DESC LIMIT 1"
)


def _leaves(a: Archive, size: int) -> list[bytes]:
    return [
        r[0] for r in a.conn.execute("SELECT leaf FROM ledger WHERE seq <= ? ORDER BY seq", (size,))
    ]


def _document(
    a: Archive, seq: int, mid: str, path: list[bytes], cp: tuple[Any, ...]
) -> dict[str, Any]:
    size, root, chain, at, sig = cp
    row = a.conn.execute(_ROW, (seq,)).fetchone()
    if row is None:
        raise ArchiveError(f"message {mid} has been disposed of; no content to prove")
    source, msgid, kind, sent_at, sfp, cfp, chat, kid, content_fp, flags, media, body = row
    pt = open_body(a, seq, mid, kid, body)
    if pt is None:
        raise ArchiveError(f"message {mid} has been disposed of; no content to prove")
    _salt, canonical, _raw = split_plaintext(pt)
    stored = message_stored_digest(
        seq, source, msgid, kind, sent_at, sfp, cfp, chat, kid, content_fp, flags, media, body
    )
    return {
        "format": FORMAT,
        "message_id": mid,
        "message": orjson.loads(canonical),
        "record": {
            "kind": "message",
            "ref": mid,
            "index": seq - 1,
            "sealed_plaintext_b64": base64.b64encode(pt).decode(),
            "stored_digest": stored.hex(),
        },
        "path": [p.hex() for p in path],
        "checkpoint": {
            "size": size,
            "root": root.hex(),
            "chain": chain.hex(),
            "at": at,
            "signature": sig.hex(),
            "public_key": a.keys.public_key.hex(),
        },
    }


def _checkpoint(a: Archive, seq: int, mid: str) -> tuple[Any, ...]:
    cp = a.conn.execute(_CP, (seq,)).fetchone()
    if cp is None:
        raise ArchiveError(
            f"message {mid} is not yet covered by a signed checkpoint; run `wxguard verify --seal`"
        )
    return tuple(cp)


def build_proof(a: Archive, ident: str) -> dict[str, Any]:
    seq, mid = find_message(a, ident)
    cp = _checkpoint(a, seq, mid)
    path = inclusion_path(seq - 1, _leaves(a, cp[0]))
    return _document(a, seq, mid, path, cp)


def build_proofs(a: Archive, messages: list[tuple[int, str]]) -> Iterator[dict[str, Any]]:
    """Proofs for many (seq, message id) against one checkpoint (the newest), reading the
    ledger once — for exports."""
    if not messages:
        return
    top = max(s for s, _ in messages)
    cp = _checkpoint(a, top, dict(messages)[top])
    paths = inclusion_paths([s - 1 for s, _ in messages], _leaves(a, cp[0]))
    for seq, mid in messages:
        yield _document(a, seq, mid, paths[seq - 1], cp)
