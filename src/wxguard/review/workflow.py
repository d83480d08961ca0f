"""The alert workflow: claim, assign, comment, escalate, close with a disposition, re-open.

A reviewer's decision is evidence of review, so every step is an audit event appended to
the ledger (subject ``alert:ID``) — the history of an alert is read back from there and
never edited. The ``alerts`` row keeps only the current state (state, assignee,
disposition, escalated) so the queue can be filtered by index.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import audit
from ..archive import Archive, _now_ms
from .accounts import User, get_user

DISPOSITIONS = ("violation", "false-positive", "no-action", "coaching-needed")
ACTIONS = ("claim", "assign", "comment", "escalate", "close", "reopen")
MAX_NOTE = 4000


class WorkflowError(ValueError):
    """The step is not allowed for this alert or this user; the text says why."""


class Denied(PermissionError):
    def __init__(self, permission: str) -> None:
        super().__init__(f"permission {permission!r} is required")
        self.permission = permission


def _row(archive: Archive, alert_id: int) -> tuple[str, str, int, int]:
    row = archive.conn.execute(
        "SELECT state, assignee, escalated, restricted FROM alerts WHERE id = ?", (alert_id,)
    ).fetchone()
    if row is None:
        raise LookupError(f"no alert {alert_id}")
    return str(row[0]), str(row[1]), int(row[2]), int(row[3])


def act(
    archive: Archive,
    user: User,
    alert_id: int,
    action: str,
    *,
    assignee: str = "",
    disposition: str = "",
    reason: str = "",
    comment: str = "",
) -> dict[str, Any]:
    """Do one workflow step as ``user``; returns the alert's new state."""
    if action not in ACTIONS:
        raise WorkflowError(f"unknown action {action!r}; actions are {', '.join(ACTIONS)}")
    need = {"assign": "alert-supervise", "reopen": "alert-reopen"}.get(action, "alert-work")
    if not user.can(need):
        raise Denied(need)
    comment = comment.strip()
    reason = reason.strip()
    if len(comment) > MAX_NOTE or len(reason) > MAX_NOTE:
        raise WorkflowError(f"a comment or reason may have at most {MAX_NOTE} characters")
    with archive.transaction():
        state, owner, escalated, restricted = _row(archive, alert_id)
        if restricted and not user.can("privileged-read"):
            raise Denied("privileged-read")
        supervise = user.can("alert-supervise")
        detail: dict[str, Any] = {}
        sets: dict[str, Any] = {}
        if action != "reopen" and state == "closed" and action != "comment":
            raise WorkflowError(f"alert {alert_id} is closed; re-open it first")
        if action in ("close", "escalate") and owner and owner != user.name and not supervise:
            raise WorkflowError(
                f"alert {alert_id} is assigned to {owner}; only they or a supervisor can do that"
            )
        if action == "claim":
            if owner and owner != user.name and not supervise:
                raise WorkflowError(f"alert {alert_id} is already claimed by {owner}")
            sets = {"assignee": user.name, "state": "open"}
            detail = {"from": owner}
        elif action == "assign":
            target = get_user(archive, assignee.strip().lower()) if assignee.strip() else None
            if assignee.strip() and (target is None or target.disabled):
                raise WorkflowError(f"no active user {assignee!r} to assign to")
            if target is not None and not target.can("alert-work"):
                raise WorkflowError(f"user {target.name!r} cannot work alerts (no alert-work)")
            name = target.name if target else ""
            sets = {"assignee": name, "state": "open" if name else state}
            detail = {"from": owner, "to": name}
        elif action == "comment":
            if not comment:
                raise WorkflowError("a comment needs text")
        elif action == "escalate":
            if escalated:
                raise WorkflowError(f"alert {alert_id} is already escalated")
            sets = {"escalated": 1, "state": "open", "assignee": owner or user.name}
        elif action == "close":
            if disposition not in DISPOSITIONS:
                raise WorkflowError(f"closing needs a disposition: {', '.join(DISPOSITIONS)}")
            if disposition == "false-positive" and not reason:
                raise WorkflowError("a false-positive verdict needs a reason (it tunes the policy)")
            if escalated and not supervise:
                raise WorkflowError(f"alert {alert_id} is escalated; a supervisor closes it")
            sets = {"state": "closed", "disposition": disposition, "assignee": owner or user.name}
            detail = {"disposition": disposition, "reason": reason}
        elif action == "reopen":
            if state != "closed":
                raise WorkflowError(f"alert {alert_id} is not closed")
            sets = {"state": "open", "disposition": "", "escalated": 0}
        if comment:
            detail["comment"] = comment
        if sets:
            sets["updated_at"] = _now_ms()
            cols = ", ".join(f"{k} = ?" for k in sets)
            archive.conn.execute(
                f"UPDATE alerts SET {cols} WHERE id = ?", (*sets.values(), alert_id)
            )
        audit.record(archive, user.name, f"alert-{action}", f"alert:{alert_id}", detail)
        state, owner, escalated, _ = _row(archive, alert_id)
    return {"id": alert_id, "state": state, "assignee": owner, "escalated": bool(escalated)}


def history(archive: Archive, alert_id: int) -> list[dict[str, Any]]:
    """Every review step on an alert, oldest first, as recorded in the ledger."""
    rows = archive.conn.execute(
        "SELECT seq, at, actor, action, detail FROM audit WHERE subject = ? ORDER BY seq",
        (f"alert:{alert_id}",),
    )
    return [
        {"seq": r[0], "at": r[1], "actor": r[2], "action": r[3], "detail": orjson.loads(r[4])}
        for r in rows
    ]


def precision(archive: Archive) -> dict[str, list[dict[str, Any]]]:
    """Reviewer verdicts turned into precision per policy and per detector.

    Every closed alert is one verdict; ``false-positive`` counts against, the other
    dispositions (the alert was right to fire) count for. A detector is credited with
    the verdicts of the alerts whose evidence it contributed to."""
    pol: dict[str, list[int]] = {}
    for policy, disp, n in archive.conn.execute(
        "SELECT policy, disposition, count(*) FROM alerts WHERE state = 'closed' "
        "GROUP BY policy, disposition"
    ):
        slot = pol.setdefault(policy, [0, 0])
        slot[0] += n
        slot[1] += n if disp == "false-positive" else 0
    det: dict[str, list[int]] = {}
    seen: dict[int, set[str]] = {}
    fp_alerts: set[int] = set()
    for aid, disp, findings in archive.conn.execute(
        "SELECT a.id, a.disposition, e.findings FROM alerts a "
        "JOIN alert_evidence e ON e.alert_id = a.id WHERE a.state = 'closed'"
    ):
        seen.setdefault(aid, set()).update(f["detector"] for f in orjson.loads(findings))
        if disp == "false-positive":
            fp_alerts.add(aid)
    for aid, detectors in seen.items():
        for d in detectors:
            slot = det.setdefault(d, [0, 0])
            slot[0] += 1
            slot[1] += aid in fp_alerts

    def table(src: dict[str, list[int]]) -> list[dict[str, Any]]:
        return [
            {"id": k, "verdicts": n, "false_positives": fp, "precision": round((n - fp) / n, 3)}
            for k, (n, fp) in sorted(src.items(), key=lambda kv: (-kv[1][0], kv[0]))
        ]

    return {"policies": table(pol), "detectors": table(det)}
