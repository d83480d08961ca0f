"""Persisted policy state: the directory view, allowlists, the third-party inventory
and alerts.

Participants and conversations stay sealed in the archive; :func:`load_directory`
opens them for one run. Alerts and evidence refer to conversations and people by
keyed fingerprint, never by id or name. Allowlist and inventory status changes are
audit events in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from .. import audit
from ..archive import Archive, _now_ms
from ..interchange import iter_directory
from ..model import Conversation, Participant
from .facts import LISTS, Directory, Event
from .spec import SEVERITIES, Policy, seconds

_PARTICIPANT = msgspec.json.Decoder(Participant)
_CONVERSATION = msgspec.json.Decoder(Conversation)
INVENTORY_KINDS = ("miniprogram", "bot", "app", "domain")
STATUSES = ("new", "approved", "rejected")
ALERT_STATES = ("new", "open", "closed")


class PolicyStoreError(Exception):
    pass


def load_directory(archive: Archive) -> Directory:
    people: dict[str, Participant] = {}
    convs: dict[str, Conversation] = {}
    for typ, body in iter_directory(archive):
        if typ == "participant":
            p = _PARTICIPANT.decode(body)
            people[p.id] = p
        else:
            c = _CONVERSATION.decode(body)
            convs[c.id] = c
    allow: dict[str, set[str]] = {}
    for lst, ident in archive.conn.execute("SELECT list, ident FROM allowlist"):
        allow.setdefault(lst, set()).add(ident)
    status = {
        (k, i): s for k, i, s in archive.conn.execute("SELECT kind, ident, status FROM inventory")
    }
    return Directory(people=people, conversations=convs, allow=allow, status=status)


def people_by_fp(archive: Archive, directory: Directory) -> dict[bytes, Participant]:
    """The directory's people keyed by the fingerprint alerts and the inventory store."""
    of_id = archive.keys.fingerprints.of_id
    return {of_id(p.id): p for p in directory.people.values()}


# --------------------------------------------------------------------------- allowlists


def allowlist_add(archive: Archive, lst: str, ident: str, note: str, actor: str) -> bool:
    if lst not in LISTS:
        raise PolicyStoreError(f"unknown allowlist {lst!r}; choose one of {', '.join(LISTS)}")
    if not ident.strip():
        raise PolicyStoreError("an allowlist entry needs an id")
    with archive.transaction():
        cur = archive.conn.execute(
            "INSERT INTO allowlist (list, ident, note, added_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (list, ident) DO NOTHING",
            (lst, ident, note, _now_ms()),
        )
        added = cur.rowcount == 1
        if added:
            audit.record(archive, actor, "allowlist-add", f"{lst}:{ident}", {"note": note})
    return added


def allowlist_remove(archive: Archive, lst: str, ident: str, note: str, actor: str) -> bool:
    with archive.transaction():
        cur = archive.conn.execute(
            "DELETE FROM allowlist WHERE list = ? AND ident = ?", (lst, ident)
        )
        removed = cur.rowcount == 1
        if removed:
            audit.record(archive, actor, "allowlist-remove", f"{lst}:{ident}", {"note": note})
    return removed


def allowlist(archive: Archive) -> list[dict[str, Any]]:
    rows = archive.conn.execute(
        "SELECT list, ident, note, added_at FROM allowlist ORDER BY list, ident"
    )
    return [{"list": r[0], "id": r[1], "note": r[2], "added_at": r[3]} for r in rows]


# --------------------------------------------------------------------------- inventory


def inventory_observe(archive: Archive, ev: Event, directory: Directory) -> None:
    """Count one message's third parties (first/last seen, uses, who) in the caller's txn."""
    if not ev.third_parties:
        return
    fp = archive.keys.fingerprints.of_id(ev.sender)
    c = archive.conn
    for tp in ev.third_parties:
        c.execute(
            "INSERT INTO inventory (kind, ident, name, status, first_seen, last_seen, uses) "
            "VALUES (?, ?, ?, 'new', ?, ?, 1) ON CONFLICT (kind, ident) DO UPDATE SET "
            "uses = uses + 1, name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name "
            "END, first_seen = min(coalesce(first_seen, excluded.first_seen), "
            "excluded.first_seen), last_seen = max(coalesce(last_seen, 0), excluded.last_seen)",
            (tp.kind, tp.ident, tp.name, ev.sent_at, ev.sent_at),
        )
        c.execute(
            "INSERT INTO inventory_users (kind, ident, participant_fp, uses, last_seen) "
            "VALUES (?, ?, ?, 1, ?) ON CONFLICT (kind, ident, participant_fp) DO UPDATE SET "
            "uses = uses + 1, last_seen = max(last_seen, excluded.last_seen)",
            (tp.kind, tp.ident, fp, ev.sent_at),
        )
        directory.status.setdefault((tp.kind, tp.ident), "new")


def set_status(
    archive: Archive, kind: str, ident: str, status: str, note: str, actor: str, name: str = ""
) -> str:
    """Approve or reject (or reset to new) an item; returns the previous status."""
    if kind not in INVENTORY_KINDS:
        raise PolicyStoreError(f"unknown kind {kind!r}; choose one of {', '.join(INVENTORY_KINDS)}")
    if status not in STATUSES:
        raise PolicyStoreError(f"unknown status {status!r}; choose one of {', '.join(STATUSES)}")
    with archive.transaction():
        row = archive.conn.execute(
            "SELECT status FROM inventory WHERE kind = ? AND ident = ?", (kind, ident)
        ).fetchone()
        before = row[0] if row else "unseen"
        if row is None:
            archive.conn.execute(
                "INSERT INTO inventory (kind, ident, name, status, uses, note) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (kind, ident, name, status, note),
            )
        else:
            archive.conn.execute(
                "UPDATE inventory SET status = ?, note = ? WHERE kind = ? AND ident = ?",
                (status, note, kind, ident),
            )
        if before != status:
            detail = {"from": before, "to": status, "note": note}
            audit.record(archive, actor, "inventory-status", f"{kind}:{ident}", detail)
    return str(before)


def inventory(archive: Archive, directory: Directory | None = None) -> list[dict[str, Any]]:
    c = archive.conn
    users: dict[tuple[str, str], list[tuple[bytes, int]]] = {}
    for k, i, fp, n in c.execute(
        "SELECT kind, ident, participant_fp, uses FROM inventory_users ORDER BY uses DESC"
    ):
        users.setdefault((k, i), []).append((bytes(fp), n))
    names: dict[bytes, str] = {}
    if directory is not None:
        names = {fp: (p.name or p.id) for fp, p in people_by_fp(archive, directory).items()}
    out = []
    for k, i, name, status, first, last, uses, note in c.execute(
        "SELECT kind, ident, name, status, first_seen, last_seen, uses, note FROM inventory "
        "ORDER BY kind, uses DESC, ident"
    ):
        who = users.get((k, i), [])
        out.append({
            "kind": k, "id": i, "name": name, "status": status, "first_seen": first,
            "last_seen": last, "uses": uses, "note": note, "users": len(who),
            "top_users": [{"name": names.get(fp, fp.hex()[:12]), "uses": n} for fp, n in who[:5]],
        })  # fmt: skip
    return out


# --------------------------------------------------------------------------- alerts


@dataclass
class AlertChange:
    alert_id: int
    created: bool
    new_messages: int


def _subject_fps(archive: Archive, subjects: list[str]) -> list[str]:
    return sorted({archive.keys.fingerprints.of_id(s).hex() for s in subjects})


def record_hit(
    archive: Archive,
    policy: Policy,
    conversation: str,
    evidence: list[tuple[Event, list[dict[str, Any]]]],
    subjects: list[str],
    restricted: bool,
) -> AlertChange | None:
    """Add a hit to its alert (same policy + conversation within ``aggregate``) or open one.

    Messages already evidence for this policy are skipped, so re-running a policy over the
    same history never grows or duplicates an alert. Call inside a transaction.
    """
    c = archive.conn
    fresh = []
    for ev, findings in evidence:
        cur = c.execute(
            "INSERT INTO alert_evidence (alert_id, policy, seq, at, findings) "
            "VALUES (0, ?, ?, ?, ?) ON CONFLICT (policy, seq) DO NOTHING",
            (policy.id, ev.seq, ev.sent_at, orjson.dumps(findings).decode()),
        )
        if cur.rowcount == 1:
            fresh.append(ev)
    if not fresh:
        return None
    conv_fp = archive.keys.fingerprints.of_id(conversation)
    agg = seconds(policy.aggregate) * 1000
    first = min(ev.sent_at for ev in fresh)
    last = max(ev.sent_at for ev in fresh)
    now = _now_ms()
    row = c.execute(
        "SELECT id, subjects FROM alerts WHERE policy = ? AND conv_fp = ? AND state != 'closed' "
        "AND last_at >= ? AND first_at <= ? ORDER BY last_at DESC LIMIT 1",
        (policy.id, conv_fp, first - agg, last + agg),
    ).fetchone()
    fps = _subject_fps(archive, subjects)
    if row is not None:
        alert_id = int(row[0])
        merged = sorted(set(orjson.loads(row[1])) | set(fps))
        c.execute(
            "UPDATE alerts SET last_at = max(last_at, ?), first_at = min(first_at, ?), "
            "messages = messages + ?, subjects = ?, updated_at = ? WHERE id = ?",
            (last, first, len(fresh), orjson.dumps(merged).decode(), now, alert_id),
        )
        created = False
    else:
        cur = c.execute(
            "INSERT INTO alerts (policy, policy_version, policy_digest, behaviour, severity, "
            "conv_fp, state, first_at, last_at, messages, subjects, restricted, created_at, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, 'new', ?, ?, ?, ?, ?, ?, ?)",
            (policy.id, policy.version, policy.digest, policy.behaviour, policy.severity,
             conv_fp, first, last, len(fresh), orjson.dumps(fps).decode(), int(restricted),
             now, now),
        )  # fmt: skip
        alert_id = int(cur.lastrowid or 0)
        created = True
    c.executemany(
        "UPDATE alert_evidence SET alert_id = ? WHERE policy = ? AND seq = ?",
        [(alert_id, policy.id, ev.seq) for ev in fresh],
    )
    return AlertChange(alert_id, created, len(fresh))


def list_alerts(
    archive: Archive,
    *,
    state: str | None = None,
    policy: str | None = None,
    min_severity: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    q = (
        "SELECT id, policy, policy_version, behaviour, severity, state, first_at, last_at, "
        "messages, restricted, created_at FROM alerts WHERE 1=1"
    )
    args: list[Any] = []
    if state:
        q += " AND state = ?"
        args.append(state)
    if policy:
        q += " AND policy = ?"
        args.append(policy)
    if min_severity:
        allowed = SEVERITIES[SEVERITIES.index(min_severity) :]
        q += f" AND severity IN ({','.join('?' * len(allowed))})"
        args += allowed
    q += " ORDER BY last_at DESC, id DESC LIMIT ?"
    args.append(limit)
    keys = ("id", "policy", "policy_version", "behaviour", "severity", "state", "first_at",
            "last_at", "messages", "restricted", "created_at")  # fmt: skip
    out = []
    for r in archive.conn.execute(q, args):
        d = dict(zip(keys, r, strict=True))
        d["restricted"] = bool(d["restricted"])
        out.append(d)
    return out


def alert_detail(archive: Archive, alert_id: int, directory: Directory) -> dict[str, Any]:
    """An alert with its evidence: message ids, times, spans and explanations (no text)."""
    rows = _alert_row(archive, alert_id)
    if rows is None:
        raise PolicyStoreError(f"no alert {alert_id}")
    alert, conv_fp, subjects = rows
    of_id = archive.keys.fingerprints.of_id
    by_fp = {fp.hex(): p for fp, p in people_by_fp(archive, directory).items()}
    conv = next((c for c in directory.conversations.values() if of_id(c.id) == conv_fp), None)
    alert["conversation"] = (conv.name or conv.id) if conv is not None else conv_fp.hex()[:16]
    alert["subjects"] = [
        {"name": by_fp[s].name or by_fp[s].id, "department": by_fp[s].department}
        if s in by_fp else {"name": s[:12], "department": ""}
        for s in subjects
    ]  # fmt: skip
    evidence = []
    for seq, at, findings, source, msgid in archive.conn.execute(
        "SELECT e.seq, e.at, e.findings, m.source, m.source_msg_id FROM alert_evidence e "
        "JOIN messages m ON m.seq = e.seq WHERE e.alert_id = ? ORDER BY e.seq",
        (alert_id,),
    ):
        item: dict[str, Any] = {"seq": seq, "message_id": f"{source}:{msgid}", "at": at}
        if not alert["restricted"]:
            item["findings"] = orjson.loads(findings)
        evidence.append(item)
    alert["evidence"] = evidence
    return alert


def _alert_row(archive: Archive, alert_id: int) -> tuple[dict[str, Any], bytes, list[str]] | None:
    row = archive.conn.execute(
        "SELECT id, policy, policy_version, policy_digest, behaviour, severity, state, first_at, "
        "last_at, messages, restricted, created_at, updated_at, conv_fp, subjects "
        "FROM alerts WHERE id = ?",
        (alert_id,),
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "policy", "policy_version", "policy_digest", "behaviour", "severity",
            "state", "first_at", "last_at", "messages", "restricted", "created_at",
            "updated_at")  # fmt: skip
    d = dict(zip(keys, row[:13], strict=True))
    d["restricted"] = bool(d["restricted"])
    return d, bytes(row[13]), list(orjson.loads(row[14]))
