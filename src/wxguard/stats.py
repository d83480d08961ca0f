"""``wxguard stats``: what the archive holds, by kind, person, conversation and day."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from .archive import DB_NAME, Archive
from .crypto import IntegrityError, open_sealed
from .model import Conversation, Participant

_P = msgspec.json.Decoder(Participant)
_C = msgspec.json.Decoder(Conversation)


def _participant(a: Archive, fp: bytes) -> dict[str, str]:
    row = a.conn.execute("SELECT kind, enc FROM participants WHERE fp = ?", (fp,)).fetchone()
    if row is None:
        return {"id": "?", "name": "", "kind": "unknown"}
    try:
        p = _P.decode(open_sealed(a.keys.records, row[1], b"participant\x00" + fp))
    except IntegrityError:
        return {"id": "?", "name": "", "kind": row[0]}
    return {"id": p.id, "name": p.name, "kind": str(p.kind), "department": p.department}


def _conversation(a: Archive, fp: bytes) -> dict[str, str]:
    row = a.conn.execute("SELECT type, enc FROM conversations WHERE fp = ?", (fp,)).fetchone()
    if row is None:
        return {"id": "?", "name": "", "type": "unknown"}
    c = _C.decode(open_sealed(a.keys.records, row[1], b"conversation\x00" + fp))
    return {"id": c.id, "name": c.name, "type": str(c.type), "members": str(len(c.roster))}


def _disk(a: Archive) -> dict[str, int]:
    db = sum(p.stat().st_size for p in a.data_dir.glob(DB_NAME + "*") if p.is_file())
    blobs = (
        sum(p.stat().st_size for p in a.blobs.root.rglob("*") if p.is_file())
        if a.blobs.root.exists()
        else 0
    )
    return {"database_bytes": db, "blob_bytes": blobs}


def collect(a: Archive, top: int = 10) -> dict[str, Any]:
    c = a.conn
    total, media, first, last = c.execute(
        "SELECT count(*), coalesce(sum(media_bytes), 0), min(sent_at), max(sent_at) FROM messages"
    ).fetchone()
    by_kind = dict(c.execute("SELECT kind, count(*) FROM messages GROUP BY kind ORDER BY 2 DESC"))
    by_day = {
        datetime.fromtimestamp(d * 86400, UTC).strftime("%Y-%m-%d"): n
        for d, n in c.execute(
            "SELECT sent_at / 86400000 AS d, count(*) FROM messages GROUP BY d ORDER BY d"
        )
    }
    people = [
        {**_participant(a, fp), "messages": n}
        for fp, n in c.execute(
            "SELECT sender_fp, count(*) FROM messages GROUP BY sender_fp ORDER BY 2 DESC LIMIT ?",
            (top,),
        )
    ]
    convs = [
        {**_conversation(a, fp), "messages": n}
        for fp, n in c.execute(
            "SELECT conv_fp, count(*) FROM messages GROUP BY conv_fp ORDER BY 2 DESC LIMIT ?",
            (top,),
        )
    ]
    blob_n, blob_plain = c.execute("SELECT count(*), coalesce(sum(size), 0) FROM blobs").fetchone()
    part_kinds = dict(c.execute("SELECT kind, count(*) FROM participants GROUP BY kind"))
    conv_types = dict(c.execute("SELECT type, count(*) FROM conversations GROUP BY type"))
    quarantine = dict(c.execute("SELECT reason, count(*) FROM quarantine GROUP BY reason"))
    (recalled,) = c.execute("SELECT count(DISTINCT target_msg_id) FROM recalls").fetchone()
    disk = _disk(a)
    return {
        "messages": total,
        "first_message_at": _iso(first),
        "last_message_at": _iso(last),
        "by_kind": by_kind,
        "by_day": by_day,
        "top_senders": people,
        "top_conversations": convs,
        "participants": part_kinds,
        "conversations": conv_types,
        "recalled_messages": recalled,
        "media": {
            "declared_bytes": media,
            "stored_blobs": blob_n,
            "stored_blob_plaintext_bytes": blob_plain,
        },
        "quarantined": quarantine,
        "ledger_records": a.ledger_size,
        "disk": disk,
        "bytes_per_message": round((disk["database_bytes"]) / total, 1) if total else 0,
    }


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
