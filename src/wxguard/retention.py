"""Retention rules and defensible disposal.

A **rule** keeps messages of some kinds (empty: all) from some departments (empty: all) for
a period (``7y``, ``18m``, ``90d``; years and months are calendar periods). Its class is
*compliance* — it can only be extended: a longer period, more kinds, more departments,
never removed — or *operational* (changed and removed freely). A message is disposable when
at least one rule covers it, every rule that covers it has expired (the longest wins), and
no active legal hold covers it. Messages no rule covers are kept.

Disposal (``plan`` then ``apply``) deletes the messages and, with them, their attachments
(when no kept message links them), findings, alert evidence, samples, media downloads and
index entries; appends a **tombstone** ledger record per disposed record (``verify``
accepts the missing rows and reports them); destroys a data key when nothing in its
(month, class) bucket remains (crypto-shredding: any copy of the ciphertext — a backup —
becomes unreadable); and writes a disposition **certificate** signed with the archive's
Ed25519 key. SQLite's ``secure_delete`` overwrites the freed pages.
"""

from __future__ import annotations

import calendar
import contextlib
import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from . import audit
from .archive import Archive, _now_ms
from .holds import HoldMatcher, holds
from .ledger import leaf_hash, stored_digest
from .msgkey import dedupe_key
from .policy.store import load_directory
from .proofcheck import commitment, ed25519_verify, key_fingerprint

CLASSES = ("compliance", "operational")
CHUNK = 2_000
_KEEP = re.compile(r"^\s*(\d{1,4})\s*([ymd])\s*$")
CERT_DOMAIN = b"wxguard-disposal-certificate-v1\x00"


class RetentionError(ValueError):
    pass


class Rule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    klass: str
    keep: str
    kinds: list[str] = msgspec.field(default_factory=list)
    departments: list[str] = msgspec.field(default_factory=list)

    def covers(self, kind: str, departments: set[str]) -> bool:
        if self.kinds and kind not in self.kinds:
            return False
        return not self.departments or bool(departments.intersection(self.departments))


def parse_keep(keep: str) -> tuple[int, str]:
    m = _KEEP.match(keep.lower())
    if m is None or int(m.group(1)) == 0:
        raise RetentionError(f"keep {keep!r}: expected a period like 7y, 18m or 90d")
    n, unit = int(m.group(1)), m.group(2)
    return (n * 12, "m") if unit == "y" else (n, unit)


def _bounds(keep: str) -> tuple[int, int]:
    """Shortest and longest the period can be, in days."""
    n, unit = parse_keep(keep)
    return (n, n) if unit == "d" else (n * 28, n * 31)


def cutoff(keep: str, now_ms: int) -> int:
    """Messages sent before this instant (ms) have outlived ``keep`` at ``now_ms``."""
    n, unit = parse_keep(keep)
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    if unit == "d":
        return now_ms - n * 86_400_000
    y, mth = divmod(now.year * 12 + now.month - 1 - n, 12)
    day = min(now.day, calendar.monthrange(y, mth + 1)[1])
    return int(now.replace(year=y, month=mth + 1, day=day).timestamp() * 1000)


def _norm(rule: Rule) -> Rule:
    if rule.klass not in CLASSES:
        raise RetentionError(f"class {rule.klass!r}: expected compliance or operational")
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", rule.name):
        raise RetentionError(f"rule name {rule.name!r}: letters, digits, . _ - (≤ 64)")
    parse_keep(rule.keep)
    return Rule(
        name=rule.name,
        klass=rule.klass,
        keep=rule.keep.strip().lower(),
        kinds=sorted(set(rule.kinds)),
        departments=sorted(set(rule.departments)),
    )


def rules(a: Archive) -> list[Rule]:
    return [
        Rule(name=n, klass=c, keep=k, kinds=orjson.loads(ki), departments=orjson.loads(de))
        for n, c, k, ki, de in a.conn.execute(
            "SELECT name, class, keep, kinds, departments FROM retention_rules ORDER BY name"
        )
    ]


def _narrower(old: list[str], new: list[str]) -> list[str] | None:
    """What ``new`` stops covering that ``old`` covered (empty list = everything)."""
    if not old:
        return ["(all)"] if new else None
    if not new:
        return None
    gone = sorted(set(old) - set(new))
    return gone or None


def _shortens(old: Rule, new: Rule) -> str | None:
    """Why ``new`` would shorten compliance rule ``old`` (None when it does not)."""
    if new.klass != "compliance":
        return "a compliance rule cannot become operational"
    (n_old, u_old), (n_new, u_new) = parse_keep(old.keep), parse_keep(new.keep)
    longer = n_new >= n_old if u_old == u_new else _bounds(new.keep)[0] >= _bounds(old.keep)[1]
    if not longer:
        return f"keep {new.keep} is not surely as long as {old.keep}"
    for what, o, n in (
        ("kinds", old.kinds, new.kinds),
        ("departments", old.departments, new.departments),
    ):
        gone = _narrower(o, n)
        if gone:
            return f"it would stop covering {what}: {', '.join(gone)}"
    return None


def set_rule(a: Archive, rule: Rule, actor: str) -> Rule:
    rule = _norm(rule)
    old = next((r for r in rules(a) if r.name == rule.name), None)
    if old is not None and old.klass == "compliance":
        why = _shortens(old, rule)
        if why:
            raise RetentionError(
                f"rule {rule.name} is a compliance rule and can only be extended: {why}"
            )
    detail = msgspec.to_builtins(rule)
    with a.transaction():
        seq = audit.record(a, actor, "retention-rule-set", f"retention:{rule.name}", detail)
        a.conn.execute(
            "INSERT INTO retention_rules (name, class, keep, kinds, departments, set_by, "
            "set_at, set_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "class = excluded.class, keep = excluded.keep, kinds = excluded.kinds, "
            "departments = excluded.departments, set_by = excluded.set_by, "
            "set_at = excluded.set_at, set_seq = excluded.set_seq",
            (
                rule.name,
                rule.klass,
                rule.keep,
                orjson.dumps(rule.kinds).decode(),
                orjson.dumps(rule.departments).decode(),
                actor,
                _now_ms(),
                seq,
            ),
        )
    return rule


def remove_rule(a: Archive, name: str, actor: str) -> None:
    old = next((r for r in rules(a) if r.name == name), None)
    if old is None:
        raise RetentionError(f"no retention rule {name!r}")
    if old.klass == "compliance":
        raise RetentionError(f"rule {name} is a compliance rule: it cannot be removed")
    with a.transaction():
        audit.record(a, actor, "retention-rule-remove", f"retention:{name}", {"name": name})
        a.conn.execute("DELETE FROM retention_rules WHERE name = ?", (name,))


def check_rules(a: Archive) -> list[str]:
    """Rules whose stored form differs from the audit event that set them."""
    out = []
    for r, (seq,) in zip(
        rules(a),
        a.conn.execute("SELECT set_seq FROM retention_rules ORDER BY name"),
        strict=True,
    ):
        row = a.conn.execute(
            "SELECT detail FROM audit WHERE seq = ? AND action = 'retention-rule-set'", (seq,)
        ).fetchone()
        if row is None or orjson.loads(row[0]) != msgspec.to_builtins(r):
            out.append(f"retention rule {r.name} differs from the audit event that set it")
    return out


# --------------------------------------------------------------------------- planning


@dataclass
class Plan:
    as_of: int
    rules: list[Rule]
    dispose: list[tuple[int, str]] = field(default_factory=list)  # (seq, rule that expired last)
    held: dict[int, int] = field(default_factory=dict)  # hold id -> expired messages it keeps
    kept: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    freed_blobs: dict[str, int] = field(default_factory=dict)  # blob id -> key id
    keys: list[str] = field(default_factory=list)  # month/class buckets to destroy

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "rules": [msgspec.to_builtins(r) for r in self.rules],
            "messages": len(self.dispose),
            "by_rule": self.by_rule,
            "held_by_hold": {str(k): v for k, v in self.held.items()},
            "kept_without_rule_or_unexpired": self.kept,
            "blobs": len(self.freed_blobs),
            "keys_destroyed": self.keys,
        }


def _departments(a: Archive) -> Callable[[bytes, bytes], set[str]]:
    d = load_directory(a)
    of_id = a.keys.fingerprints.of_id
    dept = {of_id(p.id): p.department for p in d.people.values() if p.department}
    internal = {of_id(p.id) for p in d.people.values() if str(p.kind) == "internal"}
    conv_depts: dict[bytes, set[str]] = {}
    for cv in d.conversations.values():
        conv_depts[of_id(cv.id)] = {
            dept[f] for e in cv.roster if (f := of_id(e.participant)) in dept
        }
    cache: dict[tuple[bytes, bytes], set[str]] = {}

    def of(sender: bytes, conv: bytes) -> set[str]:
        hit = cache.get((sender, conv))
        if hit is None:
            if sender in internal and sender in dept:
                hit = {dept[sender]}
            else:
                hit = conv_depts.get(conv, set())
            cache[(sender, conv)] = hit
        return hit

    return of


def plan(a: Archive, now_ms: int | None = None) -> Plan:
    """What a disposal at ``now_ms`` would remove (nothing is changed)."""
    now_ms = _now_ms() if now_ms is None else now_ms
    rs = rules(a)
    p = Plan(as_of=now_ms, rules=rs)
    if not rs:
        (p.kept,) = a.conn.execute("SELECT count(*) FROM messages").fetchone()
        return p
    cuts = [(r, cutoff(r.keep, now_ms)) for r in rs]
    depts = _departments(a)
    matcher = HoldMatcher(a)
    remaining_keys: dict[int, int] = {}
    for seq, kind, at, sfp, cfp, kid in a.conn.execute(
        "SELECT seq, kind, sent_at, sender_fp, conv_fp, key_id FROM messages"
    ):
        ds = depts(bytes(sfp), bytes(cfp)) if any(r.departments for r in rs) else set()
        covering = [(r, c) for r, c in cuts if r.covers(kind, ds)]
        if not covering or any(at >= c for _, c in covering):
            p.kept += 1
            remaining_keys[kid] = remaining_keys.get(kid, 0) + 1
            continue
        hid = matcher.held_by(seq, at, bytes(sfp), bytes(cfp))
        if hid is not None:
            p.held[hid] = p.held.get(hid, 0) + 1
            remaining_keys[kid] = remaining_keys.get(kid, 0) + 1
            continue
        last = max(covering, key=lambda rc: rc[1])[0].name
        p.dispose.append((seq, last))
        p.by_rule[last] = p.by_rule.get(last, 0) + 1
    gone = {s for s, _ in p.dispose}
    p.freed_blobs = _blobs_freed(a, gone)
    p.keys = _keys_freed(a, gone, p.freed_blobs, remaining_keys)
    return p


def _blobs_freed(a: Archive, gone: set[int]) -> dict[str, int]:
    """Blobs linked only from disposed messages -> their key id."""
    if not gone:
        return {}
    linked: dict[str, list[int]] = {}
    for seq, bid in a.conn.execute("SELECT msg_seq, blob_id FROM message_blobs"):
        linked.setdefault(bid, []).append(seq)
    for seq, bid in a.conn.execute(
        "SELECT msg_seq, blob_id FROM media_queue WHERE state = 'done' AND blob_id != ''"
    ):
        linked.setdefault(bid, []).append(seq)
    out = {}
    for bid, seqs in linked.items():
        if all(s in gone for s in seqs):
            row = a.conn.execute("SELECT key_id FROM blobs WHERE id = ?", (bid,)).fetchone()
            if row is not None:
                out[bid] = int(row[0])
    return out


def _keys_freed(
    a: Archive, gone: set[int], freed_blobs: dict[str, int], remaining: dict[int, int]
) -> list[str]:
    if not gone:
        return []
    blob_keys: dict[int, int] = {}
    for bid, kid in a.conn.execute("SELECT id, key_id FROM blobs"):
        if bid not in freed_blobs:
            blob_keys[kid] = blob_keys.get(kid, 0) + 1
    touched = {
        kid
        for (kid,) in a.conn.execute(
            "SELECT DISTINCT key_id FROM messages WHERE seq IN (SELECT value FROM json_each(?))",
            (orjson.dumps(sorted(gone)).decode(),),
        )
    } | set(freed_blobs.values())
    out = []
    for kid in sorted(touched):
        if remaining.get(kid) or blob_keys.get(kid):
            continue
        month, klass = a.conn.execute(
            "SELECT month, class FROM data_keys WHERE id = ?", (kid,)
        ).fetchone()
        out.append(f"{month}/{klass}")
    return out


# --------------------------------------------------------------------------- disposal


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
