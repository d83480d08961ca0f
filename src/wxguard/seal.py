"""The seal stage: dedupe, encrypt and ledger a batch, commit it with its source cursor.

One call to :meth:`Sealer.commit` is one SQLite transaction holding the batch's
messages, ledger records, directory updates, quarantined inputs and the cursor that
produced them — so a crash anywhere loses or duplicates nothing.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from . import native
from .archive import Archive, _now_ms
from .codec import Codec
from .crypto import NONCE, Fingerprinter, open_sealed, seal
from .keyring import DEFAULT_CLASS
from .ledger import Frontier, chain_next, leaf_hash
from .model import (
    JSON_ENCODER,
    PAYLOAD_TYPES,
    Attachment,
    ChatRecord,
    ChatType,
    Conversation,
    Emotion,
    File,
    Image,
    MeetingVoiceCall,
    Message,
    Mixed,
    Participant,
    RosterEntry,
    Video,
    Voice,
    VoipDocShare,
    classify_participant,
)
from .msgkey import dedupe_key
from .proofcheck import commitment, split_plaintext
from .sealed import (
    blob_stored_digest,
    body_aad,
    message_stored_digest,
    quarantine_aad,
    stored_plaintext,
)
from .textview import attachments_of

_CONVERSATION_DEC = msgspec.json.Decoder(Conversation)
LedgerRow = tuple[int, str, str, bytearray, bytearray]  # seq, kind, ref, leaf, chain
# What sealing a batch gives: the ``messages``, ``ledger`` and ``message_keys`` rows, the
# chain head and the Merkle frontier after them.
Sealed = tuple[list[tuple[Any, ...]], list[LedgerRow], list[tuple[int, int]], bytes,
               list[tuple[int, bytes]]]  # fmt: skip
MAX_QUARANTINE_KEEP = 1 << 20
_TAGS: dict[type, str] = {t: str(t.__struct_config__.tag) for t in PAYLOAD_TYPES}
_WITH_ATTACHMENTS = frozenset(
    (Image, Voice, Video, Emotion, File, MeetingVoiceCall, VoipDocShare, ChatRecord, Mixed)
)


# One message's sealing work that does not depend on its place in the ledger, done by
# :func:`prepare` — in the writer, or in worker processes (``wxguard ingest --jobs``) — then
# sealed in order by :meth:`Sealer.commit`. A plain tuple, because it crosses processes
# (pickling a tuple of plain values is ~3x cheaper than a named tuple's). Fields, in order:
# source, source msg id, message id, kind, sent_at, chat, flags ("," joined), media bytes,
# attachment blob ids, the recalled msg id of a revoke (else None), sender, recipients,
# conversation, dedupe key, content fingerprint, sender and conversation fingerprints,
# the packed (codec byte + compressed) salted plaintext, and its commitment.
Prepared = tuple[
    str, str, str, str, int, ChatType, str, int, tuple[str, ...], str | None, str, list[str],
    str, int, bytes, bytes, bytes, bytes, bytes,
]  # fmt: skip


def prepare(m: Message, raw: bytes, salt: bytes, fp: Fingerprinter, codec: Codec) -> Prepared:
    """The ledger-independent part of sealing ``m`` (received as ``raw``); ``salt`` is 16
    random bytes."""
    canonical = JSON_ENCODER.encode(m)
    cfp = fp.of_bytes(canonical, b"msg")
    return _finish(m, raw, canonical, cfp, dedupe_key(m.source_msg_id), salt, fp, codec)


def _finish(
    m: Message, raw: bytes, canonical: bytes, cfp: bytes, dkey: int, salt: bytes,
    fp: Fingerprinter, codec: Codec,
) -> Prepared:  # fmt: skip
    payload = m.payload
    if _pack_commit is not None:
        packed, commit = _pack_commit(salt, canonical, raw, codec.compress)
    else:
        pt = salt + _pack_len(len(canonical)) + canonical + raw
        packed, commit = codec.pack(pt), commitment(pt)
    atts = attachments_of(payload) if type(payload) in _WITH_ATTACHMENTS else []
    kind = _TAGS[type(payload)]
    return (
        m.source, m.source_msg_id, m.id, kind, m.sent_at, m.chat,
        ",".join(m.flags) if m.flags else "",
        sum(x.size or 0 for x in atts) if atts else 0,
        tuple(x.blob_id for x in atts if x.blob_id),
        payload.pre_msgid if kind == "revoke" else None,  # type: ignore[union-attr]
        m.sender, m.recipients, m.conversation, dkey, cfp, fp.of_id(m.sender),
        fp.of_id(m.conversation), packed, commit,
    )  # fmt: skip


@dataclass
class Batch:
    messages: list[tuple[Message, bytes]] = field(default_factory=list)
    # Messages already prepared (by worker processes) and their raw bytes, sealed after
    # ``messages``.
    prepared: list[tuple[Prepared, bytes]] = field(default_factory=list)
    participants: list[Participant] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    quarantine: list[tuple[str, str, bytes]] = field(default_factory=list)  # locator, reason, raw
    cursor: tuple[str, str] | None = None
    # The input records are quarantined under when there is no cursor (a retry of the
    # quarantine itself: see requeue.py).
    stream: str = ""
    # The source WeCom records were read under, kept with quarantined ones for a retry.
    source: str = ""
    # Called in the batch's transaction with (seq, message) of each newly sealed message,
    # for rows that must commit with them (media downloads to do, capture health).
    on_sealed: Callable[[list[tuple[int, Message]]], None] | None = None
    # Plaintext client imports: the same message (same account, same server id) read from
    # another device or export renders differently; it is a duplicate, not a conflict.
    rerendered_duplicates: bool = False

    def __len__(self) -> int:
        return (
            len(self.messages)
            + len(self.prepared)
            + len(self.participants)
            + len(self.conversations)
            + len(self.quarantine)
        )


@dataclass
class Counts:
    imported: int = 0
    duplicates: int = 0
    quarantined: int = 0
    directory: int = 0
    blobs: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        self.imported += other.imported
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.directory += other.directory
        self.blobs += other.blobs
        for k, v in other.reasons.items():
            self.reasons[k] = self.reasons.get(k, 0) + v


_pack_len = struct.Struct(">I").pack


def _seal_messages_py(
    todo: list[Prepared], bucket_key: Callable[[int], tuple[int, bytes]], nonces: bytes,
    seq0: int, head: bytes, frontier: list[tuple[int, bytes]], now: int,
) -> Sealed:  # fmt: skip
    """Seal prepared messages at ledger positions ``seq0``, ``seq0 + 1``, …: encrypt each
    packed body bound to its position, digest the stored row, extend the hash chain and
    the Merkle ``frontier`` from ``head``; returns the ``messages``, ``ledger`` and
    ``message_keys`` rows, the new head and frontier. ``bucket_key(sent_at)`` gives (key
    id, data key); ``nonces`` holds 12 random bytes per message.

    The reference for the native loop in ``_sealcore.c`` (tests compare the two)."""
    rows: list[tuple[Any, ...]] = []
    ledger_rows: list[LedgerRow] = []
    key_rows: list[tuple[int, int]] = []
    aeads: dict[int, AESGCM] = {}
    tree = Frontier(0, list(frontier))
    # sqlite3 binds bytearray and exact str directly, but looks bytes and str subclasses
    # (the StrEnum ``chat``) up in its adapter registry first (~1 us each).
    blob = bytearray
    for i, pm in enumerate(todo):
        (source, msgid, mid, kind, sent_at, chat, flags, media, _, _, _, _, _, dkey, cfp,
         sender_fp, conv_fp, packed, commit) = pm  # fmt: skip
        kid, key = bucket_key(sent_at)
        aead = aeads.get(kid)
        if aead is None:
            aead = aeads[kid] = AESGCM(key)
        seq = seq0 + i
        body = seal(aead, packed, body_aad(seq, mid), nonces[NONCE * i : NONCE * (i + 1)])
        stored = message_stored_digest(
            seq, source, msgid, kind, sent_at, sender_fp, conv_fp, chat, kid, cfp, flags,
            media, body,
        )  # fmt: skip
        leaf = leaf_hash("message", mid, commit, stored)
        head = chain_next(head, leaf)
        tree.append(leaf)
        rows.append(
            (seq, source, msgid, kind, sent_at, blob(sender_fp), blob(conv_fp), str(chat),
             kid, blob(cfp), flags, media, blob(body), now)
        )  # fmt: skip
        ledger_rows.append((seq, "message", mid, blob(leaf), blob(head)))
        key_rows.append((dkey, seq))
    return rows, ledger_rows, key_rows, head, tree.stack


SealMessages = Callable[
    [list[Prepared], Callable[[int], tuple[int, bytes]], bytes, int, bytes,
     list[tuple[int, bytes]], int],
    Sealed,
]  # fmt: skip
# The native loop (_sealcore.c) makes the whole ingest ~1.16x faster (docs/performance.md).
native_seal_messages: SealMessages | None = native.built.seal_messages if native.built else None
seal_messages: SealMessages = native.core.seal_messages if native.core else _seal_messages_py
_pack_commit: Callable[[bytes, bytes, bytes, Callable[[bytes], bytes]], tuple[bytes, bytes]] | None
_pack_commit = native.core.pack_commit if native.core else None


class Sealer:
    def __init__(self, archive: Archive) -> None:
        self.a = archive
        self.fp = archive.keys.fingerprints
        archive.bulk_writes()
        self._known_participants = self._load_known_participants()
        self._rosters: dict[bytes, Conversation] = {}
        self._members: dict[bytes, set[str]] = {}
        self._dirty: set[bytes] = set()

    # ------------------------------------------------------------------ blobs

    def put_blob(self, data: bytes, sent_at: int, klass: str = DEFAULT_CLASS) -> Attachment:
        """Store attachment bytes (file written now, row + ledger record in the open tx)."""
        blob_id = self.fp.of_bytes(data, b"blob").hex()
        att = Attachment(
            blob_id=blob_id, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
            md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        )  # fmt: skip
        if self.a.conn.execute("SELECT 1 FROM blobs WHERE id = ?", (blob_id,)).fetchone():
            return att
        kid, aead = self.a.keys.bucket(sent_at, klass)
        sealed = seal(aead, data, blob_id.encode())
        file_digest = self.a.blobs.write(blob_id, sealed)
        stored = blob_stored_digest(blob_id, len(data), kid, file_digest)
        seq = self.a.ledger_append(
            "blob", blob_id, leaf_hash("blob", blob_id, commitment(data), stored)
        )
        self.a.conn.execute(
            "INSERT INTO blobs (id, seq, size, stored_size, key_id, file_digest, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (blob_id, seq, len(data), len(sealed), kid, file_digest, _now_ms()),
        )
        self._new_blobs += 1
        return att

    # ------------------------------------------------------------------ batch

    def begin(self) -> None:
        self.a.begin()
        self._new_blobs = 0

    def commit(self, batch: Batch) -> Counts:
        """Seal ``batch`` in the transaction opened by :meth:`begin` and commit it."""
        try:
            counts = self._seal(batch)
            counts.blobs = self._new_blobs
            self.a.checkpoint_if_due()
            self.a.commit()
        except BaseException:
            self.abort()
            raise
        return counts

    def abort(self) -> None:
        """Roll back the open transaction and forget state that came from it."""
        self.a.rollback()
        self._rosters.clear()
        self._members.clear()
        self._dirty.clear()
        self._known_participants = self._load_known_participants()

    def _load_known_participants(self) -> set[bytes]:
        return {r[0] for r in self.a.conn.execute("SELECT fp FROM participants")}

    def _existing(self, dkeys: list[int]) -> dict[tuple[str, str], tuple[bytes, int | bytes]]:
        """(source, id) -> (content fingerprint, seq) of archived messages whose dedupe key
        is one of ``dkeys`` (a superset of the batch's ids: the caller compares the ids)."""
        found: dict[tuple[str, str], tuple[bytes, int | bytes]] = {}
        wanted = sorted(set(dkeys))
        for i in range(0, len(wanted), 900):
            chunk = wanted[i : i + 900]
            q = ",".join("?" * len(chunk))
            for source, mid, cfp, seq in self.a.conn.execute(
                f"SELECT m.source, m.source_msg_id, m.content_fp, m.seq FROM message_keys k "
                f"JOIN messages m ON m.seq = k.seq WHERE k.k IN ({q})",
                chunk,
            ):
                found[(source, mid)] = (cfp, seq)
        return found

    def _same_record(self, seen: int | bytes, raw: bytes) -> bool:
        """Whether ``raw`` is byte for byte the record a message was first read from:
        ``seen`` is the archived message's seq, or the raw bytes of one earlier in the
        batch. An archived message is opened for this (only when the canonical forms
        differ: rare); one whose key was destroyed cannot be compared, so is not the same."""
        if isinstance(seen, bytes):
            return seen == raw
        pt = stored_plaintext(self.a, seen)
        return pt is not None and split_plaintext(pt)[2] == raw

    def _seal(self, batch: Batch) -> Counts:
        a, conn, fp, keys = self.a, self.a.conn, self.fp, self.a.keys
        counts = Counts()
        now = _now_ms()
        for p in batch.participants:
            self._upsert_participant(p)
            counts.directory += 1
        for c in batch.conversations:
            self._upsert_conversation(c)
            counts.directory += 1

        dkeys = [dedupe_key(m.source_msg_id) for m, _ in batch.messages]
        existing = self._existing(dkeys + [pm[13] for pm, _ in batch.prepared])  # dedupe keys
        quarantine = list(batch.quarantine)

        def fresh(source: str, msgid: str, cfp: bytes, raw: bytes) -> bool:
            """Not archived yet (and now counted as seen); a duplicate is counted or, with
            different content, quarantined. The same source record is a duplicate even when
            its canonical form is not the one archived: a later wxguard may normalise it
            differently (a new field), and a re-read after an upgrade is no conflict."""
            prior = existing.get((source, msgid))
            if prior is None:
                existing[(source, msgid)] = (cfp, raw)
                return True
            prior_cfp, seen = prior
            if prior_cfp == cfp or batch.rerendered_duplicates or self._same_record(seen, raw):
                counts.duplicates += 1
            else:
                reason = "duplicate message id with different content"
                quarantine.append((f"msgid={msgid}", reason, raw))
            return False

        # Salts and AES-GCM nonces: one system call for the batch (os.urandom is one per call).
        n = len(batch.messages) + len(batch.prepared)
        rand = os.urandom(16 * len(batch.messages) + NONCE * n)
        nonce_at = 16 * len(batch.messages)
        todo: list[Prepared] = []
        todo_msgs: list[Message] = []  # the Message of each of ``todo`` that has one
        # Not ``prepare``: a duplicate is known from its fingerprint, before compressing.
        enc, of_bytes, codec = JSON_ENCODER.encode, fp.of_bytes, a.codec
        for i, (m, raw) in enumerate(batch.messages):
            canonical = enc(m)
            cfp = of_bytes(canonical, b"msg")
            if fresh(m.source, m.source_msg_id, cfp, raw):
                todo.append(_finish(m, raw, canonical, cfp, dkeys[i], rand[16 * i : 16 * i + 16],
                                    fp, codec))  # fmt: skip
                todo_msgs.append(m)
        todo += (pm for pm, raw in batch.prepared if fresh(pm[0], pm[1], pm[14], raw))  # cfp

        # The hot loop, in ledger order: native when built (see seal_messages).
        first = a.ledger_size + 1  # seqs are consecutive, ``todo_msgs`` first
        rows, ledger_rows, key_rows, head, frontier = seal_messages(
            todo, keys.bucket_key, rand[nonce_at:], first, a.ledger_head, a.frontier.stack, now
        )
        a.ledger_extend(ledger_rows, head, frontier)
        recalls = []
        links = []
        observe = self._observe
        for seq, pm in enumerate(todo, first):
            for blob_id in pm[8]:
                links.append((seq, blob_id))
            if pm[9] is not None:  # the message id a revoke recalls
                recalls.append((pm[0], pm[9], seq))
            # sender, recipients, conversation, chat, sent_at, sender and conversation fps
            observe(pm[10], pm[11], pm[12], pm[5], pm[4], pm[15], pm[16])
        conn.executemany(
            "INSERT INTO messages (seq, source, source_msg_id, kind, sent_at, sender_fp, conv_fp, "
            "chat, key_id, content_fp, flags, media_bytes, body, ingested_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany("INSERT INTO message_keys (k, seq) VALUES (?, ?)", key_rows)
        counts.imported = len(rows)
        if links:
            conn.executemany("INSERT OR IGNORE INTO message_blobs VALUES (?, ?)", links)
        if recalls:
            conn.executemany("INSERT OR IGNORE INTO recalls VALUES (?, ?, ?)", recalls)
        self._flush_rosters()
        if batch.on_sealed is not None:
            batch.on_sealed([(first + k, m) for k, m in enumerate(todo_msgs)])
        for locator, reason, raw in quarantine:
            self._quarantine(batch.cursor[0] if batch.cursor else batch.stream, locator, reason,
                             raw, now, batch.source)  # fmt: skip
            counts.quarantined += 1
            counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
        if batch.cursor is not None:
            conn.execute(
                "INSERT INTO cursors (stream, position, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (stream) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at",
                (*batch.cursor, now),
            )
        return counts

    # ------------------------------------------------------------------ directory

    def _quarantine(
        self, stream: str, locator: str, reason: str, raw: bytes, now: int, source: str = ""
    ) -> None:
        keep = raw[:MAX_QUARANTINE_KEEP]
        aad = quarantine_aad(stream, locator)
        self.a.conn.execute(
            "INSERT INTO quarantine (stream, locator, reason, enc, at, source) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (stream, locator) DO NOTHING",
            (stream, locator, reason, seal(self.a.keys.records, keep, aad), now, source),
        )

    def _upsert_participant(self, p: Participant) -> None:
        pfp = self.fp.of_id(p.id)
        body = seal(self.a.keys.records, JSON_ENCODER.encode(p), b"participant\x00" + pfp)
        self.a.conn.execute(
            "INSERT INTO participants (fp, kind, enc) VALUES (?, ?, ?) "
            "ON CONFLICT (fp) DO UPDATE SET kind = excluded.kind, enc = excluded.enc",
            (pfp, p.kind, body),
        )
        self._known_participants.add(pfp)

    def _upsert_conversation(self, c: Conversation) -> None:
        cfp = self.fp.of_id(c.id)
        current = self._load_conversation(cfp)
        if current is not None:
            have = {e.participant for e in c.roster}
            c.roster.extend(e for e in current.roster if e.participant not in have)
        self._rosters[cfp] = c
        self._members.pop(cfp, None)
        self._dirty.add(cfp)

    def _load_conversation(self, cfp: bytes) -> Conversation | None:
        conv = self._rosters.get(cfp)
        if conv is not None:
            return conv
        row = self.a.conn.execute("SELECT enc FROM conversations WHERE fp = ?", (cfp,)).fetchone()
        if row is None:
            return None
        conv = _CONVERSATION_DEC.decode(
            open_sealed(self.a.keys.records, row[0], b"conversation\x00" + cfp)
        )
        self._rosters[cfp] = conv
        return conv

    def _observe(
        self, sender: str, recipients: list[str], conversation: str, chat: ChatType,
        sent_at: int, sender_fp: bytes, conv_fp: bytes,
    ) -> None:  # fmt: skip
        """Register unseen participants and grow conversation rosters (first seen = joined)."""
        members = self._members.get(conv_fp)
        if members is not None and sender in members and members.issuperset(recipients):
            return  # the common case: nobody new
        conv = self._rosters.get(conv_fp) or self._load_conversation(conv_fp)
        if conv is None:
            conv = Conversation(id=conversation, type=chat)
            self._rosters[conv_fp] = conv
            self._dirty.add(conv_fp)
        members = {e.participant for e in conv.roster}
        self._members[conv_fp] = members
        people: Iterable[str] = (sender, *recipients)
        for pid in people:
            if not pid or pid in members:
                continue
            pfp = sender_fp if pid is sender else self.fp.of_id(pid)
            if pfp not in self._known_participants:
                self._upsert_participant(Participant(id=pid, kind=classify_participant(pid)))
            conv.roster.append(RosterEntry(participant=pid, joined_at=sent_at or None))
            members.add(pid)
            self._dirty.add(conv_fp)

    def _flush_rosters(self) -> None:
        rows = []
        for cfp in self._dirty:
            c = self._rosters[cfp]
            body = seal(self.a.keys.records, JSON_ENCODER.encode(c), b"conversation\x00" + cfp)
            rows.append((cfp, c.type, body))
        if rows:
            self.a.conn.executemany(
                "INSERT INTO conversations (fp, type, enc) VALUES (?, ?, ?) "
                "ON CONFLICT (fp) DO UPDATE SET type = excluded.type, enc = excluded.enc",
                rows,
            )
        self._dirty.clear()
        if len(self._rosters) > 50_000:
            self._rosters.clear()
            self._members.clear()
