"""``wxguard quarantine retry``: archive quarantined records that can be read now.

A record is quarantined when it cannot be archived as it stands — malformed JSON, a field of
the wrong type, a WeCom msgtype the normaliser refused — and the cursor moves past it, so a
re-run of the same input never sees it again. After a fix (a newer wxguard, a corrected
setting) those records are read here from the encrypted copy the quarantine kept, and each
one that now decodes is sealed like any new message and leaves the quarantine in the same
transaction. One that still fails stays, with its original reason; nothing is lost either way.

WeCom capture records kept still encrypted (RSA unwrapping or ``DecryptData`` failed: a
wrong private key for their ``publickey_ver``) are retried with ``--capture``, which opens
the connector's keys and SDK: each is unwrapped and decrypted again, and one that reads now
is archived with what a pull does for it (media queued for download, members, consent) and
leaves the stream's quarantine count (specs/wecom-archive.md §1.4, §1.6).

Not retried: a record longer than the 1 MiB the quarantine keeps (copy it from its source,
named by file and line, into a file of its own and ingest that), an encrypted capture
record without ``--capture``, and rows of WeChat client data or tool exports (their
importers' row formats are not re-read here).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from . import audit, interchange, wecom
from .archive import Archive
from .crypto import open_sealed
from .model import Message
from .seal import MAX_QUARANTINE_KEEP, Batch, Sealer
from .sealed import quarantine_aad

if TYPE_CHECKING:
    from .capture.pull import Puller

CHUNK = 1000  # quarantined records per transaction


@dataclass
class RetryReport:
    tried: int = 0
    archived: int = 0  # sealed now (or found already archived: a duplicate)
    still: int = 0  # decoded no better: left in the quarantine
    skipped: dict[str, int] = field(default_factory=dict)  # not retried, by why
    reasons: dict[str, int] = field(default_factory=dict)  # of those left, by reason

    def as_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def _encrypted(raw: bytes) -> bool:
    return b'"encrypt_chat_msg"' in raw or b'"encrypt_random_key"' in raw


def _why_not(stream: str, raw: bytes, capture: Puller | None) -> str:
    """Why a kept record cannot be retried here, or ''."""
    if not stream.startswith(("file:", "wecom:")):
        return "from WeChat client data or a tool export: not retried by this command"
    if len(raw) >= MAX_QUARANTINE_KEEP:
        return "only its first 1 MiB was kept: copy it from its source into a file and ingest that"
    if _encrypted(raw):
        if capture is None:
            return "still encrypted: retry with --capture (the connector's keys and SDK)"
        if stream != capture.c.stream:
            return f"encrypted for another connector's stream, not {capture.c.stream}"
    return ""


def retry(
    a: Archive,
    source: str | None = None,
    stream_prefix: str = "",
    actor: str = "",
    progress: Callable[[int], None] | None = None,
    capture: Puller | None = None,
) -> RetryReport:
    """Try every quarantined record (of streams starting with ``stream_prefix``) again;
    with ``capture``, its stream's encrypted records too. Each WeCom record is read under
    the source it was quarantined under; ``source`` (default ``wecom``) is for rows kept
    before the archive recorded it."""
    rep = RetryReport()
    sealer = Sealer(a)
    rows = a.conn.execute(
        "SELECT id, stream, locator, enc, source FROM quarantine WHERE stream >= ? "
        "AND stream < ? ORDER BY stream, source, id",
        (stream_prefix, stream_prefix + "\U0010ffff"),
    ).fetchall()
    i = 0
    while i < len(rows):  # one input stream and source per transaction, CHUNK records at most
        j = i + 1
        key = (rows[i][1], rows[i][4])
        while j < len(rows) and j - i < CHUNK and (rows[j][1], rows[j][4]) == key:
            j += 1
        _retry_chunk(a, sealer, rows[i:j], rows[i][4] or source or "wecom", rep, capture)
        i = j
        if progress:
            progress(i)
    if rep.tried:
        with a.transaction():
            detail = {"tried": rep.tried, "archived": rep.archived, "still": rep.still,
                      "source": source or "as recorded", "streams": stream_prefix or "all",
                      "capture": capture.c.stream if capture else ""}  # fmt: skip
            audit.record(a, actor or audit.current_actor(), "quarantine-retry", "quarantine",
                         detail)  # fmt: skip
    return rep


def _retry_chunk(
    a: Archive, sealer: Sealer, rows: list[tuple[int, str, str, bytes, str]], source: str,
    rep: RetryReport, capture: Puller | None,
) -> None:  # fmt: skip
    batch = Batch(stream=rows[0][1], source=source)
    resolved: list[int] = []
    locked: list[tuple[int, bytes]] = []  # encrypted capture records, opened together
    sealer.begin()
    try:
        for qid, stream, locator, enc, _source in rows:
            raw = open_sealed(a.keys.records, enc, quarantine_aad(stream, locator))
            why = _why_not(stream, raw, capture)
            if why:
                rep.skipped[why] = rep.skipped.get(why, 0) + 1
                continue
            rep.tried += 1
            if _encrypted(raw):
                locked.append((qid, raw))
                continue
            try:
                _decode(batch, raw, stream, source, sealer)
            except (wecom.NormaliseError, interchange.InterchangeError) as e:
                _still(rep, str(e))
                continue
            resolved.append(qid)
        opened = 0
        if locked and capture is not None:
            plain = capture.open_kept([raw for _, raw in locked])
            for (qid, _raw), p in zip(locked, plain, strict=True):
                if isinstance(p, str):
                    _still(rep, p)
                    continue
                try:
                    batch.messages.append((wecom.normalise_bytes(p, capture.c.cfg.pull.source), p))
                except wecom.NormaliseError as e:
                    _still(rep, f"decrypted record: {e}")
                    continue
                resolved.append(qid)
                opened += 1

        def done(sealed: list[tuple[int, Message]]) -> None:  # in the batch's transaction
            a.conn.executemany("DELETE FROM quarantine WHERE id = ?", [(q,) for q in resolved])
            if capture is not None and opened:
                capture.after_retry(sealed, opened)

        batch.on_sealed = done
        counts = sealer.commit(batch)
    except BaseException:
        if a.conn.in_transaction:
            sealer.abort()
        raise
    rep.archived += counts.imported + counts.duplicates + counts.directory
    # A message id already archived with other content is quarantined again (under
    # "msgid=…"), as at ingest: it still fails.
    rep.still += counts.quarantined


def _still(rep: RetryReport, why: str) -> None:
    rep.still += 1
    rep.reasons[why] = rep.reasons.get(why, 0) + 1


def _decode(batch: Batch, raw: bytes, stream: str, source: str, sealer: Sealer) -> None:
    """Into ``batch``: an interchange line (attachments relative to its file) or a WeCom
    record."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        obj = None
    if isinstance(obj, dict) and "v" in obj and "type" in obj:
        base = Path(stream.removeprefix("file:")).parent if stream.startswith("file:") else Path()
        interchange.Decoder(base).decode_into(batch, raw, sealer)
    else:
        batch.messages.append((wecom.normalise_bytes(raw, source), raw))
