"""Evaluate policies over the archive: findings + context → alerts, inventory, outbox.

Incremental like detection: each policy remembers the last message it evaluated
(``policy_state``) and each run goes on from there, up to the last message every
active detector has scanned (findings must exist before a policy judges a message).
Window and sequence policies first replay the messages just before, so a window
that spans two runs still closes. Each batch's alerts, evidence, outbox items,
inventory counts and advanced state commit together: a crash loses or doubles
nothing. A policy added to an archive that already has evaluated history starts at
the current end; ``since_ms`` (``wxguard scan --policy ID --since 90d``) runs it over
history, and evidence already recorded for a policy is never recorded twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import audit
from ..archive import Archive, _now_ms
from ..delivery.config import AlertingConfig
from ..delivery.outbox import enqueue
from ..model import message_id
from ..sealed import opened_batches
from ..textview import text_view
from .evaluate import Hit, PolicyEngine
from .facts import Directory, Event, FindingFact, event_of
from .spec import Policy, seconds
from .store import inventory_observe, load_directory, record_hit

BATCH = 2000
INVENTORY = "~inventory"  # policy_state row tracking third-party inventory counting


@dataclass
class PolicyRunSummary:
    messages: int = 0
    alerts_created: int = 0
    alerts_grown: int = 0
    evidence: int = 0
    notices: int = 0
    nudges: int = 0
    by_policy: dict[str, int] = field(default_factory=dict)
    started_at_end: list[str] = field(default_factory=list)
    policies: dict[str, int] = field(default_factory=dict)
    watermark: int = 0
    seconds: float = 0.0


def watermark(archive: Archive, detector_ids: Iterable[str] | None) -> int:
    """The last message every active detector has scanned."""
    rows = dict(archive.conn.execute("SELECT detector, last_seq FROM scan_state").fetchall())
    ids = list(detector_ids) if detector_ids is not None else list(rows)
    if not ids or any(d not in rows for d in ids):
        return 0
    return int(min(rows[d] for d in ids))


def evaluate_archive(
    archive: Archive,
    policies: list[Policy],
    *,
    detector_ids: Iterable[str] | None = None,
    since_ms: int | None = None,
    alerting: AlertingConfig | None = None,
    actor: str = "",
    progress: Callable[[int], None] | None = None,
) -> PolicyRunSummary:
    t0 = time.perf_counter()
    s = PolicyRunSummary(policies={p.id: p.version for p in policies if p.enabled})
    active = [p for p in policies if p.enabled]
    end = s.watermark = watermark(archive, detector_ids)
    state = {
        r[0]: int(r[1]) for r in archive.conn.execute("SELECT policy, last_seq FROM policy_state")
    }
    fresh_archive = not any(k != INVENTORY for k in state)
    starts: dict[str, int] = {}
    for p in active:
        if p.id in state:
            starts[p.id] = state[p.id]
        elif fresh_archive:
            starts[p.id] = 0
        else:
            starts[p.id] = max(v for k, v in state.items() if k != INVENTORY)
            if since_ms is None:
                s.started_at_end.append(p.id)
    if since_ms is not None:
        starts = dict.fromkeys(starts, 0)
    inv_start = state.get(INVENTORY, 0)
    directory = load_directory(archive)
    engine = PolicyEngine(active, directory)
    first = min([*starts.values(), inv_start], default=end)
    if first >= end:
        s.seconds = time.perf_counter() - t0
        return s
    warm_from = _lookback(archive, active, first)
    for events in _events(archive, directory, warm_from, end, since_ms):
        with archive.transaction():
            for ev in events:
                if ev.seq > inv_start:
                    inventory_observe(archive, ev, directory)
                emit = {pid for pid, st in starts.items() if ev.seq > st}
                for hit in engine.feed(ev, emit_for=emit):
                    _record(archive, directory, hit, alerting, s)
                if ev.seq > first:
                    s.messages += 1
            last = events[-1].seq
            _advance(archive, active, starts, last, inv_start)
        if progress:
            progress(len(events))
    if since_ms is not None:
        with archive.transaction():
            audit.record(archive, actor or audit.current_actor(), "policy-retro-run",
                         ",".join(sorted(starts)), {
                             "since": since_ms, "messages": s.messages,
                             "alerts_created": s.alerts_created, "evidence": s.evidence,
                             "versions": s.policies})  # fmt: skip
    s.seconds = time.perf_counter() - t0
    return s


def _advance(
    archive: Archive, active: list[Policy], starts: dict[str, int], last: int, inv_start: int
) -> None:
    rows: list[tuple[str, int, str, int]] = [
        (p.id, p.version, p.digest, last) for p in active if p.id in starts
    ]
    if last > inv_start:
        rows.append((INVENTORY, 0, "", last))
    archive.conn.executemany(
        "INSERT INTO policy_state (policy, version, digest, last_seq) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (policy) DO UPDATE SET version = excluded.version, "
        "digest = excluded.digest, last_seq = max(last_seq, excluded.last_seq)",
        rows,
    )


def _lookback(archive: Archive, active: list[Policy], first: int) -> int:
    """Where to start reading so windows and sequences see the messages before ``first``."""
    spans = [seconds(p.window.within) for p in active if p.window is not None]
    spans += [seconds(p.sequence.within) for p in active if p.sequence is not None]
    if not spans or first == 0:
        return first
    row = archive.conn.execute("SELECT sent_at FROM messages WHERE seq > ? ORDER BY seq LIMIT 1",
                               (first,)).fetchone()  # fmt: skip
    if row is None:
        return first
    horizon = int(row[0]) - max(spans) * 1000
    back = archive.conn.execute(
        "SELECT min(seq) FROM messages WHERE seq <= ? AND sent_at >= ?", (first, horizon)
    ).fetchone()[0]
    return first if back is None else int(back) - 1


def _events(
    archive: Archive, d: Directory, start: int, end: int, since_ms: int | None
) -> Iterator[list[Event]]:
    conn = archive.conn
    for batch in opened_batches(archive, start, until=end, since_ms=since_ms, batch=BATCH):
        findings: dict[int, list[FindingFact]] = {}
        for seq, det, ver, ent, a, b, score, fp, expl in conn.execute(
            "SELECT seq, detector, version, entity, span_start, span_end, score, value_fp, "
            "explanation FROM findings WHERE seq BETWEEN ? AND ? ORDER BY seq, span_start",
            (batch[0][0], batch[-1][0]),
        ):
            findings.setdefault(seq, []).append(
                FindingFact(det, ver, ent, a, b, score, bytes(fp).hex(), orjson.loads(expl))
            )
        yield [
            event_of(seq, m, text_view(m.payload), findings.get(seq, []), d.kind_of(m.sender))
            for seq, _mid, m in batch
        ]


def alert_payload(archive: Archive, alert_id: int, p: Policy, restricted: bool) -> dict[str, Any]:
    row = archive.conn.execute(
        "SELECT first_at, last_at, messages FROM alerts WHERE id = ?", (alert_id,)
    ).fetchone()
    alert: dict[str, Any] = {
        "id": alert_id, "policy": p.id, "policy_version": p.version, "name": p.name,
        "behaviour": p.behaviour, "severity": p.severity, "first_at": row[0], "last_at": row[1],
        "messages": row[2], "restricted": restricted,
    }  # fmt: skip
    if not restricted:
        ents: set[str] = set()
        ids = []
        for f, source, msgid in archive.conn.execute(
            "SELECT e.findings, m.source, m.source_msg_id FROM alert_evidence e "
            "JOIN messages m ON m.seq = e.seq WHERE e.alert_id = ?",
            (alert_id,),
        ):
            ents.update(x["entity"] for x in orjson.loads(f))
            ids.append(message_id(source, msgid))
        alert["entities"] = sorted(ents)
        alert["message_ids"] = ids
    return {"event": "alert-created", "alert": alert}


def _record(
    archive: Archive,
    d: Directory,
    hit: Hit,
    alerting: AlertingConfig | None,
    s: PolicyRunSummary,
) -> None:
    p = hit.policy
    restricted = d.allowed("privileged-conversation", hit.conversation)
    evidence = [(ev, [f.evidence() for f in fs]) for ev, fs in hit.evidence]
    change = record_hit(archive, p, hit.conversation, evidence, hit.subjects, restricted)
    if change is None:
        return
    s.evidence += change.new_messages
    s.by_policy[p.id] = s.by_policy.get(p.id, 0) + change.new_messages
    if change.created:
        s.alerts_created += 1
    else:
        s.alerts_grown += 1
    if alerting is None:
        return
    if change.created:
        sinks = alerting.alert_sinks(p.severity, p.actions.notify)
        if sinks:
            payload = alert_payload(archive, change.alert_id, p, restricted)
            for sink in sinks:
                enqueue(archive, sink.name, "alert", change.alert_id, payload)
                s.notices += 1
    if p.actions.nudge and alerting.nudge is not None and not restricted:
        s.nudges += _nudge(archive, d, hit, change.alert_id, alerting)


def _nudge(
    archive: Archive, d: Directory, hit: Hit, alert_id: int, alerting: AlertingConfig
) -> int:
    cfg = alerting.nudge
    assert cfg is not None
    now = _now_ms()
    if now - hit.at > seconds(cfg.max_age) * 1000:
        return 0  # history: a nudge is only useful just in time
    sent = 0
    of_id = archive.keys.fingerprints.of_id
    for employee in hit.subjects:
        fp = of_id(employee)
        recent = archive.conn.execute(
            "SELECT policy, at FROM nudges WHERE employee_fp = ? AND at >= ?",
            (fp, now - 86_400_000),
        ).fetchall()
        same = [at for pol, at in recent if pol == hit.policy.id]
        if len(recent) >= cfg.max_per_day or (same and max(same) > now - seconds(cfg.every) * 1000):
            continue
        archive.conn.execute(
            "INSERT INTO nudges (employee_fp, policy, at) VALUES (?, ?, ?)",
            (fp, hit.policy.id, now),
        )
        name = d.person(employee).name
        greeting = f"{name}，" if name else ""
        text = f"{greeting}{hit.policy.actions.nudge.strip()}\n（{hit.policy.name}）"
        payload = {"event": "nudge", "employee": employee, "policy": hit.policy.id, "text": text}
        enqueue(archive, cfg.sink, "nudge", alert_id, payload)
        sent += 1
    return sent
