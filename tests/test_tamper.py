"""Tampering with the database or blob files makes `verify` fail and name the record."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import orjson
import pytest

from conftest import load
from wxguard.archive import Archive
from wxguard.ingest import ingest_file
from wxguard.seal import Sealer
from wxguard.verify import verify


def _line(i: int, with_blob: bool = False, content: str = "") -> bytes:
    msg = {"id": f"t:{i}", "source": "t", "source_msg_id": str(i), "sender": "alice",
           "recipients": ["bob"], "conversation": "direct:alice|bob", "sent_at": 1_790_000_000_000 + i,
           "payload": {"kind": "text", "content": f"message {i}"}}  # fmt: skip
    obj: dict[str, object] = {"v": 1, "type": "message", "message": msg}
    if with_blob:
        msg["payload"] = {"kind": "file", "attachment": {"name": f"f{i}.txt"}}
        obj["content"] = [
            {"attachment": 0, "b64": base64.b64encode((content or f"file {i}").encode()).decode()}
        ]
    return orjson.dumps(obj) + b"\n"


@pytest.fixture
def filled(archive: Archive, tmp_path: Path) -> Archive:
    f = tmp_path / "in.jsonl"
    f.write_bytes(b"".join(_line(i, with_blob=i % 10 == 0) for i in range(60)))
    load(archive, f)
    assert verify(archive).ok
    return archive


def _reopen(a: Archive) -> Archive:
    d = a.data_dir
    a.close()
    return Archive.open(d)


def _flip(db: Path, sql: str, params: tuple[object, ...]) -> None:
    c = sqlite3.connect(db)
    c.execute(sql, params)
    c.commit()
    c.close()


def _seq_of(a: Archive, msgid: str) -> int:
    return int(
        a.conn.execute("SELECT seq FROM messages WHERE source_msg_id = ?", (msgid,)).fetchone()[0]
    )


def test_flipped_body_byte_is_named(filled: Archive) -> None:
    seq = _seq_of(filled, "17")
    body = bytearray(
        filled.conn.execute("SELECT body FROM messages WHERE seq = ?", (seq,)).fetchone()[0]
    )
    body[20] ^= 0x01
    db = filled.data_dir / "archive.db"
    a = _reopen(filled)
    a.close()
    _flip(db, "UPDATE messages SET body = ? WHERE seq = ?", (bytes(body), seq))
    with Archive.open(filled.data_dir) as a:
        rep = verify(a)
    assert not rep.ok
    assert rep.problems[0].seq == seq and rep.problems[0].ref == "t:17"
    assert "decrypt" in rep.problems[0].problem


def test_changed_metadata_column_is_named(filled: Archive) -> None:
    seq = _seq_of(filled, "33")
    filled.close()
    _flip(
        filled.data_dir / "archive.db",
        "UPDATE messages SET sent_at = sent_at + 1 WHERE seq = ?",
        (seq,),
    )
    with Archive.open(filled.data_dir) as a:
        rep = verify(a)
    assert not rep.ok and rep.problems[0].seq == seq
    assert "differs from what the ledger sealed" in rep.problems[0].problem


def test_rewritten_ledger_breaks_chain_and_checkpoint(filled: Archive) -> None:
    filled.close()
    _flip(filled.data_dir / "archive.db", "UPDATE ledger SET leaf = zeroblob(32) WHERE seq = 5", ())
    with Archive.open(filled.data_dir) as a:
        rep = verify(a)
    assert not rep.ok
    assert rep.problems[0].seq == 5
    assert any(p.kind == "checkpoint" for p in rep.problems)


def test_deleted_message_is_detected(filled: Archive) -> None:
    seq = _seq_of(filled, "40")
    filled.close()
    _flip(filled.data_dir / "archive.db", "DELETE FROM messages WHERE seq = ?", (seq,))
    with Archive.open(filled.data_dir) as a:
        rep = verify(a)
    assert not rep.ok and rep.problems[0].seq == seq and "missing" in rep.problems[0].problem


def test_forged_checkpoint_signature_fails(filled: Archive) -> None:
    filled.close()
    _flip(filled.data_dir / "archive.db", "UPDATE checkpoints SET at = at + 1", ())
    with Archive.open(filled.data_dir) as a:
        rep = verify(a)
    assert not rep.ok and any("signature" in p.problem for p in rep.problems)


@pytest.mark.parametrize("offset", [0, 13, -1])
def test_flipped_blob_file_byte_is_named(filled: Archive, offset: int) -> None:
    blob_id, seq = filled.conn.execute(
        "SELECT id, seq FROM blobs ORDER BY seq LIMIT 1 OFFSET 2"
    ).fetchone()
    path = filled.blobs.path(blob_id)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x80
    path.write_bytes(bytes(data))
    rep = verify(filled)
    assert not rep.ok
    assert rep.problems[0].seq == seq and rep.problems[0].ref == blob_id
    assert "altered" in rep.problems[0].problem


def test_missing_blob_file_is_named(filled: Archive) -> None:
    blob_id = filled.conn.execute("SELECT id FROM blobs LIMIT 1").fetchone()[0]
    filled.blobs.path(blob_id).unlink()
    rep = verify(filled)
    assert not rep.ok and "missing" in rep.problems[0].problem and rep.problems[0].ref == blob_id


def test_blobs_dedupe_and_round_trip(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "b.jsonl"
    f.write_bytes(_line(0, True, "same bytes") + _line(100, True, "same bytes"))
    r = ingest_file(archive, Sealer(archive), f)
    assert r.counts.blobs == 1  # same content stored once
    assert archive.conn.execute("SELECT count(*) FROM message_blobs").fetchone()[0] == 2
