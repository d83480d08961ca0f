"""The audit trail: who changed what, kept in the tamper-evident ledger.

Each event is a row in ``audit`` and a ledger record of kind ``audit`` whose leaf
binds the row's columns, so ``wxguard verify`` notices an edited or deleted event
exactly as it notices an edited message. Action names are stable kebab-case
(``inventory-status``, ``allowlist-add``): persisted ids are contracts.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from typing import Any

import orjson

from .archive import Archive, _now_ms
from .ledger import leaf_hash, stored_digest
from .proofcheck import commitment

ACTIONS = (
    "inventory-status",
    "allowlist-add",
    "allowlist-remove",
    "policy-retro-run",
    # accounts and sign-in (review/accounts.py)
    "user-add",
    "user-reset",
    "user-disable",
    "user-enable",
    "user-roles",
    "sign-in",
    "sign-in-failed",
    # every look at message plaintext, every search and download (review/service.py)
    "view-alert",
    "view-conversation",
    "view-message",
    "download",
    "search",
    # reviewer decisions: the evidence of review (review/workflow.py)
    "alert-claim",
    "alert-assign",
    "alert-comment",
    "alert-escalate",
    "alert-close",
    "alert-reopen",
    "sampling-rule-add",
    "sampling-rule-retire",
    "sample-review",
    "policy-edit",
    "lexicon-edit",
    # legal holds, retention and eDiscovery (holds.py, retention.py, exports/)
    "hold-place",
    "hold-release",
    "retention-rule-set",
    "retention-rule-remove",
    "disposal",
    "export-request",
    "export-approve",
    "export-run",
    "employees-mark",
    # archiving what the quarantine holds after a fix (requeue.py)
    "quarantine-retry",
)


def current_actor() -> str:
    """The person at the console: ``$WXGUARD_ACTOR`` or the OS user."""
    name = os.environ.get("WXGUARD_ACTOR")
    if name:
        return name
    try:
        return "os:" + getpass.getuser()
    except (KeyError, OSError):
        return "os:unknown"


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: int
    actor: str
    action: str
    subject: str
    detail: dict[str, Any]


def _digest(at: int, actor: str, action: str, subject: str, detail: str) -> bytes:
    return stored_digest(at, actor, action, subject, detail)


def audit_leaf(at: int, actor: str, action: str, subject: str, detail: str) -> bytes:
    body = detail.encode("utf-8")
    return leaf_hash("audit", action, commitment(body), _digest(at, actor, action, subject, detail))


def record(archive: Archive, actor: str, action: str, subject: str, detail: dict[str, Any]) -> int:
    """Append one event in the caller's transaction; returns its ledger seq."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    at = _now_ms()
    text = orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode()
    seq = archive.ledger_append("audit", action, audit_leaf(at, actor, action, subject, text))
    archive.conn.execute(
        "INSERT INTO audit (seq, at, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, subject, text),
    )
    archive.checkpoint_if_due(force=True)  # a signed checkpoint covers every audit event
    return seq


def events(
    archive: Archive,
    action: str | None = None,
    limit: int = 200,
    *,
    actor: str | None = None,
    subject: str | None = None,
    before: int | None = None,
) -> list[AuditEvent]:
    """Newest first; ``before`` pages (events with a smaller ledger seq)."""
    q = "SELECT seq, at, actor, action, subject, detail FROM audit WHERE 1=1"
    args: list[Any] = []
    for col, val in (("action", action), ("actor", actor), ("subject", subject)):
        if val:
            q += f" AND {col} = ?"
            args.append(val)
    if before is not None:
        q += " AND seq < ?"
        args.append(before)
    rows = archive.conn.execute(q + " ORDER BY seq DESC LIMIT ?", (*args, limit)).fetchall()
    return [AuditEvent(r[0], r[1], r[2], r[3], r[4], orjson.loads(r[5])) for r in rows]
