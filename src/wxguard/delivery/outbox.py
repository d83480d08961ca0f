"""The durable outbox: every alert notice and nudge is a row written in the same
transaction as the alert, and leaves only when its sink confirmed it.

``deliver`` sends what is due. A failure schedules a retry with exponential backoff
(30 s doubling to 1 h) and keeps the error; a sink that fails once is not tried
again in the same pass, so one dead receiver costs one timeout. Items whose sink
reported a permanent problem (a recipient WeCom does not know) are ``failed`` and
wait for ``--retry-failed`` after the configuration is fixed. Nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..archive import Archive, _now_ms
from .config import AlertingConfig, ConfigError
from .sinks import DeliveryError, Sink, build_sink

BACKOFF_MS = 30_000
MAX_BACKOFF_MS = 3_600_000
STATUSES = ("pending", "delivered", "failed")


def backoff(attempts: int) -> int:
    return int(min(MAX_BACKOFF_MS, BACKOFF_MS * 2 ** max(0, attempts - 1)))


def enqueue(archive: Archive, sink: str, kind: str, alert_id: int | None, payload: Any) -> int:
    """Queue one delivery in the caller's transaction."""
    now = _now_ms()
    cur = archive.conn.execute(
        "INSERT INTO outbox (sink, kind, alert_id, payload, status, next_at, created_at) "
        "VALUES (?, ?, ?, ?, 'pending', ?, ?)",
        (sink, kind, alert_id, orjson.dumps(payload).decode(), now, now),
    )
    return int(cur.lastrowid or 0)


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # sink -> last error this pass


def deliver(
    archive: Archive,
    cfg: AlertingConfig,
    data_dir: Path,
    *,
    force: bool = False,
    retry_failed: bool = False,
    now: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Send every due item (every pending one with ``force``). Commits per item."""
    conn = archive.conn
    rep = DeliveryReport()
    if retry_failed:
        conn.execute("UPDATE outbox SET status = 'pending', next_at = 0 WHERE status = 'failed'")
    t = _now_ms() if now is None else now
    q = "SELECT id, sink, kind, payload, attempts FROM outbox WHERE status = 'pending'"
    rows = conn.execute(
        q + ("" if force else " AND next_at <= ?") + " ORDER BY id", () if force else (t,)
    ).fetchall()
    sinks: dict[str, Sink] = {}
    down: set[str] = set()
    for item_id, sink_name, kind, payload, attempts in rows:
        if sink_name in down:
            _retry(archive, item_id, attempts, rep.errors[sink_name], t)
            rep.retrying += 1
            continue
        try:
            sink = sinks.get(sink_name)
            if sink is None:
                sc = cfg.sink(sink_name)
                if sc is None:
                    raise DeliveryError(f"sink {sink_name!r} is not configured in alerting.toml")
                sink = sinks[sink_name] = build_sink(sc, data_dir)
            sink.send(kind, item_id, orjson.loads(payload))
        except (DeliveryError, ConfigError) as e:
            permanent = isinstance(e, DeliveryError) and e.permanent
            rep.errors[sink_name] = str(e)
            if permanent:
                conn.execute(
                    "UPDATE outbox SET status = 'failed', attempts = attempts + 1, "
                    "last_error = ? WHERE id = ?",
                    (str(e), item_id),
                )
                rep.failed += 1
            else:
                down.add(sink_name)
                _retry(archive, item_id, attempts, str(e), t)
                rep.retrying += 1
            continue
        conn.execute(
            "UPDATE outbox SET status = 'delivered', attempts = attempts + 1, "
            "delivered_at = ?, last_error = '' WHERE id = ?",
            (_now_ms(), item_id),
        )
        rep.delivered += 1
        if progress:
            progress(1)
    return rep


def _retry(archive: Archive, item_id: int, attempts: int, error: str, now: int) -> None:
    archive.conn.execute(
        "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
        (now + backoff(attempts + 1), error, item_id),
    )


def status(archive: Archive) -> list[dict[str, Any]]:
    """Per sink and status: how many items, the oldest, the last error."""
    out = []
    for sink, st, n, oldest, err, attempts in archive.conn.execute(
        "SELECT sink, status, count(*), min(created_at), max(last_error), max(attempts) "
        "FROM outbox GROUP BY sink, status ORDER BY sink, status"
    ):
        out.append({"sink": sink, "status": st, "items": n, "oldest": oldest,
                    "last_error": err, "max_attempts": attempts})  # fmt: skip
    return out
