"""Retention rules and defensible disposal.

A **rule** keeps messages of some kinds (empty: all) from some departments (empty: all) for
a period (``7y``, ``18m``, ``90d``; years and months are calendar periods). Its class is
*compliance* — it can only be extended: a longer period, more kinds, more departments,
never removed — or *operational* (changed and removed freely). A message is disposable when
at least one rule covers it, every rule that covers it has expired (the longest wins), and
no active legal hold covers it. Messages no rule covers are kept.

:func:`plan` lists what the rules make disposable now; :func:`wxguard.disposal.apply`
disposes of it (tombstones, crypto-shredding, a signed certificate).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from . import audit
from .archive import Archive, _now_ms
from .holds import HoldMatcher
from .policy.store import load_directory

CLASSES = ("compliance", "operational")
CHUNK = 2_000
_KEEP = re.compile(r"^\s*(\d{1,4})\s*([ymd])\s*$")


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
