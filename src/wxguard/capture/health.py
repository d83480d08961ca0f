"""Capture health: is the archive keeping up with Tencent, and what is missing?

Tencent keeps session-archive records for about 5 days (``shared/specs/wecom-archive.md``
§4): a puller that stops for longer loses data for good. :func:`status` reads what the
puller recorded and grades it:

* **lag** — time since the last successful pull, and, while catching up, the age of the
  newest record pulled: ``warning`` past ``health.warn_after`` or a third of the window,
  ``critical`` past half of the retention window (data at risk);
* **stalled** — no successful pull for ``health.stall_after``: :func:`alert_if_stalled`
  queues one ``capture-stalled`` notice per episode to every alerting sink;
* per-member last message seen, members in scope but silent for
  ``health.silent_member_days`` (a possible capture gap for that member), gaps in the
  ``seq`` sequence, consent refusals, the media backlog, quarantined records, the last
  error with what to do about it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..archive import Archive
from ..delivery.config import load_alerting
from ..delivery.outbox import enqueue
from ..policy.spec import seconds
from .config import Connector, Health

DAY_MS = 86_400_000


@dataclass
class CaptureStatus:
    stream: str
    level: str  # ok | warning | critical | never
    reasons: list[str] = field(default_factory=list)
    cursor: int = 0
    last_ok_at: int | None = None
    last_pull_at: int | None = None
    caught_up_at: int | None = None
    newest_msg_at: int | None = None
    lag_ms: int | None = None
    records: int = 0
    quarantined: int = 0
    missing_seqs: int = 0
    gaps: int = 0
    failures: int = 0
    error_code: int = 0
    error: str = ""
    members_in_scope: int = 0
    members_seen: int = 0
    silent_members: int = 0
    consent_refusals: int = 0
    consent_refusals_in_stream: int = 0
    media_pending: int = 0
    media_failed: int = 0
    media_oldest_pending_at: int | None = None
    media_bytes_pending: int = 0
    directory_at: int | None = None
    stalled: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def status(archive: Archive, c: Connector, now_ms: int) -> CaptureStatus:
    return stream_status(archive, c.stream, c.cfg.health, now_ms)


def streams(archive: Archive) -> list[str]:
    return [r[0] for r in archive.conn.execute("SELECT stream FROM capture_state ORDER BY 1")]


def stream_status(archive: Archive, stream: str, h: Health, now_ms: int) -> CaptureStatus:
    """Health of one capture stream graded by ``h`` (the review dashboard uses defaults)."""
    conn = archive.conn
    row = conn.execute(
        "SELECT last_seq, last_pull_at, last_ok_at, caught_up_at, newest_msg_at, backlog_msg_at, "
        "records, quarantined, missing_seqs, refusals, failures, error_code, error, directory_at "
        "FROM capture_state WHERE stream = ?",
        (stream,),
    ).fetchone()
    if row is None:
        return CaptureStatus(stream, "never", ["nothing pulled yet: run `wxguard ingest wecom`"])
    (_last_seq, last_pull, last_ok, caught_up, newest, backlog, records, quarantined, missing,
     refusals, failures, code, error, directory_at) = row  # fmt: skip
    cur = conn.execute("SELECT position FROM cursors WHERE stream = ?", (stream,)).fetchone()
    s = CaptureStatus(
        stream, "ok", cursor=int(cur[0]) if cur else 0, last_ok_at=last_ok,
        last_pull_at=last_pull, caught_up_at=caught_up, newest_msg_at=newest, records=records,
        quarantined=quarantined, missing_seqs=missing, failures=failures, error_code=code,
        error=error, consent_refusals_in_stream=refusals, directory_at=directory_at,
    )  # fmt: skip
    s.gaps = conn.execute(
        "SELECT count(*) FROM capture_gaps WHERE stream = ?", (stream,)
    ).fetchone()[0]
    window = h.retention_days * DAY_MS
    warn = min(seconds(h.warn_after) * 1000, window // 3)
    stall = seconds(h.stall_after) * 1000
    since_ok = now_ms - last_ok if last_ok else None
    # backlog_msg_at is set by every page and cleared when the puller is caught up.
    behind = now_ms - backlog if backlog else 0
    s.lag_ms = max(since_ok or 0, behind) if last_ok else None
    level = 0
    if last_ok is None:
        s.reasons.append("no successful pull yet")
        level = 2 if failures else 1
    else:
        assert since_ok is not None
        if since_ok >= window // 2:
            level = 2
            s.reasons.append(
                f"no successful pull for {_dur(since_ok)}: Tencent keeps ~{h.retention_days} "
                "days; messages older than that are lost for good"
            )
        elif since_ok >= warn:
            level = max(level, 1)
            s.reasons.append(f"no successful pull for {_dur(since_ok)}")
        if behind >= window // 2:
            level = 2
            s.reasons.append(f"the backlog being pulled is {_dur(behind)} old: close to "
                             f"Tencent's ~{h.retention_days}-day limit")  # fmt: skip
        elif behind >= warn:
            level = max(level, 1)
            s.reasons.append(f"catching up: the backlog is {_dur(behind)} old")
        s.stalled = since_ok >= stall
    if error:
        level = max(level, 1)
        s.reasons.append(f"last error: {error}")
    s.members_in_scope, s.members_seen = conn.execute(
        "SELECT coalesce(sum(in_scope), 0), count(last_msg_at) FROM capture_members "
        "WHERE stream = ?",
        (stream,),
    ).fetchone()
    cutoff = (newest or now_ms) - h.silent_member_days * DAY_MS
    s.silent_members = conn.execute(
        "SELECT count(*) FROM capture_members WHERE stream = ? AND in_scope = 1 AND "
        "(last_msg_at IS NULL OR last_msg_at < ?)",
        (stream, cutoff),
    ).fetchone()[0]
    if s.silent_members:
        s.reasons.append(
            f"{s.silent_members} member(s) in scope with no message in "
            f"{h.silent_member_days} days (a capture gap, or just quiet)"
        )
    s.consent_refusals = conn.execute(
        "SELECT count(*) FROM consent WHERE status = 'Disagree'"
    ).fetchone()[0]
    s.media_pending, s.media_oldest_pending_at, s.media_bytes_pending = conn.execute(
        "SELECT count(*), min(created_at), coalesce(sum(size), 0) FROM media_queue "
        "WHERE state = 'pending'"
    ).fetchone()
    s.media_failed = conn.execute(
        "SELECT count(*) FROM media_queue WHERE state = 'failed'"
    ).fetchone()[0]
    if s.media_failed:
        s.reasons.append(f"{s.media_failed} media file(s) failed to download")
    if s.media_oldest_pending_at and now_ms - s.media_oldest_pending_at > window // 3:
        level = max(level, 1)
        s.reasons.append(f"media backlog {_dur(now_ms - s.media_oldest_pending_at)} old")
    s.level = ("ok", "warning", "critical")[level]
    return s


def _dur(ms: int) -> str:
    m = ms // 60_000
    if m < 120:
        return f"{m} min"
    h = m // 60
    return f"{h} h" if h < 48 else f"{h // 24} d {h % 24} h"


def alert_if_stalled(archive: Archive, c: Connector, now_ms: int) -> bool:
    """Queue one ``capture-stalled`` notice per stall episode to every alerting sink
    (own transaction). True when one was queued now."""
    st = status(archive, c, now_ms)
    if not st.stalled and not (st.level == "critical" and st.last_ok_at is None):
        return False
    row = archive.conn.execute(
        "SELECT stall_alerted_at FROM capture_state WHERE stream = ?", (c.stream,)
    ).fetchone()
    if row is not None and row[0] is not None:
        return False
    cfg = load_alerting(archive.data_dir)
    severity = "critical" if st.level == "critical" else "high"
    payload = {
        "event": "capture-stalled",
        "alert": {
            "id": None, "name": f"WeCom capture stalled ({c.cfg.corp_id})",
            "severity": severity, "policy": "capture-health", "policy_version": 0,
            "behaviour": "capture_stalled", "messages": 0,
            "first_at": st.last_ok_at or now_ms, "last_at": now_ms, "restricted": False,
            "entities": [], "reasons": st.reasons, "cursor": st.cursor,
        },
    }  # fmt: skip
    with archive.transaction():
        for sink in cfg.alert_sinks(severity, None):
            enqueue(archive, sink.name, "capture", None, payload)
        archive.conn.execute(
            "INSERT INTO capture_state (stream, stall_alerted_at) VALUES (?, ?) "
            "ON CONFLICT (stream) DO UPDATE SET stall_alerted_at = excluded.stall_alerted_at",
            (c.stream, now_ms),
        )
    return True
