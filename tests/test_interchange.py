"""The JSONL interchange format: export → import is lossless; bad lines are clear errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
import orjson
import pytest

from conftest import directory_of, load, run_cli
from wxguard.archive import Archive
from wxguard.cli_ingest import run_ingest
from wxguard.crypto import open_sealed
from wxguard.demo import wechat as W
from wxguard.ingest import ingest_file
from wxguard.interchange import export_jsonl, iter_plaintexts
from wxguard.model import Message
from wxguard.proofcheck import split_plaintext
from wxguard.seal import Sealer
from wxguard.verify import verify


def _messages(a: Archive) -> dict[str, tuple[Message, bytes]]:
    out = {}
    for _seq, pt in iter_plaintexts(a):
        assert pt is not None
        _salt, canonical, raw = split_plaintext(pt)
        m = msgspec.json.decode(canonical, type=Message)
        out[m.id] = (m, raw)
    return out


def test_export_import_round_trip(archive: Archive, demo: Path, tmp_path: Path) -> None:
    load(archive, directory_of(demo), demo)
    buf = io.BytesIO()
    n = export_jsonl(archive, buf).messages
    assert n == 3000
    f = tmp_path / "export.jsonl"
    f.write_bytes(buf.getvalue())
    other = Archive.create(tmp_path / "copy")
    r = ingest_file(other, Sealer(other), f)
    other.seal_checkpoint()
    assert r.counts.imported == n and r.counts.quarantined == 0
    assert (
        r.counts.directory
        == archive.conn.execute(
            "SELECT (SELECT count(*) FROM participants) + (SELECT count(*) FROM conversations)"
        ).fetchone()[0]
    )
    assert _messages(other) == _messages(archive)  # canonical form and original bytes
    assert verify(other).ok
    other.close()


def _blob_bytes(a: Archive) -> set[bytes]:
    rows = a.conn.execute("SELECT id, key_id FROM blobs").fetchall()
    out = set()
    for bid, kid in rows:
        aead = a.keys.by_id(kid)
        assert aead is not None
        out.add(open_sealed(aead, a.blobs.read(bid), bid.encode()))
    return out


@pytest.mark.parametrize(
    ("name", "mode"),
    [("x.jsonl", "files"), ("x.jsonl.gz", "files"), ("x.jsonl.zst", "inline"),
     ("x.jsonl", "none")],
)  # fmt: skip
def test_an_export_carries_the_attachments(tmp_path: Path, name: str, mode: str) -> None:
    device = W.write_pc3(tmp_path / "pc", W.build(40, seed=5))
    with Archive.create(tmp_path / "data") as a:
        run_ingest(a, [device], "auto", "wecom")
        stored = _blob_bytes(a)
    assert len(stored) >= 3
    out = tmp_path / "out" / name
    out.parent.mkdir()
    p = run_cli("export", "--out", out, "--attachments", mode, data=tmp_path / "data")
    assert "Exported 40 messages" in p.stderr
    assert (out.parent / "x.files").is_dir() == (mode == "files")
    if mode == "inline":
        assert not [f for f in out.parent.iterdir() if f != out]  # one self-contained file
    run_cli("init", data=tmp_path / "copy")
    r = json.loads(run_cli("ingest", out, "--format", "json", data=tmp_path / "copy").stdout)
    assert (r["imported"], r["quarantined"]) == (40, 0)
    with Archive.open(tmp_path / "copy") as b:
        assert _blob_bytes(b) == (set() if mode == "none" else stored)
        assert verify(b).ok


def _line(**over: object) -> bytes:
    msg = {"id": "x:1", "source": "x", "source_msg_id": "1", "sender": "a",
           "payload": {"kind": "text", "content": "hi"}}  # fmt: skip
    obj: dict[str, object] = {"v": 1, "type": "message", "message": msg}
    obj.update(over)
    return orjson.dumps(obj)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_line(v=2), "unsupported interchange version 2"),
        (_line(type="thing"), "unknown record type 'thing'"),
        (_line(extra=1), "unknown field(s) extra"),
        (_line(message={"id": "x:1", "source": "x", "source_msg_id": "1",
                        "payload": {"kind": "text", "content": "hi", "colour": "red"}}),
         "unknown field `colour`"),
        (_line(message={"id": "y:1", "source": "x", "source_msg_id": "1",
                        "payload": {"kind": "text", "content": "hi"}}), "message.id must equal"),
        (_line(message={"id": "x:1", "source": "x", "source_msg_id": "1",
                        "payload": {"kind": "nope"}}), "invalid message"),
        (_line(raw_b64="***"), "raw_b64 is not valid base64"),
        (_line(content=[{"attachment": 0, "b64": "aGk="}]), "does not name an attachment"),
        (b'{"v":1,"type":"participant","participant":{"id":"a","kind":"alien"}}', "invalid participant"),
    ],
)  # fmt: skip
def test_bad_interchange_lines(archive: Archive, tmp_path: Path, line: bytes, reason: str) -> None:
    f = tmp_path / "in.jsonl"
    good = _line()
    f.write_bytes(good + b"\n" + line + b"\n")
    r = ingest_file(archive, Sealer(archive), f, fmt="jsonl")
    assert r.counts.imported == 1 and r.counts.quarantined == 1
    got = next(iter(r.counts.reasons))
    assert reason in got, got


def test_attachment_path_cannot_escape(archive: Archive, tmp_path: Path) -> None:
    msg = {"id": "x:9", "source": "x", "source_msg_id": "9",
           "payload": {"kind": "file", "attachment": {"name": "a"}}}  # fmt: skip
    (tmp_path / "sub").mkdir()
    f = tmp_path / "sub" / "in.jsonl"
    (tmp_path / "secret.txt").write_text("outside")
    f.write_bytes(orjson.dumps({"v": 1, "type": "message", "message": msg,
                                "content": [{"attachment": 0, "path": "../secret.txt"}]}))  # fmt: skip
    r = ingest_file(archive, Sealer(archive), f)
    assert r.counts.quarantined == 1 and "escapes" in next(iter(r.counts.reasons))
