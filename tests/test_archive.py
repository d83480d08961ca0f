"""Ingest into the embedded archive: exactly once, encrypted at rest, bad input quarantined."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import sqlite3
import stat
from pathlib import Path

import msgspec
import orjson
import pytest
import zstandard

from conftest import DEMO_MESSAGES, directory_of, load, run_cli
from wxguard.archive import BULK_WAL_BYTES, BULK_WAL_PAGES, Archive, ArchiveError
from wxguard.crypto import KeyProblem
from wxguard.imports.plan import plan
from wxguard.ingest import Preparer, ingest_file
from wxguard.inputs import HEAD_BYTES, MAX_RECORD, IngestError
from wxguard.model import Text, message_id
from wxguard.proofcheck import split_plaintext
from wxguard.seal import Batch, Sealer
from wxguard.sealed import open_body, opened_batches
from wxguard.verify import verify
from wxguard.wecom import normalise_bytes


def _count(a: Archive, table: str) -> int:
    return int(a.conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_demo_ingest_is_exactly_once(archive: Archive, demo: Path) -> None:
    s = Sealer(archive)
    d = ingest_file(archive, s, directory_of(demo))
    assert d.counts.directory > 50
    r = ingest_file(archive, s, demo)
    lines = demo.read_bytes().count(b"\n")
    assert r.counts.imported == DEMO_MESSAGES
    assert r.counts.duplicates == lines - DEMO_MESSAGES > 0  # the generator re-delivers a few
    assert r.counts.quarantined == 0
    head = archive.ledger_head
    # A re-run resumes at the committed cursor: nothing read, nothing added.
    again = ingest_file(archive, s, demo)
    assert again.counts.imported == 0 and again.resumed_at == demo.stat().st_size
    # Forcing a full re-read (cursor gone) still adds nothing: dedupe by (source, msgid).
    archive.conn.execute("DELETE FROM cursors")
    full = ingest_file(archive, s, demo)
    assert full.counts.imported == 0 and full.counts.duplicates == lines
    assert archive.ledger_head == head
    assert _count(archive, "messages") == DEMO_MESSAGES
    archive.seal_checkpoint()
    assert verify(archive).ok


def test_nothing_sensitive_in_plaintext_on_disk(
    archive: Archive, demo: Path, data_dir: Path
) -> None:
    load(archive, directory_of(demo), demo)
    archive.close()
    blob = b"".join(
        p.read_bytes() for p in data_dir.rglob("*") if p.is_file() and "kek" not in p.name
    )
    for needle in ("报价单", "陈建国", "ChenJianGuo", "身份证号", "云杉"):
        assert needle.encode() not in blob, needle
    # an identifier the demo plants (a mobile number) in the truth file
    truth = [orjson.loads(x) for x in demo.with_name("demo.truth.jsonl").read_bytes().splitlines()]
    mobiles = [t["match"] for t in truth if t["entity"] == "CN_MOBILE"]
    assert mobiles and all(m.encode() not in blob for m in mobiles)


def test_batch_nonces_and_salts_are_distinct_and_columns_are_blobs(
    archive: Archive, demo: Path
) -> None:
    """One os.urandom call per batch supplies every salt and nonce: a slicing mistake would
    reuse an AES-GCM nonce (fatal) or a salt. And hot-path blobs are bound as bytearray,
    which must still be stored as BLOBs that verify rehashes."""
    ingest_file(archive, Sealer(archive), demo)
    nonces, salts = [], []
    for seq, source, msgid, kid, body in archive.conn.execute(
        "SELECT seq, source, source_msg_id, key_id, body FROM messages"
    ):
        nonces.append(body[:12])
        pt = open_body(archive, seq, message_id(source, msgid), kid, body)
        assert pt is not None
        salts.append(split_plaintext(pt)[0])
    assert len(nonces) == DEMO_MESSAGES
    assert len(set(nonces)) == len(nonces) and len(set(salts)) == len(salts)
    every_salt = b"".join(salts)
    assert not any(n in every_salt for n in nonces)
    types = archive.conn.execute(
        "SELECT DISTINCT typeof(sender_fp), typeof(conv_fp), typeof(content_fp), typeof(body) "
        "FROM messages"
    ).fetchall()
    assert types == [("blob", "blob", "blob", "blob")]
    ledger = archive.conn.execute("SELECT DISTINCT typeof(leaf), typeof(chain) FROM ledger")
    assert ledger.fetchall() == [("blob", "blob")]
    archive.seal_checkpoint()
    assert verify(archive).ok


def test_bulk_writers_checkpoint_the_wal_less_often(archive: Archive, demo: Path) -> None:
    # A batch writes more than SQLite's default 1,000-page WAL threshold: a bulk writer
    # lets the WAL grow to BULK_WAL_PAGES first, and truncates it back after a checkpoint.
    conn = archive.conn
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000  # not yet a writer
    load(archive, demo)  # through a Sealer
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BULK_WAL_PAGES
    assert conn.execute("PRAGMA journal_size_limit").fetchone()[0] == BULK_WAL_BYTES
    assert verify(archive).ok


def test_key_file_is_owner_only(archive: Archive, data_dir: Path) -> None:
    mode = stat.S_IMODE((data_dir / "keys" / "kek.key").stat().st_mode)
    assert mode == 0o600


def test_wrong_or_missing_key_is_refused(archive: Archive, data_dir: Path, tmp_path: Path) -> None:
    archive.close()
    other = Archive.create(tmp_path / "other")
    other.close()
    with pytest.raises(KeyProblem, match="does not belong to the archive"):
        Archive.open(data_dir, kek_ref=str(tmp_path / "other" / "keys" / "kek.key"))
    with pytest.raises(KeyProblem, match="does not exist"):
        Archive.open(data_dir, kek_ref=str(tmp_path / "nope.key"))
    key = data_dir / "keys" / "kek.key"
    os.chmod(key, 0o644)
    with pytest.raises(KeyProblem, match="chmod 600"):
        Archive.open(data_dir)
    os.chmod(key, 0o600)
    key.write_text("garbage")
    with pytest.raises(KeyProblem, match="not a wxguard key"):
        Archive.open(data_dir)


def test_env_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wxguard.crypto import encode_kek, new_key

    monkeypatch.setenv("TEST_KEK", encode_kek(new_key()))
    Archive.create(tmp_path / "d", "$env:TEST_KEK").close()
    Archive.open(tmp_path / "d").close()
    monkeypatch.delenv("TEST_KEK")
    with pytest.raises(KeyProblem, match="TEST_KEK"):
        Archive.open(tmp_path / "d")


def test_second_writer_is_refused(archive: Archive, data_dir: Path) -> None:
    with pytest.raises(ArchiveError, match="another wxguard process"):
        Archive.open(data_dir, write=True)
    Archive.open(data_dir).close()  # readers are fine


def test_missing_and_corrupted_database(tmp_path: Path, data_dir: Path) -> None:
    with pytest.raises(ArchiveError, match="wxguard init"):
        Archive.open(tmp_path / "empty")
    Archive.create(data_dir).close()
    db = data_dir / "archive.db"
    for p in data_dir.glob("archive.db-*"):
        p.unlink()
    db.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(ArchiveError, match="corrupted"):
        Archive.open(data_dir)


BAD_LINES = [
    b'{"msgid":"ok-1","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1700000000000,"msgtype":"text","text":{"content":"hello"}}',
    b'{"msgid":"bad-json",',
    b'{"msgid":"bad-utf8","msgtype":"text","text":{"content":"\xff\xfe"}}',
    b'{"msgid":"bad-type","msgtype":"redpacket","redpacket":{"totalamount":"many"}}',
    b'{"no":"id"}',
    b'{"msgid":"ok-2","action":"send","from":"a","tolist":["b"],"roomid":"","msgtime":1700000001000,"msgtype":"text","text":{"content":"world"}}',
]  # fmt: skip


def test_bad_records_are_quarantined_and_the_batch_goes_on(
    archive: Archive, tmp_path: Path
) -> None:
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(b"\n".join(BAD_LINES) + b"\n")
    r = ingest_file(archive, Sealer(archive), f)
    assert r.counts.imported == 2
    assert r.counts.quarantined == 4
    rows = archive.conn.execute("SELECT locator, reason FROM quarantine ORDER BY id").fetchall()
    assert [loc for loc, _ in rows] == ["line 2", "line 3", "line 4", "line 5"]
    reasons = " | ".join(r for _, r in rows)
    for expected in ("malformed JSON", "not valid UTF-8", "must be a number", "msgid is missing"):
        assert expected in reasons
    # quarantined content is kept, encrypted
    enc = archive.conn.execute("SELECT enc FROM quarantine").fetchall()
    assert all(b"bad-json" not in e[0] for e in enc)


def test_conflicting_duplicate_is_quarantined_not_overwritten(
    archive: Archive, tmp_path: Path
) -> None:
    a = tmp_path / "a.jsonl"
    a.write_bytes(BAD_LINES[0] + b"\n")
    b = tmp_path / "b.jsonl"
    b.write_bytes(BAD_LINES[0].replace(b"hello", b"HELLO") + b"\n")
    s = Sealer(archive)
    ingest_file(archive, s, a)
    head = archive.ledger_head
    r = ingest_file(archive, s, b)
    assert r.counts.imported == 0 and r.counts.quarantined == 1
    assert "different content" in next(iter(r.counts.reasons))
    assert archive.ledger_head == head


def test_a_record_archived_under_an_earlier_canonical_form_is_a_duplicate(
    archive: Archive, tmp_path: Path
) -> None:
    """A later wxguard may normalise the same source record differently (here: an earlier
    normaliser that did not split quotes out of a reply). Reading the record again, from
    another file or a healed capture, is a duplicate, not a conflict to quarantine."""
    content = '这是一条引用/回复消息：\n"张三:\n报价单发一下"\n------\n好的，马上发'
    raw = orjson.dumps({
        "msgid": "q1_1700000000", "action": "send", "from": "zhangsan", "tolist": ["lisi"],
        "roomid": "", "msgtime": 1700000000123, "msgtype": "text", "text": {"content": content},
    })  # fmt: skip
    now = normalise_bytes(raw)
    assert isinstance(now.payload, Text) and now.payload.quote_author == "张三"
    earlier = msgspec.structs.replace(now, payload=Text(content=content))
    s = Sealer(archive)
    s.begin()
    assert s.commit(Batch(messages=[(earlier, raw)])).imported == 1
    head = archive.ledger_head

    f = tmp_path / "again.jsonl"
    f.write_bytes(raw + b"\n")
    r = ingest_file(archive, s, f)
    assert (r.counts.imported, r.counts.duplicates, r.counts.quarantined) == (0, 1, 0)
    assert archive.ledger_head == head
    # another record under the same id is still a conflict, kept aside
    g = tmp_path / "other.jsonl"
    g.write_bytes(raw.replace("马上发".encode(), "明天发".encode()) + b"\n")
    r = ingest_file(archive, s, g)
    assert (r.counts.imported, r.counts.duplicates, r.counts.quarantined) == (0, 0, 1)
    assert verify(archive).ok


def test_oversized_record_is_quarantined(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "huge.jsonl"
    big = (
        b'{"msgid":"huge","msgtype":"text","text":{"content":"' + b"x" * (MAX_RECORD + 10) + b'"}}'
    )
    f.write_bytes(BAD_LINES[0] + b"\n" + big + b"\n" + BAD_LINES[5] + b"\n")
    r = ingest_file(archive, Sealer(archive), f)
    assert (r.counts.imported, r.counts.quarantined) == (2, 1)
    assert "exceeds" in next(iter(r.counts.reasons))


def test_bad_first_records_do_not_hide_the_format(archive: Archive, tmp_path: Path) -> None:
    # A file that starts with broken records (invalid UTF-8, a cut line) is still read:
    # those records are quarantined by line, the rest imported.
    f = tmp_path / "bad-start.jsonl"
    f.write_bytes(b"\n".join([BAD_LINES[2], BAD_LINES[1], b"", *BAD_LINES[:1], BAD_LINES[5]]))
    r = ingest_file(archive, Sealer(archive), f)
    assert (r.format, r.counts.imported, r.counts.quarantined) == ("wecom", 2, 2)
    rows = archive.conn.execute("SELECT locator, reason FROM quarantine ORDER BY locator")
    assert [(loc, "UTF-8" in why) for loc, why in rows] == [("line 1", True), ("line 2", False)]


def test_a_first_record_longer_than_the_head_is_detected(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "long-first.jsonl"
    long_text = "长" * (HEAD_BYTES // 2)  # 3 bytes each: the record runs past the head
    first = orjson.loads(BAD_LINES[0])
    first["text"]["content"] = long_text
    f.write_bytes(orjson.dumps(first) + b"\n" + BAD_LINES[5] + b"\n")
    r = ingest_file(archive, Sealer(archive), f)
    assert (r.format, r.counts.imported, r.counts.quarantined) == ("wecom", 2, 0)


def test_unknown_format_is_a_clear_file_error(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "notes.jsonl"
    f.write_text("hello there\n")
    with pytest.raises(IngestError, match="cannot detect the format"):
        ingest_file(archive, Sealer(archive), f)
    f.write_bytes(b"\xff\xfd\n" * 30 + BAD_LINES[0])  # the record is past the lines tried
    with pytest.raises(IngestError, match=r"first 20 .*line 1: not valid UTF-8"):
        ingest_file(archive, Sealer(archive), f)
    f.write_text('\n\nnot json\n{"some":"object"}\n')
    with pytest.raises(IngestError, match="line 4 is neither"):
        ingest_file(archive, Sealer(archive), f)
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match="empty"):
        ingest_file(archive, Sealer(archive), empty)


def test_a_forced_format_the_file_is_not_is_refused(
    archive: Archive, demo: Path, tmp_path: Path
) -> None:
    # Forcing the wrong format would quarantine every record and move the cursor past
    # them, so that a re-run with the right format found nothing new.
    with pytest.raises(IngestError, match="--input-format jsonl was given but the file holds "
                       "decrypted WeCom records"):  # fmt: skip
        ingest_file(archive, Sealer(archive), demo, "jsonl")
    assert _count(archive, "quarantine") == 0 and _count(archive, "cursors") == 0
    assert ingest_file(archive, Sealer(archive), demo, "wecom").counts.imported == DEMO_MESSAGES
    # A file whose format cannot be told is read as forced.
    odd = tmp_path / "odd.jsonl"
    odd.write_bytes(b'{"note": "no msgid"}\n' + BAD_LINES[5] + b"\n")
    r = ingest_file(archive, Sealer(archive), odd, "wecom")
    assert (r.counts.imported, r.counts.quarantined) == (1, 1)


def test_json_array_input(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "arr.json"
    f.write_bytes(b"[" + BAD_LINES[0] + b"," + BAD_LINES[5] + b"]")
    r = ingest_file(archive, Sealer(archive), f)
    assert r.counts.imported == 2


def test_a_line_still_being_written_is_left_for_the_next_run(
    archive: Archive, demo: Path, tmp_path: Path
) -> None:
    # Another program appends to the file; an ingest runs while a line is half written.
    data = demo.read_bytes()
    cut = data.index(b"\n", len(data) // 3) + 40
    f = tmp_path / "pull.jsonl"
    f.write_bytes(data[:cut])
    s = Sealer(archive)
    r = ingest_file(archive, s, f)
    line = data[:cut].count(b"\n") + 1
    assert r.counts.quarantined == 0 and r.error == ""
    assert r.warnings == [
        f"{f}: line {line} has no line end and is not a whole JSON object — still being "
        "written? It is left for the next run"
    ]
    again = ingest_file(archive, s, f)  # nothing new: the same note, nothing quarantined
    assert again.counts.quarantined == 0 and again.warnings and again.resumed_at < cut
    f.write_bytes(data)  # the writer finished the line and went on
    done = ingest_file(archive, s, f)
    assert (done.counts.quarantined, done.warnings) == (0, [])
    assert _count(archive, "messages") == DEMO_MESSAGES and _count(archive, "quarantine") == 0
    # A finished file whose last record simply lacks a line end is read whole.
    last = tmp_path / "no-final-newline.jsonl"
    last.write_bytes(BAD_LINES[0] + b"\n" + BAD_LINES[5])
    r = ingest_file(archive, s, last)
    assert (r.counts.imported, r.warnings) == (2, [])


def _compress(kind: str, data: bytes) -> bytes:
    """``data`` compressed as two members / frames / streams, as appending tools write."""
    half = data.index(b"\n", len(data) // 2) + 1
    one = {
        "gzip": gzip.compress,
        "zstd": zstandard.ZstdCompressor().compress,
        "xz": lzma.compress,
        "bzip2": bz2.compress,
    }[kind]
    return one(data[:half]) + one(data[half:])


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])
def test_compressed_input_is_read_through(
    archive: Archive, demo: Path, tmp_path: Path, kind: str
) -> None:
    # Told by the magic number, not the name; both halves (two frames) are read.
    f = tmp_path / "pull.data"
    f.write_bytes(_compress(kind, demo.read_bytes()))
    s = Sealer(archive)
    r = ingest_file(archive, s, f)
    assert (r.format, r.error, r.counts.imported, r.counts.quarantined) == (
        "wecom", "", DEMO_MESSAGES, 0
    )  # fmt: skip
    assert r.counts.duplicates == demo.read_bytes().count(b"\n") - DEMO_MESSAGES
    again = ingest_file(archive, s, f)  # the cursor counts decompressed bytes
    assert again.resumed_at == demo.stat().st_size and again.counts.imported == 0
    arr = tmp_path / "arr.json"
    arr.write_bytes(_compress(kind, b"[" + BAD_LINES[0] + b",\n" + BAD_LINES[5] + b"]"))
    assert ingest_file(archive, s, arr).counts.imported == 2


@pytest.mark.parametrize("kind", ["gzip", "zstd", "xz", "bzip2"])
def test_a_cut_compressed_file_keeps_what_came_before(
    archive: Archive, demo: Path, tmp_path: Path, kind: str
) -> None:
    full = _compress(kind, demo.read_bytes())
    f = tmp_path / "copying.jsonl.z"
    f.write_bytes(full[: len(full) * 3 // 4])  # a copy still in progress
    s = Sealer(archive)
    r = ingest_file(archive, s, f)
    assert "cannot read" in r.error and kind in r.error and "resume" in r.error
    got = r.counts.imported + r.counts.duplicates
    assert r.counts.quarantined == 0 and 0 < got < demo.read_bytes().count(b"\n")
    assert _count(archive, "messages") == r.counts.imported  # committed, not rolled back
    stuck = ingest_file(archive, s, f)  # the same cut file: nothing new, same report
    assert stuck.counts.imported == 0 and stuck.resumed_at > 0 and stuck.error
    f.write_bytes(full)  # the copy finished: resume where the damage was
    done = ingest_file(archive, s, f)
    assert done.error == "" and done.resumed_at == stuck.resumed_at
    assert _count(archive, "messages") == DEMO_MESSAGES
    archive.seal_checkpoint()
    assert verify(archive).ok


def test_utf16_input_is_read_as_utf8(archive: Archive, demo: Path, tmp_path: Path) -> None:
    # As PowerShell's `>` writes it (little-endian with a byte-order mark), or big-endian
    # and compressed; positions count the UTF-8 it is read as.
    text = demo.read_text("utf-8")
    le = tmp_path / "le.jsonl"
    le.write_bytes(text.encode("utf-16"))
    be = tmp_path / "be.jsonl.gz"
    be.write_bytes(gzip.compress(b"\xfe\xff" + text.encode("utf-16-be")))
    s = Sealer(archive)
    r = ingest_file(archive, s, le)
    assert (r.format, r.counts.imported, r.counts.quarantined) == ("wecom", DEMO_MESSAGES, 0)
    assert ingest_file(archive, s, le).resumed_at == demo.stat().st_size
    r = ingest_file(archive, s, be)
    assert r.counts.imported == 0 and r.counts.duplicates == text.count("\n")
    # An unpaired surrogate is a bad record, quarantined by line; the rest goes in.
    odd = tmp_path / "odd.jsonl"
    lines = [BAD_LINES[0].decode(), '{"msgid": "\ud800"}', BAD_LINES[5].decode()]
    odd.write_bytes("\n".join(lines).encode("utf-16", "surrogatepass"))
    r = ingest_file(archive, Sealer(archive), odd)
    assert (r.counts.imported, r.counts.quarantined) == (2, 1)
    gbk = tmp_path / "gbk.jsonl"
    gbk.write_bytes(b'{"msgid":"g1","msgtype":"text","text":{"content":"' + "你好".encode("gbk")
                    + b'"}}\n')  # fmt: skip
    with pytest.raises(IngestError, match="iconv -f GB18030 -t UTF-8"):
        ingest_file(archive, Sealer(archive), gbk)


def test_damaged_compressed_input_is_a_clear_file_error(archive: Archive, tmp_path: Path) -> None:
    f = tmp_path / "junk.jsonl.gz"
    f.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    with pytest.raises(IngestError, match=r"junk.jsonl.gz: cannot read gzip data \("):
        ingest_file(archive, Sealer(archive), f)
    empty = tmp_path / "empty.jsonl.zst"
    empty.write_bytes(zstandard.ZstdCompressor().compress(b""))
    with pytest.raises(IngestError, match="empty"):
        ingest_file(archive, Sealer(archive), empty)
    assert _count(archive, "messages") == 0


def test_folders_offer_compressed_json(tmp_path: Path) -> None:
    for name in ("a.jsonl.gz", "b.JSON.zst", "c.jsonl.xz", "d.truth.jsonl.gz", "e.txt.gz", "f.gz"):
        (tmp_path / name).write_bytes(gzip.compress(BAD_LINES[0]))
    assert sorted(Path(j.path).name for j in plan([tmp_path])) == [
        "a.jsonl.gz", "b.JSON.zst", "c.jsonl.xz",
    ]  # fmt: skip


def test_folders_are_walked_once_whatever_links_they_hold(tmp_path: Path) -> None:
    (tmp_path / "exports" / "may").mkdir(parents=True)
    f = tmp_path / "exports" / "may" / "pull.jsonl"
    f.write_bytes(BAD_LINES[0] + b"\n")
    (tmp_path / "exports" / "may" / "up").symlink_to("..")  # a loop
    (tmp_path / "exports" / "latest.jsonl").symlink_to("may/pull.jsonl")
    (tmp_path / "exports" / "again").symlink_to("may")
    jobs = plan([tmp_path / "exports", f, tmp_path / "exports" / "latest.jsonl"])
    assert [(j.kind, Path(j.path).resolve()) for j in jobs] == [("file", f.resolve())]
    # A folder named twice, or inside one already named, is no error: it was read.
    again = plan([tmp_path / "exports", tmp_path / "exports" / "may", tmp_path / "exports"])
    assert [(j.kind, Path(j.path).resolve()) for j in again] == [("file", f.resolve())]


def test_recall_marks_without_altering(archive: Archive, demo: Path) -> None:
    load(archive, demo)
    n = archive.conn.execute("SELECT count(*) FROM recalls").fetchone()[0]
    assert n > 0
    target = archive.conn.execute(
        "SELECT m.seq FROM recalls r JOIN messages m ON m.source = r.source "
        "AND m.source_msg_id = r.target_msg_id LIMIT 1"
    ).fetchone()
    assert target is not None  # the recalled original is still archived


def test_schema_newer_than_code_is_refused(archive: Archive, data_dir: Path) -> None:
    archive.close()
    c = sqlite3.connect(data_dir / "archive.db")
    c.execute("PRAGMA user_version = 999")
    c.commit()
    c.close()
    with pytest.raises(ArchiveError, match="upgrade wxguard"):
        Archive.open(data_dir)


def test_bad_configuration_names_the_key(archive: Archive, data_dir: Path) -> None:
    archive.close()
    cfg = data_dir / "wxguard.toml"
    good = cfg.read_text()
    cfg.write_text(good + "kek_file = 'x'\n")
    with pytest.raises(ArchiveError, match=r"unknown configuration key.*kek_file"):
        Archive.open(data_dir)
    cfg.write_text(good.replace("kek =", "kek = 5 #"))
    with pytest.raises(ArchiveError, match="'kek' must be a string"):
        Archive.open(data_dir)
    cfg.write_text("kek = [")
    with pytest.raises(ArchiveError, match="invalid configuration"):
        Archive.open(data_dir)


def test_worker_processes_archive_what_one_process_does(
    archive: Archive, demo: Path, tmp_path: Path
) -> None:
    # `ingest --jobs`: records prepared in worker processes are sealed exactly as in one
    # process — same messages and content, same duplicates and quarantined records.
    f = tmp_path / "mixed.jsonl"
    f.write_bytes(b"\n".join([*BAD_LINES, *demo.read_bytes().splitlines()]) + b"\n")
    one = ingest_file(archive, Sealer(archive), f)
    other = Archive.create(tmp_path / "parallel")
    try:
        with Preparer(other, jobs=3) as preparer:
            many = ingest_file(other, Sealer(other), f, preparer=preparer)
            again = ingest_file(other, Sealer(other), f, preparer=preparer)
        assert (many.counts.imported, many.counts.duplicates, many.counts.quarantined) == (
            one.counts.imported, one.counts.duplicates, one.counts.quarantined,
        )  # fmt: skip
        assert many.counts.reasons == one.counts.reasons and one.counts.quarantined == 4
        assert again.counts.imported == 0  # resumed at the cursor
        q = "SELECT source, source_msg_id, kind, sent_at, chat, flags, media_bytes FROM messages"
        assert sorted(other.conn.execute(q)) == sorted(archive.conn.execute(q))
        rows = other.conn.execute("SELECT seq, source_msg_id, key_id, body FROM messages")
        by_id = {}
        for seq, msgid, kid, body in rows:  # the stored bodies open to the same messages
            by_id[msgid] = split_plaintext(open_body(other, seq, message_id("wecom", msgid),
                                                     kid, body) or b"")[1:]  # fmt: skip
        for seq, msgid, kid, body in archive.conn.execute(
            "SELECT seq, source_msg_id, key_id, body FROM messages"
        ):
            pt = open_body(archive, seq, message_id("wecom", msgid), kid, body) or b""
            assert split_plaintext(pt)[1:] == by_id[msgid]
        assert verify(other).ok
    finally:
        other.close()


def test_quarantine_retry_reads_records_under_the_source_they_were_read_under(
    archive: Archive, data_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "acme.jsonl"
    src.write_bytes(BAD_LINES[1] + b"\n" + BAD_LINES[0] + b"\n")
    s = Sealer(archive)
    ingest_file(archive, s, src, source="acme")
    (kept,) = archive.conn.execute("SELECT source FROM quarantine").fetchall()
    assert kept == ("acme",)  # the broken line, with the source it was read under
    # a record an older wxguard refused under --source acme (simulated), and one kept
    # before the archive recorded sources
    stream = f"file:{src.resolve()}"
    s.begin()
    s._quarantine(stream, "line 7", "refused by an older wxguard", BAD_LINES[5], 0, "acme")
    s._quarantine(stream, "line 8", "refused", BAD_LINES[0].replace(b"ok-1", b"ok-9"), 0)
    archive.commit()
    archive.close()
    rep = json.loads(run_cli("quarantine", "retry", "--format", "json", data=data_dir).stdout)
    assert (rep["archived"], rep["still"]) == (2, 1)
    with Archive.open(data_dir) as a:
        ids = {m.id for b in opened_batches(a, 0) for _, _, m in b}
    # not wecom:ok-2, which a retry under the default source would have made of it
    assert ids == {"acme:ok-1", "acme:ok-2", "wecom:ok-9"}


def test_quarantine_retry_archives_what_can_be_read_now(
    archive: Archive, data_dir: Path, tmp_path: Path
) -> None:
    """Records an older wxguard refused (simulated: put in the quarantine as it would) are
    archived by `quarantine retry`; the ones that still fail stay with their reason."""
    src = tmp_path / "pull.jsonl"
    src.write_bytes(BAD_LINES[5] + b"\n")
    s = Sealer(archive)
    ingest_file(archive, s, src)  # ok-2 is archived already
    interchange_line = orjson.dumps({"v": 1, "type": "message", "message": {
        "id": "crm:7", "source": "crm", "source_msg_id": "7", "sender": "a",
        "payload": {"kind": "text", "content": "来自旧系统"}}})  # fmt: skip
    kept = [
        ("line 1", BAD_LINES[0]),  # a WeCom record that reads now
        ("line 2", BAD_LINES[5]),  # re-delivered: already archived
        ("line 3", BAD_LINES[1]),  # still malformed
        ("line 4", interchange_line),
        (
            "line 5",
            b'{"seq":9,"msgid":"x","publickey_ver":1,"encrypt_random_key":"..",'
            b'"encrypt_chat_msg":".."}',
        ),
        ("line 6", b"x" * (1 << 20)),  # longer than what the quarantine keeps
        ("line 7", BAD_LINES[5].replace(b"world", b"edited")),  # conflicts with ok-2
    ]
    stream = f"file:{src.resolve()}"
    s.begin()
    for locator, raw in kept:
        s._quarantine(stream, locator, "refused by an older wxguard", raw, 0)
    archive.commit()
    archive.close()
    r = run_cli("quarantine", "retry", "--format", "json", data=data_dir)
    rep = json.loads(r.stdout)
    assert (rep["tried"], rep["archived"], rep["still"]) == (5, 3, 2)
    assert sum(rep["skipped"].values()) == 2 and any("1 MiB" in k for k in rep["skipped"])
    assert [k.split(":")[0] for k in rep["reasons"]] == ["malformed JSON"]
    with Archive.open(data_dir) as a:
        left = a.conn.execute("SELECT locator FROM quarantine ORDER BY locator").fetchall()
        assert [x for (x,) in left] == ["line 3", "line 5", "line 6", "msgid=ok-2"]
        ids = {m.id for b in opened_batches(a, 0) for _, _, m in b}
        assert ids == {"wecom:ok-1", "wecom:ok-2", "crm:7"}
        assert (
            a.conn.execute(
                "SELECT count(*) FROM audit WHERE action = 'quarantine-retry'"
            ).fetchone()[0]
            == 1
        )
        assert verify(a).ok
    again = json.loads(run_cli("quarantine", "retry", "--format", "json", data=data_dir).stdout)
    assert (again["tried"], again["archived"], again["still"]) == (2, 0, 2)
