"""``wxguard verify``: recompute every hash, decrypt every record, check every checkpoint.

The walk is one pass in ledger order. For each record it recomputes the stored
digest from the row as it is on disk (blob files are re-read), decrypts the body
(GCM authenticates it), recomputes the content commitment and the leaf, extends the
hash chain and the Merkle frontier, and at each checkpoint compares the root and
chain head and checks the Ed25519 signature. The first bad record is named.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import holds, retention
from .archive import Archive, exposure
from .audit import audit_leaf
from .crypto import IntegrityError, KeyProblem, open_sealed
from .disposal import tombstone_leaf
from .ledger import GENESIS, Frontier, chain_next, checkpoint_message, leaf_hash
from .model import message_id
from .proofcheck import commitment, ed25519_verify, key_fingerprint, split_plaintext
from .sealed import blob_stored_digest, message_stored_digest, open_body

MAX_REPORTED = 100

# One ordered pass over the ledger with each record's row as stored (NULLs when missing).
_WALK = """
SELECT l.seq, l.kind, l.ref, l.leaf, l.chain,
       m.source, m.source_msg_id, m.kind, m.sent_at, m.sender_fp, m.conv_fp, m.chat, m.key_id,
       m.content_fp, m.flags, m.media_bytes, m.body,
       b.size, b.key_id, b.file_digest,
       a.at, a.actor, a.action, a.subject, a.detail,
       d.kind, d.rule, d.disposal,
       t.seq, t.kind, t.ref, t.sent_at, t.rule, t.disposal, t.at
FROM ledger l
LEFT JOIN messages m ON l.kind = 'message' AND m.seq = l.seq
LEFT JOIN blobs b ON l.kind = 'blob' AND b.seq = l.seq AND b.id = l.ref
LEFT JOIN audit a ON l.kind = 'audit' AND a.seq = l.seq
LEFT JOIN tombstones d ON l.kind IN ('message', 'blob') AND d.seq = l.seq
LEFT JOIN tombstones t ON l.kind = 'tombstone' AND t.tomb_seq = l.seq
ORDER BY l.seq
"""


@dataclass
class Problem:
    seq: int | None
    kind: str
    ref: str
    problem: str

    def __str__(self) -> str:
        where = f"ledger record {self.seq} ({self.kind} {self.ref})" if self.seq else self.ref
        return f"{where}: {self.problem}"


@dataclass
class VerifyReport:
    records: int = 0
    messages: int = 0
    blobs: int = 0
    audit_events: int = 0
    checkpoints: int = 0
    tombstones: int = 0
    disposed: dict[str, int] = field(default_factory=dict)  # "message"/"blob" -> count
    disposed_by_rule: dict[str, int] = field(default_factory=dict)
    unsealed_tail: int = 0
    public_key_fingerprint: str = ""
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, p: Problem) -> None:
        if len(self.problems) < MAX_REPORTED:
            self.problems.append(p)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "messages": self.messages,
            "blobs": self.blobs,
            "audit_events": self.audit_events,
            "checkpoints": self.checkpoints,
            "tombstones": self.tombstones,
            "disposed": self.disposed,
            "disposed_by_rule": self.disposed_by_rule,
            "unsealed_tail": self.unsealed_tail,
            "public_key_fingerprint": self.public_key_fingerprint,
            "first_problem": str(self.problems[0]) if self.problems else None,
            "problems": [p.__dict__ for p in self.problems],
            "warnings": self.warnings,
        }


def _check_message(a: Archive, seq: int, ref: str, row: tuple[Any, ...] | None) -> bytes | str:
    """Returns the recomputed leaf, or a problem description."""
    if row is None:
        return "message row is missing"
    source, msgid, kind, sent_at, sfp, cfp, chat, kid, content_fp, flags, media, body = row
    if message_id(source, msgid) != ref:
        return "message row does not match the ledger reference"
    if body is None:
        return "message body is missing"
    stored = message_stored_digest(
        seq, source, msgid, kind, sent_at, sfp, cfp, chat, kid, content_fp, flags, media, body
    )
    try:
        pt = open_body(a, seq, ref, kid, body)
    except KeyProblem as e:
        return str(e)
    except (IntegrityError, ValueError) as e:
        return f"body does not decrypt: {e}"
    if pt is None:
        return "data key destroyed but no disposal recorded"
    try:
        _salt, canonical, _raw = split_plaintext(pt)
    except ValueError as e:
        return f"body is malformed: {e}"
    if a.keys.fingerprints.of_bytes(canonical, b"msg") != content_fp:
        return "content fingerprint does not match the body"
    return leaf_hash("message", ref, commitment(pt), stored)


def _check_blob(a: Archive, ref: str, row: tuple[Any, ...] | None) -> bytes | str:
    if row is None:
        return "blob row is missing"
    size, kid, file_digest = row
    try:
        data = a.blobs.read(ref)
    except FileNotFoundError:
        return f"blob file {a.blobs.path(ref)} is missing"
    if hashlib.sha256(data).digest() != file_digest:
        return f"blob file {a.blobs.path(ref)} has been altered"
    aead = a.keys.by_id(kid)
    if aead is None:
        return "data key destroyed but no disposal recorded"
    try:
        plain = open_sealed(aead, data, ref.encode())
    except IntegrityError as e:
        return f"blob does not decrypt: {e}"
    if len(plain) != size:
        return "blob size does not match its record"
    return leaf_hash(
        "blob", ref, commitment(plain), blob_stored_digest(ref, size, kid, file_digest)
    )


def _check_audit(ref: str, row: tuple[Any, ...] | None) -> bytes | str:
    if row is None:
        return "audit event is missing"
    at, actor, action, subject, detail = row
    if action != ref:
        return "audit event does not match the ledger reference"
    return audit_leaf(at, actor, action, subject, detail)


def _check_tombstone(ref: str, row: tuple[Any, ...] | None) -> bytes | str:
    if row is None:
        return "tombstone row is missing"
    seq, kind, tref, sent_at, rule, disposal, at = row
    if tref != ref:
        return "tombstone does not match the ledger reference"
    return tombstone_leaf(seq, kind, ref, sent_at, rule, disposal, at)


def verify(a: Archive, progress: Callable[[int], None] | None = None) -> VerifyReport:
    rep = VerifyReport(public_key_fingerprint=key_fingerprint(a.keys.public_key))
    conn = a.conn
    try:
        checkpoints = conn.execute(
            "SELECT id, size, root, chain, at, signature FROM checkpoints ORDER BY size, id"
        ).fetchall()
        pub = a.keys.public_key
        cp_i = 0
        chain, frontier = GENESIS, Frontier()
        for row in conn.execute(_WALK):
            seq, kind, ref, leaf, stored_chain = row[:5]
            rep.records += 1
            if seq != rep.records:
                rep.add(Problem(seq, kind, ref, f"ledger sequence gap (expected {rep.records})"))
            disposed = row[25] is not None and row[5] is None and row[17] is None
            if disposed and row[25] == kind:
                # Disposed under retention: its tombstone (checked below) vouches for it;
                # the sealed leaf stays in the tree so checkpoints still verify.
                rep.disposed[kind] = rep.disposed.get(kind, 0) + 1
                if row[26]:
                    rep.disposed_by_rule[row[26]] = rep.disposed_by_rule.get(row[26], 0) + 1
                got = leaf
            elif kind == "message":
                rep.messages += 1
                got = _check_message(a, seq, ref, row[5:17] if row[5] is not None else None)
            elif kind == "blob":
                rep.blobs += 1
                got = _check_blob(a, ref, row[17:20] if row[17] is not None else None)
            elif kind == "tombstone":
                rep.tombstones += 1
                got = _check_tombstone(ref, row[28:35] if row[28] is not None else None)
            elif kind == "audit":
                rep.audit_events += 1
                got = _check_audit(ref, row[20:25] if row[20] is not None else None)
            else:
                got = f"unknown ledger record kind {kind!r}"
            if isinstance(got, str):
                rep.add(Problem(seq, kind, ref, got))
            elif got != leaf:
                rep.add(Problem(seq, kind, ref, "record differs from what the ledger sealed"))
            chain = chain_next(chain, leaf)
            if chain != stored_chain:
                rep.add(Problem(seq, kind, ref, "hash chain broken at this record"))
                chain = stored_chain
            frontier.append(leaf)
            while cp_i < len(checkpoints) and checkpoints[cp_i][1] == frontier.size:
                _check_checkpoint(rep, checkpoints[cp_i], frontier.root(), chain, pub)
                cp_i += 1
            if progress and rep.records % 10_000 == 0:
                progress(rep.records)
        for cp in checkpoints[cp_i:]:
            rep.add(
                Problem(
                    None,
                    "checkpoint",
                    f"checkpoint {cp[0]}",
                    f"covers {cp[1]} records but the ledger has only {rep.records}",
                )
            )
        _check_orphans(a, rep)
        _check_dedupe_keys(a, rep)
        for msg in holds.check(a) + retention.check_rules(a):
            rep.add(Problem(None, "record", "holds and retention rules", msg))
    except sqlite3.DatabaseError as e:
        rep.add(Problem(None, "database", str(a.data_dir), f"database is damaged: {e}"))
    exposed = exposure(a.data_dir)
    if exposed:
        rep.warnings.append(exposed)
    last = checkpoints[-1][1] if checkpoints else 0
    rep.unsealed_tail = max(0, rep.records - last)
    if rep.unsealed_tail:
        rep.warnings.append(
            f"{rep.unsealed_tail} record(s) after the last checkpoint (an ingest was interrupted); "
            "the next ingest or `wxguard verify --seal` signs them"
        )
    return rep


def _check_checkpoint(
    rep: VerifyReport, cp: tuple[Any, ...], root: bytes, chain: bytes, pub: bytes
) -> None:
    cid, size, croot, cchain, at, sig = cp
    rep.checkpoints += 1
    name = f"checkpoint {cid}"
    if croot != root:
        rep.add(Problem(size, "checkpoint", name, "Merkle root does not match the ledger"))
    if cchain != chain:
        rep.add(Problem(size, "checkpoint", name, "chain head does not match the ledger"))
    if not ed25519_verify(pub, checkpoint_message(size, croot, cchain, at), sig):
        rep.add(Problem(size, "checkpoint", name, "signature is invalid"))


def _check_dedupe_keys(a: Archive, rep: VerifyReport) -> None:
    """Every message has exactly its one dedupe key (src/wxguard/msgkey.py). A missing key
    would let a re-delivered message be archived twice; the keys are not ledgered (they are
    derived from sealed rows), so they are checked against the rows here."""
    c = a.conn
    # One pass computes every message's key: a message matched by its (key, seq) row uses up
    # exactly one key row (the pair is the primary key), so the rest of the rows are strays.
    n_missing, first = c.execute(
        "SELECT count(*), min(m.seq) FROM messages m WHERE NOT EXISTS "
        "(SELECT 1 FROM message_keys k WHERE k.k = wx_msgkey(m.source_msg_id) AND k.seq = m.seq)"
    ).fetchone()
    if n_missing:
        source, msgid = c.execute(
            "SELECT source, source_msg_id FROM messages WHERE seq = ?", (first,)
        ).fetchone()
        why = "dedupe key missing or wrong (a re-delivery would be archived twice)"
        rep.add(Problem(first, "message", message_id(source, msgid), why))
    (n_messages,) = c.execute("SELECT count(*) FROM messages").fetchone()
    (n_keys,) = c.execute("SELECT count(*) FROM message_keys").fetchone()
    stray = n_keys - (n_messages - n_missing)
    if stray:
        why = f"{stray} dedupe key(s) with no matching message"
        rep.add(Problem(None, "message", "message_keys table", why))


def _check_orphans(a: Archive, rep: VerifyReport) -> None:
    (n,) = a.conn.execute(
        "SELECT count(*) FROM messages m LEFT JOIN ledger l ON l.seq = m.seq "
        "WHERE l.seq IS NULL OR l.kind != 'message'"
    ).fetchone()
    if n:
        rep.add(Problem(None, "message", "messages table", f"{n} message row(s) not in the ledger"))
    known = {r[0] for r in a.conn.execute("SELECT id FROM blobs")}
    orphans = [b for b in a.blobs.ids() if b not in known]
    if orphans:
        rep.warnings.append(
            f"{len(orphans)} blob file(s) with no committed record (left by an interrupted "
            "ingest; harmless)"
        )
