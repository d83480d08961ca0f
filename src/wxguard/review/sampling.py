"""Random sampling: a configurable percentage of messages per department or per policy
put in front of reviewers, whatever the detectors said.

* ``department`` rules sample messages sent by employees of that department.
* ``policy`` rules sample messages from the employees a policy applies to that the policy
  did *not* alert on — the way to measure what a policy misses.

The choice is a keyed hash of (rule, message) below the percentage: reproducible, spread
evenly, and not predictable by an employee who does not hold the archive's keys. Rules
and every reviewer verdict are audit events in the ledger.
"""

from __future__ import annotations

from typing import Any

from .. import audit
from ..archive import Archive, _now_ms
from ..model import ParticipantKind
from ..policy.evaluate import applies
from ..policy.facts import Directory
from ..policy.pack import PolicySet
from ..policy.store import people_by_fp

SCOPES = ("department", "policy")
VERDICTS = ("ok", "escalate")
BATCH = 50_000


class SamplingError(ValueError):
    pass


def add_rule(
    archive: Archive, scope: str, value: str, percent: float, actor: str, pset: PolicySet
) -> int:
    if scope not in SCOPES:
        raise SamplingError(f"unknown scope {scope!r}; scopes are {', '.join(SCOPES)}")
    value = value.strip()
    if not value:
        raise SamplingError(f"a {scope} rule needs a {scope} name")
    if scope == "policy" and pset.get(value) is None:
        raise SamplingError(f"unknown policy {value!r}")
    if not 0 < percent <= 100:
        raise SamplingError("the percentage must be more than 0 and at most 100")
    with archive.transaction():
        cur = archive.conn.execute(
            "INSERT INTO sampling_rules (scope, value, percent, created_at) VALUES (?, ?, ?, ?)",
            (scope, value, percent, _now_ms()),
        )
        rid = int(cur.lastrowid or 0)
        detail = {"scope": scope, "value": value, "percent": percent}
        audit.record(archive, actor, "sampling-rule-add", f"sampling-rule:{rid}", detail)
    return rid


def retire_rule(archive: Archive, rule_id: int, actor: str) -> None:
    with archive.transaction():
        cur = archive.conn.execute(
            "UPDATE sampling_rules SET active = 0 WHERE id = ? AND active = 1", (rule_id,)
        )
        if cur.rowcount != 1:
            raise SamplingError(f"no active sampling rule {rule_id}")
        audit.record(archive, actor, "sampling-rule-retire", f"sampling-rule:{rule_id}", {})


def rules(archive: Archive) -> list[dict[str, Any]]:
    rows = archive.conn.execute(
        "SELECT r.id, r.scope, r.value, r.percent, r.active, r.last_seq, r.created_at, "
        "(SELECT count(*) FROM samples s WHERE s.rule_id = r.id), "
        "(SELECT count(*) FROM samples s WHERE s.rule_id = r.id AND s.state = 'new') "
        "FROM sampling_rules r ORDER BY r.id"
    )
    keys = (
        "id",
        "scope",
        "value",
        "percent",
        "active",
        "last_seq",
        "created_at",
        "picked",
        "pending",
    )
    return [dict(zip(keys, r, strict=True)) for r in rows]


def _chosen(archive: Archive, rule_id: int, seq: int, percent: float) -> bool:
    h = archive.keys.fingerprints.of_bytes(f"{rule_id}:{seq}".encode(), b"sample")
    return int.from_bytes(h[:4], "big") < percent / 100 * (1 << 32)


def run(archive: Archive, directory: Directory, pset: PolicySet) -> int:
    """Sample every message new since each active rule last ran; returns how many were picked."""
    by_fp = people_by_fp(archive, directory)
    top = archive.conn.execute("SELECT coalesce(max(seq), 0) FROM messages").fetchone()[0]
    picked = 0
    for r in rules(archive):
        if not r["active"] or r["last_seq"] >= top:
            continue
        policy = pset.get(r["value"]) if r["scope"] == "policy" else None
        if r["scope"] == "policy" and policy is None:
            continue  # the policy was removed; the rule stays for the record
        last = r["last_seq"]
        while last < top:
            end = min(last + BATCH, top)
            rows = archive.conn.execute(
                "SELECT seq, sender_fp FROM messages WHERE seq > ? AND seq <= ?", (last, end)
            ).fetchall()
            alerted: set[int] = set()
            if policy is not None:
                alerted = {
                    s
                    for (s,) in archive.conn.execute(
                        "SELECT seq FROM alert_evidence WHERE policy = ? AND seq > ? AND seq <= ?",
                        (policy.id, last, end),
                    )
                }
            chosen = []
            for seq, sfp in rows:
                person = by_fp.get(bytes(sfp))
                if person is None or person.kind != ParticipantKind.INTERNAL:
                    continue
                if policy is None:
                    if person.department != r["value"]:
                        continue
                elif seq in alerted or not applies(policy.applies_to, person):
                    continue
                if _chosen(archive, r["id"], seq, r["percent"]):
                    chosen.append((r["id"], seq, "new", _now_ms()))
            with archive.transaction():
                archive.conn.executemany(
                    "INSERT OR IGNORE INTO samples (rule_id, seq, state, picked_at) "
                    "VALUES (?, ?, ?, ?)",
                    chosen,
                )
                archive.conn.execute(
                    "UPDATE sampling_rules SET last_seq = ? WHERE id = ?", (end, r["id"])
                )
            picked += len(chosen)
            last = end
    return picked


def pending(archive: Archive, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    rows = archive.conn.execute(
        "SELECT s.rule_id, s.seq, s.picked_at, r.scope, r.value FROM samples s "
        "JOIN sampling_rules r ON r.id = s.rule_id WHERE s.state = 'new' "
        "ORDER BY s.seq LIMIT ? OFFSET ?",
        (limit, offset),
    )
    keys = ("rule_id", "seq", "picked_at", "scope", "value")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def review(archive: Archive, rule_id: int, seq: int, verdict: str, note: str, actor: str) -> None:
    if verdict not in VERDICTS:
        raise SamplingError(f"unknown verdict {verdict!r}; verdicts are {', '.join(VERDICTS)}")
    if verdict == "escalate" and not note.strip():
        raise SamplingError("escalating a sample needs a note saying what is wrong")
    with archive.transaction():
        cur = archive.conn.execute(
            "UPDATE samples SET state = ? WHERE rule_id = ? AND seq = ? AND state = 'new'",
            ("escalated" if verdict == "escalate" else "reviewed", rule_id, seq),
        )
        if cur.rowcount != 1:
            raise SamplingError(f"sample {rule_id}/{seq} is not waiting for review")
        detail = {"rule": rule_id, "verdict": verdict, "note": note.strip()}
        audit.record(archive, actor, "sample-review", f"message:{seq}", detail)
