"""Dedupe keys: time-ordered where the id carries its time; collisions never merge messages."""

from __future__ import annotations

import base64
import binascii
import sqlite3
import sys
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import DEMO_MESSAGES, directory_of, load
from wxguard.archive import Archive
from wxguard.ingest import ingest_file
from wxguard.msgkey import _base64, dedupe_key, time_of
from wxguard.proof import find_message
from wxguard.schema import LATEST
from wxguard.seal import Sealer
from wxguard.verify import verify


def test_time_is_read_from_both_wecom_id_forms() -> None:
    # specs/wecom-archive.md §2.1 examples
    assert time_of("15775510700152506326_1603875615") == 1603875615
    assert time_of("8891446340739254950_1603875826_external") == 1603875826
    assert time_of("2641513858500683770_1603876152_updown_stream") == 1603876152
    # base64 protobuf ids: field 2 is the send time (the example's msgtime is 1547087894783)
    assert time_of("CAQQluDa4QUY0On2rYSAgAMgzPrShAE=") == 1547087894
    assert time_of("CAQQvPnc4QUY0On2rYSAgAMgooLa0Q8=") == 1547123900
    # no time: WeChat client ids, garbage, a time out of range, base64 that is not that shape
    for mid in ("wxid_abc:6712345678901234567", "hello", "123_99", "12_9999999999",
                "CAQQ", "CA!!notbase64", "Q0FRUQ==", ""):  # fmt: skip
        assert time_of(mid) is None, mid


_BASE64ISH = st.text("ABCab019+/=", max_size=70) | st.binary(max_size=48).map(
    lambda b: base64.b64encode(b).decode()
)


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="pins Python 3.11's decoder")
@given(_BASE64ISH, st.integers(0, 4))
def test_base64_is_what_python_311_decoded(text: str, extra_pads: int) -> None:
    """Keys were first computed with ``base64.b64decode(id + padding, validate=True)`` on
    3.11; msgkey spells that decoder out so that keys do not change with Python."""
    for t in (text, "CA" + text, text + "=" * extra_pads, text[: len(text) // 2]):
        try:
            want: bytes | None = base64.b64decode(t + "=" * (-len(t) % 4), validate=True)
        except (binascii.Error, ValueError):
            want = None
        assert _base64(t) == want, t


def test_keys_of_a_time_ordered_feed_are_ordered() -> None:
    ids = [f"{(i * 0x9E3779B97F4A7C15) % 2**64}_{1700000000 + i}" for i in range(200)]
    keys = [dedupe_key(m) for m in ids]
    assert keys == sorted(keys)  # inserts go to the index's right edge


@given(st.text(max_size=80))
def test_keys_fit_a_sqlite_integer_and_are_stable(mid: str) -> None:
    k = dedupe_key(mid)
    assert 0 <= k < 2**63
    assert dedupe_key(mid) == k


def _colliding_ids() -> tuple[str, str]:
    """Two different WeCom-shaped ids of the same second with the same dedupe key."""
    seen: dict[int, str] = {}
    n = 0
    while True:
        mid = f"{n}_1700000000"
        k = dedupe_key(mid)
        if k in seen:
            return seen[k], mid
        seen[k] = mid
        n += 1


def _record(mid: str, text: str) -> bytes:
    return orjson.dumps({
        "msgid": mid, "action": "send", "from": "zhangsan", "tolist": ["lisi"], "roomid": "",
        "msgtime": 1700000000123, "msgtype": "text", "text": {"content": text},
    })  # fmt: skip


def test_colliding_keys_are_told_apart_by_the_id(archive: Archive, tmp_path: Path) -> None:
    a, b = _colliding_ids()
    assert a != b and dedupe_key(a) == dedupe_key(b)
    src = tmp_path / "c.jsonl"
    src.write_bytes(_record(a, "first") + b"\n" + _record(b, "second") + b"\n")
    s = Sealer(archive)
    assert ingest_file(archive, s, src).counts.imported == 2
    archive.conn.execute("DELETE FROM cursors")
    again = ingest_file(archive, s, src)
    assert again.counts.imported == 0 and again.counts.duplicates == 2
    # a changed body under a known id is a conflict, found through the shared key
    src.write_bytes(_record(b, "changed") + b"\n")
    conflict = ingest_file(archive, s, src)
    assert conflict.counts.quarantined == 1 and conflict.counts.imported == 0
    assert find_message(archive, f"wecom:{b}")[1] == f"wecom:{b}"
    assert find_message(archive, a)[1] == f"wecom:{a}"
    archive.seal_checkpoint()
    assert verify(archive).ok


def test_verify_names_a_message_whose_dedupe_key_is_gone(archive: Archive, demo: Path) -> None:
    load(archive, directory_of(demo), demo)
    archive.seal_checkpoint()
    seq = archive.conn.execute("SELECT seq FROM messages ORDER BY seq LIMIT 1 OFFSET 7").fetchone()[
        0
    ]
    archive.conn.execute("DELETE FROM message_keys WHERE seq = ?", (seq,))
    rep = verify(archive)
    assert not rep.ok
    assert rep.problems[0].seq == seq and "dedupe key" in rep.problems[0].problem
    archive.conn.execute("INSERT INTO message_keys VALUES (?, ?)", (-5, seq))
    problems = [str(p) for p in verify(archive).problems]
    assert any("1 dedupe key(s) with no matching message" in p for p in problems)


def test_an_archive_from_before_the_keys_is_migrated(data_dir: Path, demo: Path) -> None:
    a = Archive.create(data_dir)
    load(a, directory_of(demo), demo)
    a.seal_checkpoint()
    a.close()
    # Put the database back the way schema version 6 left it: the dedupe was a unique
    # index on the id text, and there was no message_keys table.
    c = sqlite3.connect(data_dir / "archive.db", isolation_level=None)
    c.executescript(
        """
        BEGIN;
        DROP TABLE message_keys;
        CREATE TABLE old AS SELECT * FROM messages;
        DROP TABLE messages;
        CREATE TABLE messages (
            seq INTEGER PRIMARY KEY, source TEXT NOT NULL, source_msg_id TEXT NOT NULL,
            kind TEXT NOT NULL, sent_at INTEGER NOT NULL, sender_fp BLOB NOT NULL,
            conv_fp BLOB NOT NULL, chat TEXT NOT NULL, key_id INTEGER NOT NULL,
            content_fp BLOB NOT NULL, flags TEXT NOT NULL, media_bytes INTEGER NOT NULL,
            body BLOB, ingested_at INTEGER NOT NULL, UNIQUE (source, source_msg_id));
        INSERT INTO messages SELECT * FROM old;
        DROP TABLE old;
        CREATE INDEX messages_by_conv ON messages (conv_fp, sent_at, seq);
        ALTER TABLE quarantine DROP COLUMN source;
        PRAGMA user_version = 6;
        COMMIT;
        """
    )
    c.close()
    a = Archive.open(data_dir, write=True)
    try:
        assert a.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST
        columns = [r[1] for r in a.conn.execute("PRAGMA table_info(quarantine)")]
        assert columns[-1] == "source"  # step 8
        assert a.conn.execute("SELECT count(*) FROM message_keys").fetchone()[0] == DEMO_MESSAGES
        assert verify(a).ok
        a.conn.execute("DELETE FROM cursors")
        again = ingest_file(a, Sealer(a), demo)
        assert again.counts.imported == 0 and again.counts.duplicates > DEMO_MESSAGES
    finally:
        a.close()
