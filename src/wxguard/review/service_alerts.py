"""The alert side of the review service: the dashboard, the alert queue, one alert with
the conversation around its evidence, and workflow steps on one or many alerts."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from ..capture.config import Health
from ..capture.health import stream_status
from ..capture.health import streams as health_streams
from . import workflow
from .service_core import NotFound, ServiceCore, Viewer

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
STATES = ("active", "new", "open", "closed", "all")
SORTS = {
    "recent": "last_at DESC, id DESC",
    "oldest": "last_at ASC, id ASC",
    "severity": "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 "
    "ELSE 3 END, last_at DESC, id DESC",
    "created": "created_at DESC, id DESC",
}
DAY_MS = 86_400_000


@dataclass
class QueueQuery:
    state: str = "active"
    severity: str = ""
    behaviour: str = ""
    policy: str = ""
    assignee: str = ""  # "me", "none" or a user name
    escalated: bool = False
    sort: str = "recent"
    page: int = 1


class AlertService(ServiceCore):
    # ------------------------------------------------------------------ dashboard

    def dashboard(self, v: Viewer) -> dict[str, Any]:
        self.need(v, "dashboard-read")
        c = self.a.conn
        by_sev = dict(
            c.execute(
                "SELECT severity, count(*) FROM alerts WHERE state != 'closed' GROUP BY severity"
            ).fetchall()
        )
        by_beh = c.execute(
            "SELECT behaviour, count(*) FROM alerts WHERE state != 'closed' "
            "GROUP BY behaviour ORDER BY 2 DESC"
        ).fetchall()
        mine = c.execute(
            "SELECT count(*) FROM alerts WHERE state != 'closed' AND assignee = ?", (v.name,)
        ).fetchone()[0]
        escalated = c.execute(
            "SELECT count(*) FROM alerts WHERE state != 'closed' AND escalated = 1"
        ).fetchone()[0]
        slow = self._cached("dash", 30, self._dashboard_slow)
        now = int(time.time() * 1000)
        capture = [
            stream_status(self.a, s, Health(), now).as_dict() for s in health_streams(self.a)
        ]
        return {
            "capture": capture,
            "open_by_severity": [
                {"severity": s, "count": by_sev.get(s, 0)} for s in reversed(SEVERITY_RANK)
            ],
            "open_by_behaviour": [{"behaviour": b, "count": n} for b, n in by_beh],
            "open_total": sum(by_sev.values()),
            "mine": mine,
            "escalated": escalated,
            **slow,
        }

    def _dashboard_slow(self) -> dict[str, Any]:
        c = self.a.conn
        last = c.execute("SELECT max(first_at) FROM alerts").fetchone()[0]
        alert_days = _daily(
            c.execute(
                "SELECT first_at / ? AS d, count(*) FROM alerts WHERE first_at >= ? GROUP BY d",
                (DAY_MS, (last or 0) - 29 * DAY_MS),
            ).fetchall(),
            last,
        )
        top = c.execute("SELECT max(sent_at) FROM messages").fetchone()[0]
        volume = _daily(
            c.execute(
                "SELECT sent_at / ? AS d, count(*) FROM messages WHERE sent_at >= ? GROUP BY d",
                (DAY_MS, (top or 0) - 29 * DAY_MS),
            ).fetchall(),
            top,
        )
        pending = c.execute("SELECT count(*) FROM samples WHERE state = 'new'").fetchone()[0]
        return {
            "alerts_per_day": alert_days,
            "messages_per_day": volume,
            "precision": workflow.precision(self.a),
            "samples_pending": pending,
        }

    # ------------------------------------------------------------------ alerts

    def queue(self, v: Viewer, q: QueueQuery) -> dict[str, Any]:
        self.need(v, "alert-read")
        where = ["1=1"]
        args: list[Any] = []
        if q.state not in STATES:
            raise ValueError(f"unknown state {q.state!r}; states are {', '.join(STATES)}")
        if q.sort not in SORTS:
            raise ValueError(f"unknown sort {q.sort!r}; sorts are {', '.join(SORTS)}")
        if q.state == "active":
            where.append("state IN ('new', 'open')")
        elif q.state != "all":
            where.append("state = ?")
            args.append(q.state)
        for col, val in (
            ("severity", q.severity),
            ("behaviour", q.behaviour),
            ("policy", q.policy),
        ):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if q.assignee:
            where.append("assignee = ?")
            args.append({"me": v.name, "none": ""}.get(q.assignee, q.assignee))
        if q.escalated:
            where.append("escalated = 1")
        cond = " AND ".join(where)
        size = self.settings.page_size
        page = max(1, q.page)
        total = self.a.conn.execute(f"SELECT count(*) FROM alerts WHERE {cond}", args).fetchone()[0]
        rows = self.a.conn.execute(
            "SELECT id, policy, policy_version, behaviour, severity, state, first_at, last_at, "
            "messages, restricted, assignee, disposition, escalated, conv_fp, subjects "
            f"FROM alerts WHERE {cond} ORDER BY {SORTS[q.sort]} LIMIT ? OFFSET ?",
            (*args, size, (page - 1) * size),
        ).fetchall()
        items = []
        for r in rows:
            conv_fp = bytes(r[13])
            items.append(
                {
                    "id": r[0],
                    "policy": r[1],
                    "policy_version": r[2],
                    "behaviour": r[3],
                    "severity": r[4],
                    "state": r[5],
                    "first_at": r[6],
                    "last_at": r[7],
                    "messages": r[8],
                    "restricted": bool(r[9]),
                    "assignee": r[10],
                    "disposition": r[11],
                    "escalated": bool(r[12]),
                    "conversation": self.conversation_label(v, conv_fp),
                    "subjects": self._subject_labels(v, orjson.loads(r[14])),
                }
            )
        return {"total": total, "page": page, "page_size": size, "items": items}

    def _subject_labels(self, v: Viewer, fps: list[str]) -> list[str]:
        self.directory()
        out = []
        for h in fps:
            p = self._person_by_fp.get(bytes.fromhex(h))
            out.append(self.person_label(v, p.id) if p is not None else f"person {h[:6]}")
        return out

    def alert(self, v: Viewer, alert_id: int, why: str = "") -> dict[str, Any]:
        """An alert's metadata, review history and — for those who may read messages — the
        conversation around each hit, with highlighted spans. Showing text is audited."""
        self.need(v, "alert-read")
        row = self.a.conn.execute(
            "SELECT id, policy, policy_version, policy_digest, behaviour, severity, state, "
            "first_at, last_at, messages, restricted, created_at, assignee, disposition, "
            "escalated, conv_fp, subjects FROM alerts WHERE id = ?",
            (alert_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"no alert {alert_id}")
        keys = (
            "id",
            "policy",
            "policy_version",
            "policy_digest",
            "behaviour",
            "severity",
            "state",
            "first_at",
            "last_at",
            "messages",
            "restricted",
            "created_at",
            "assignee",
            "disposition",
            "escalated",
        )
        out: dict[str, Any] = dict(zip(keys, row[:15], strict=True))
        out["restricted"] = bool(out["restricted"])
        out["escalated"] = bool(out["escalated"])
        conv_fp = bytes(row[15])
        out["conversation"] = self.conversation_label(v, conv_fp)
        out["conversation_key"] = conv_fp.hex()
        out["subjects"] = self._subject_labels(v, orjson.loads(row[16]))
        out["history"] = workflow.history(self.a, alert_id)
        pset = self.policies()
        pol = pset.get(out["policy"])
        out["policy_name"] = pol.name if pol else out["policy"]
        out["policy_description"] = pol.description if pol else ""
        evidence = self.a.conn.execute(
            "SELECT seq, findings FROM alert_evidence WHERE alert_id = ? ORDER BY seq",
            (alert_id,),
        ).fetchall()
        out["evidence_count"] = len(evidence)
        may_read = v.user.can("message-read") and (
            not (out["restricted"] or self._privileged(conv_fp)) or v.user.can("privileged-read")
        )
        out["can_read"] = may_read
        out["participants"] = self._participants(v, conv_fp)
        if not may_read:
            out["messages"] = []
            return out
        shown = evidence[:20]
        marks = {int(s): orjson.loads(f) for s, f in shown}
        seqs = self._around(conv_fp, [int(s) for s, _ in shown], self.settings.context_messages)
        views = self._views(v, seqs, marks)
        out["messages"] = views
        self._audit(
            v,
            "view-alert",
            f"alert:{alert_id}",
            {
                "why": why,
                "conversation": conv_fp.hex()[:16],
                "messages": [m.seq for m in views],
            },
        )
        return out

    def act(self, v: Viewer, alert_id: int, action: str, **kw: str) -> dict[str, Any]:
        self._cache.clear()  # verdicts change the dashboard's precision at once
        return workflow.act(self.a, v.user, alert_id, action, **kw)

    def bulk(self, v: Viewer, ids: list[int], action: str, **kw: str) -> list[dict[str, Any]]:
        """The same step on many alerts; each succeeds or fails on its own."""
        if len(ids) > 500:
            raise ValueError("at most 500 alerts at a time")
        self._cache.clear()
        out = []
        for i in ids:
            try:
                out.append({"ok": True, **workflow.act(self.a, v.user, i, action, **kw)})
            except (workflow.WorkflowError, LookupError) as e:
                out.append({"ok": False, "id": i, "error": str(e).strip("'\"")})
        return out


def _daily(rows: list[tuple[int, int]], last: int | None) -> list[dict[str, Any]]:
    """30 days ending at ``last`` (epoch ms), zero-filled, as ISO dates."""
    if last is None:
        return []
    end = last // DAY_MS
    counts = dict(rows)
    return [
        {"day": time.strftime("%m-%d", time.gmtime(d * 86400)), "count": counts.get(d, 0)}
        for d in range(end - 29, end + 1)
    ]
