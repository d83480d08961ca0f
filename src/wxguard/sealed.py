"""Sealed records at rest: how a message row and a blob are framed for the ledger, what
each ciphertext is bound to (its associated data), and reading them back.

The writer (:mod:`wxguard.seal`, and its native loop ``_sealcore.c``) produces these
records; ``verify``, ``proof``, search, scans, policies, review and exports read them
through here. Formats: docs/formats.md and docs/architecture.md ("Sealing").
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator

import msgspec

from .archive import Archive
from .crypto import open_sealed
from .ledger import stored_digest
from .model import Message, message_id
from .proofcheck import split_plaintext

_ROW_HEAD = struct.Struct(">qqqqIIIII")
_sha256 = hashlib.sha256


def message_stored_digest(
    seq: int, source: str, msgid: str, kind: str, sent_at: int, sender_fp: bytes,
    conv_fp: bytes, chat: str, key_id: int, content_fp: bytes, flags: str, media: int,
    body: bytes,
) -> bytes:  # fmt: skip
    """Digest of a message row's stored columns (fixed-width ints, length-prefixed text)."""
    s, i, k, c, f = (source.encode(), msgid.encode(), kind.encode(), chat.encode(),
                     flags.encode())  # fmt: skip
    head = _ROW_HEAD.pack(seq, sent_at, key_id, media, len(s), len(i), len(k), len(c), len(f))
    return _sha256(b"".join((head, s, i, k, c, f, sender_fp, conv_fp, content_fp, body))).digest()


def open_body(archive: Archive, seq: int, mid: str, kid: int, body: bytes | None) -> bytes | None:
    """The sealed plaintext of a message row; None when its key was destroyed."""
    aead = archive.keys.by_id(kid)
    if aead is None or body is None:
        return None
    return archive.codec.unpack(open_sealed(aead, body, body_aad(seq, mid)))


def stored_plaintext(archive: Archive, seq: int) -> bytes | None:
    """The sealed plaintext of archived message ``seq``, looked up by itself; None when
    there is no such message or its key was destroyed."""
    row = archive.conn.execute(
        "SELECT l.ref, m.key_id, m.body FROM messages m JOIN ledger l ON l.seq = m.seq "
        "WHERE m.seq = ?",
        (seq,),
    ).fetchone()
    return open_body(archive, seq, row[0], row[1], row[2]) if row else None


def open_blob(archive: Archive, blob_id: str) -> bytes | None:
    """The plaintext of a stored blob; None when it is not stored or its key was destroyed
    (disposed under retention)."""
    row = archive.conn.execute("SELECT key_id FROM blobs WHERE id = ?", (blob_id,)).fetchone()
    aead = archive.keys.by_id(int(row[0])) if row else None
    if aead is None:
        return None
    return open_sealed(aead, archive.blobs.read(blob_id), blob_id.encode())


_MESSAGE = msgspec.json.Decoder(Message)


def opened_batches(
    archive: Archive,
    after: int,
    *,
    until: int | None = None,
    since_ms: int | None = None,
    batch: int = 2000,
) -> Iterator[list[tuple[int, str, Message]]]:
    """(seq, message id, message) for seq in (after, until], sent at/after ``since_ms`` when
    given, decrypted and decoded, in seq order, ``batch`` rows at a time. Messages whose key
    was destroyed are skipped; a batch that is all skipped is not yielded."""
    last = after
    while True:
        q = "SELECT seq, source, source_msg_id, key_id, body FROM messages WHERE seq > ?"
        args: list[int] = [last]
        if until is not None:
            q += " AND seq <= ?"
            args.append(until)
        if since_ms is not None:
            q += " AND sent_at >= ?"
            args.append(since_ms)
        rows = archive.conn.execute(q + " ORDER BY seq LIMIT ?", (*args, batch)).fetchall()
        if not rows:
            return
        out = []
        for seq, source, msgid, kid, body in rows:
            mid = message_id(source, msgid)
            pt = open_body(archive, seq, mid, kid, body)
            if pt is not None:
                out.append((seq, mid, _MESSAGE.decode(split_plaintext(pt)[1])))
        last = rows[-1][0]
        if out:
            yield out


def blob_stored_digest(blob_id: str, size: int, key_id: int, file_digest: bytes) -> bytes:
    return stored_digest(blob_id, size, key_id, file_digest)


def quarantine_aad(stream: str, locator: str) -> bytes:
    """What a quarantined record's sealed copy is bound to."""
    return f"quarantine\x00{stream}\x00{locator}".encode()


def body_aad(seq: int, mid: str) -> bytes:
    return f"msg\x00{seq}\x00{mid}".encode()
