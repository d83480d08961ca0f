"""Plaintext WeChat imports: every format round-trips, re-runs are exactly once, bad input
fails clearly without committing anything of the bad file."""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import threading
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from conftest import run_cli, send_json
from wxguard import imports as I
from wxguard.archive import Archive
from wxguard.cli_ingest import run_ingest
from wxguard.demo import wechat as W
from wxguard.imports import appmsg, silk
from wxguard.imports.common import Account, Row
from wxguard.imports.run import Importer
from wxguard.model import (
    ChatRecord,
    Message,
    ParticipantKind,
    Revoke,
    Text,
    Transfer,
    Voice,
    Weapp,
    direct_conversation_id,
)
from wxguard.policy.facts import event_of
from wxguard.seal import Sealer
from wxguard.sealed import opened_batches
from wxguard.textview import text_view
from wxguard.verify import verify

N = 60


@pytest.fixture(scope="module")
def device() -> W.Device:
    return W.build(N, seed=5)


def messages(a: Archive) -> dict[str, Message]:
    return {m.id: m for b in opened_batches(a, 0) for _, _, m in b}


def participants(a: Archive) -> dict[str, tuple[str, str]]:
    from wxguard.policy.store import load_directory

    d = load_directory(a)
    return {p.id: (str(p.kind), p.department) for p in d.people.values()}


def blob_bytes(a: Archive, blob_id: str) -> bytes:
    from wxguard.crypto import open_sealed

    kid = a.conn.execute("SELECT key_id FROM blobs WHERE id = ?", (blob_id,)).fetchone()[0]
    aead = a.keys.by_id(kid)
    assert aead is not None
    return open_sealed(aead, a.blobs.read(blob_id), blob_id.encode())


def check_round_trip(
    a: Archive, dev: W.Device, *, voices: bool, documents: bool, images: bool
) -> None:
    got = messages(a)
    assert len(got) == len(dev.messages)
    first = dev.messages[0]
    for m in dev.messages:
        msg = got[f"wechat:{W.OWNER}:{m.server_id}"]
        assert msg.kind == m.kind, (m.kind, msg)
        if m.key:
            assert m.key in text_view(msg.payload), (m.kind, m.key, msg.payload)
        group = m.talker.endswith("@chatroom")
        conv = m.talker if group else direct_conversation_id(W.OWNER, m.talker)
        assert msg.conversation == conv
        if m.is_self:
            assert msg.sender == W.OWNER
        elif m.sender:
            assert msg.sender == m.sender
        assert msg.sent_at == m.t * 1000
        p = msg.payload
        if isinstance(p, Revoke):
            assert p.pre_msgid == f"{W.OWNER}:{first.server_id}"
        if isinstance(p, Transfer):
            assert p.amount_fen > 0 and p.memo == "定金" and p.status == "sent"
        if isinstance(p, Weapp):
            assert p.appid == "wx1a2b3c4d5e6f7081" and p.username == "gh_abcdef012345@app"
        if isinstance(p, ChatRecord):
            assert [i.item_type for i in p.items] == ["text", "file"]
        if isinstance(p, Voice):
            assert p.transcript == m.transcript
            if voices:
                assert blob_bytes(a, p.attachment.blob_id) == m.voice
                assert p.wav is not None
                with wave.open(io.BytesIO(blob_bytes(a, p.wav.blob_id))) as w:
                    assert w.getframerate() == silk.SAMPLE_RATE
                    assert 0.3 < w.getnframes() / w.getframerate() < 0.6
        if m.file:
            att = p.attachment  # type: ignore[union-attr]
            expected = {"file": documents, "image": images, "video": True}[m.kind]
            if expected:
                assert att.blob_id and blob_bytes(a, att.blob_id) == m.file[1], m.kind
            else:  # PC images are obfuscated .dat files: never de-obfuscated, never attached
                assert not att.blob_id, m.kind
    people = participants(a)
    assert people[W.OWNER][0] == ParticipantKind.INTERNAL
    assert people[W.CUSTOMERS[0][0]][0] == ParticipantKind.EXTERNAL


WRITERS = {  # writer, (voices, documents, images) attached
    "wechat-pc3": (W.write_pc3, (True, True, False)),
    "wechat-pc4": (W.write_v4, (True, True, False)),
    "wechat-android": (W.write_android, (True, False, True)),
    "wechat-ios": (W.write_ios, (True, False, True)),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_database_formats_round_trip(fmt: str, device: W.Device, tmp_path: Path) -> None:
    writer, (voices, documents, images) = WRITERS[fmt]
    src = writer(tmp_path / "in", device)
    target = src.parent if fmt == "wechat-android" else src
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [target], "auto", "wecom")
        assert [r.get("format") for r in reports] == [fmt], reports
        assert total.imported == N and total.quarantined == 0, reports
        check_round_trip(a, device, voices=voices, documents=documents, images=images)
        again, _ = run_ingest(a, [target], "auto", "wecom")
        assert (again.imported, again.duplicates) == (0, 0)  # cursors: nothing re-read
        assert verify(a).ok


def test_same_account_from_two_devices_dedupes(device: W.Device, tmp_path: Path) -> None:
    pc = W.write_pc3(tmp_path / "pc", device)
    phone = W.write_android(tmp_path / "phone", device)
    with Archive.create(tmp_path / "data") as a:
        run_ingest(a, [pc], "auto", "wecom")
        second, reports = run_ingest(a, [phone], "auto", "wecom")
        assert (second.imported, second.duplicates, second.quarantined) == (0, N, 0), reports


def test_crash_mid_import_resumes_exactly_once(
    device: W.Device, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wxguard.imports.run as run

    monkeypatch.setattr(run, "BATCH_ROWS", 7)
    src = W.write_android(tmp_path / "in", device)
    with Archive.create(tmp_path / "data") as a:
        source = I.open_source(src, "wechat-android")
        unit = source.units[0]
        inner = unit.rows

        def dying(start: int) -> Iterator[tuple[int, object]]:
            for n, item in enumerate(inner(start)):
                if n == 25:
                    raise KeyboardInterrupt  # the process dies mid-batch
                yield item

        unit.rows = dying  # type: ignore[assignment]
        with pytest.raises(KeyboardInterrupt):
            Importer(a, Sealer(a), source.account, source.format).run(unit)
        done = len(messages(a))
        assert 0 < done < 25  # whole batches committed, the open one rolled back
        total, _ = run_ingest(a, [src], "auto", "wecom")
        assert (total.imported, total.duplicates) == (N - done, 0)
        assert len(messages(a)) == N
        a.seal_checkpoint()
        assert verify(a).ok


def test_cli_import_with_employee_directory(device: W.Device, tmp_path: Path) -> None:
    src = W.write_v4(tmp_path / "in", device)
    staff = tmp_path / "staff.csv"
    staff.write_text(
        "account,name,department,title\n"
        f"{W.OWNER},王磊,华东销售部,销售经理\n{W.COLLEAGUES[0][2]},李娜,华东销售部,销售\n",
        "utf-8",
    )
    d = tmp_path / "data"
    run_cli("init", data=d)
    out = run_cli("ingest", src, "--employees", staff, "--format", "json", data=d)
    rep = json.loads(out.stdout)
    assert rep["imported"] == N and rep["files"][0]["format"] == "wechat-pc4"
    with Archive.open(d) as a:
        people = participants(a)
    assert people[W.COLLEAGUES[0][0]] == (ParticipantKind.INTERNAL, "华东销售部")  # by 微信号
    assert people[W.COLLEAGUES[1][0]][0] == ParticipantKind.EXTERNAL  # not listed
    assert people[W.OWNER] == (ParticipantKind.INTERNAL, "华东销售部")
    # A later import without the CSV does not demote an employee to external.
    run_cli("ingest", W.write_android(tmp_path / "phone", device), data=d)
    with Archive.open(d) as a:
        assert participants(a)[W.COLLEAGUES[0][0]][0] == ParticipantKind.INTERNAL
    bad = tmp_path / "bad.csv"
    bad.write_text("wxid,name\nx,y\n", "utf-8")
    proc = run_cli("ingest", src, "--employees", bad, data=d, check=False)
    assert proc.returncode != 0 and "bad.csv" in proc.stderr and "account" in proc.stderr


# --------------------------------------------------------------------------- tool exports

EXPORTS = {
    "chatlog": lambda p, d: W.write_chatlog_json(p / "chatlog.json", d),
    "pywxdump-json": lambda p, d: W.write_pywxdump_json(p / W.OWNER / "json" / "msgs.json", d),
    "pywxdump-csv": lambda p, d: W.write_pywxdump_csv(p / W.OWNER / "csv" / "msgs.csv", d),
}


@pytest.mark.parametrize("fmt", sorted(EXPORTS))
def test_tool_exports_import(fmt: str, device: W.Device, tmp_path: Path) -> None:
    (tmp_path / W.OWNER / "json").mkdir(parents=True)
    (tmp_path / W.OWNER / "csv").mkdir(parents=True)
    path = EXPORTS[fmt](tmp_path, device)
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [path], "auto", "wecom")
        assert reports[0]["format"] == fmt and total.imported == N, reports
        got = messages(a)
        texts = "\n".join(text_view(m.payload) for m in got.values())
        for m in device.messages:
            if m.key and m.kind not in ("card",):
                assert m.key in texts, (fmt, m.kind, m.key)
        kinds = {m.kind for m in got.values()}
        assert {"text", "file", "transfer", "voice", "system"} <= kinds
        again, _ = run_ingest(a, [path], "auto", "wecom")
        assert again.imported == 0


def test_wechatmsg_csv_txt_html(device: W.Device, tmp_path: Path) -> None:
    talker = W.CUSTOMERS[2][0]
    mine = [m for m in device.messages if m.talker == talker]
    paths = [
        W.write_wechatmsg_csv(tmp_path / f"{W.CUSTOMERS[2][1]}_utf8.csv", device, talker),
        W.write_wechatmsg_txt(tmp_path / f"{W.CUSTOMERS[2][1]}.txt", device, talker),
        W.write_wechatmsg_html(tmp_path / f"{W.CUSTOMERS[2][1]}.html", device, talker),
    ]
    with Archive.create(tmp_path / "data-none") as a:
        _, reports = run_ingest(a, paths[1:], "auto", "wecom")  # TXT/HTML name no account
        assert all("pass --owner" in r["error"] for r in reports), reports
    for p in paths:
        owner = "" if p.suffix == ".csv" else W.OWNER  # the CSV's own rows name the owner
        with Archive.create(tmp_path / f"data-{p.suffix}") as a:
            total, reports = run_ingest(a, [p], "auto", "wecom", owner=owner)
            assert reports[0]["format"] == f"wechatmsg-{p.suffix[1:]}", reports
            assert total.imported == len(mine) and total.quarantined == 0
            got = sorted(messages(a).values(), key=lambda m: m.sent_at)
            assert [m.sent_at for m in got] == [m.t * 1000 for m in mine]
            text = "\n".join(text_view(m.payload) for m in got)
            assert all(m.key in text for m in mine if m.kind == "text")


def test_html_reader_takes_js_literals_not_code() -> None:
    from wxguard.imports.jsliteral import parse_js

    src = "var x = [{type:1, text:'it\\'s \"ok\"', is_send:0, n:-1.5e2, t:true,},]; alert(1)"
    val, end = parse_js(src, src.index("["))
    assert val == [{"type": 1, "text": 'it\'s "ok"', "is_send": 0, "n": -150.0, "t": True}]
    assert src[end:].startswith(";")
    with pytest.raises(ValueError):
        parse_js("[{a: alert(1)}]", 0)


class _Chatlog(BaseHTTPRequestHandler):
    dev: W.Device
    chatlog: list[dict[str, Any]]  # what /api/v1/chatlog serves, built once per test

    def do_GET(self) -> None:
        u = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        if u.path == "/api/v1/session":
            body: object = {
                "items": [
                    {"userName": t} for t in dict.fromkeys(m.talker for m in self.dev.messages)
                ]
            }
        elif u.path == "/api/v1/contact":
            body = {"items": [{"userName": u_, "nickName": n} for u_, n, _ in self.dev.contacts]}
        elif u.path == "/api/v1/chatroom":
            body = {
                "items": [
                    {"name": r, "users": [{"userName": x} for x in ms]}
                    for r, _, ms in self.dev.rooms()
                ]
            }
        elif u.path == "/api/v1/chatlog":
            mine = [o for o in self.chatlog if o["talker"] == q["talker"]]
            off, lim = int(q["offset"]), int(q["limit"])
            body = mine[off : off + lim]
        else:
            self.send_error(404)
            return
        send_json(self, body)

    def log_message(self, *args: object) -> None:
        pass


def test_chatlog_pulled_from_a_running_server(device: W.Device, tmp_path: Path) -> None:
    _Chatlog.dev = device
    _Chatlog.chatlog = json.loads(
        W.write_chatlog_json(tmp_path / "chatlog.json", device).read_text("utf-8")
    )
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Chatlog)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    try:
        url = f"http://127.0.0.1:{srv.server_address[1]}"
        d = tmp_path / "data"
        run_cli("init", data=d)
        rep = json.loads(
            run_cli("ingest", url, "--owner", W.OWNER, "--format", "json", data=d).stdout
        )
        assert rep["imported"] == N and rep["files"][0]["format"] == "chatlog", rep
        rep = json.loads(
            run_cli("ingest", url, "--owner", W.OWNER, "--format", "json", data=d).stdout
        )
        assert rep["imported"] == 0
    finally:
        srv.shutdown()


# --------------------------------------------------------------------------- bad input


def test_bad_files_fail_clearly_and_the_rest_of_the_batch_imports(
    device: W.Device, tmp_path: Path
) -> None:
    good = W.write_android(tmp_path / "good", device)
    enc = tmp_path / "enc" / "MSG0.db"
    enc.parent.mkdir()
    enc.write_bytes(hashlib.sha256(b"x").digest() * 256)  # what an encrypted DB looks like
    truncated = tmp_path / "trunc" / "EnMicroMsg.db"
    truncated.parent.mkdir()
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    corrupt = tmp_path / "corrupt" / "EnMicroMsg.db"
    corrupt.parent.mkdir()
    data = bytearray(good.read_bytes())
    for page in range(4096, len(data), 4096):
        data[page] = 0xFF  # smash every b-tree page header after the schema page
    corrupt.write_bytes(bytes(data))
    unknown = tmp_path / "unknown" / "MSG0.db"
    unknown.parent.mkdir()
    c = sqlite3.connect(unknown)
    c.execute("CREATE TABLE MSG (localId INTEGER, Foo TEXT)")
    c.execute("CREATE TABLE Name2ID (UsrName TEXT)")
    c.commit()
    c.close()
    huge = tmp_path / "huge" / "export.html"
    huge.parent.mkdir()
    with huge.open("wb") as f:
        f.write(b"<html><script>var m = [{type:1}]</script>")
        f.truncate(2 << 30)  # a sparse 2 GB file
    huge_db = tmp_path / "huge" / "MSG1.db"
    with huge_db.open("wb") as f:
        f.truncate(2 << 30)
    gbk = tmp_path / "gbk" / "客户_utf8.csv"
    gbk.parent.mkdir()
    gbk.write_bytes(
        "localId,Type,SubType,IsSender,CreateTime,StrContent,Sender\n"
        "1,1,0,0,1790000000,报价单已发送,wxid_x\n".encode("gbk")
    )
    with Archive.create(tmp_path / "data") as a:
        inputs = [enc, truncated, corrupt, unknown, huge, huge_db, gbk, good]
        total, reports = run_ingest(a, inputs, "auto", "wecom", owner=W.OWNER)
        errors = {r["path"]: r["error"] for r in reports if "error" in r}
        assert "plaintext" in errors[str(enc)] and "encrypted" in errors[str(enc)]
        assert "corrupt" in errors[str(truncated)] or "truncated" in errors[str(truncated)]
        assert "corrupt" in errors[str(corrupt)]
        assert (
            "lacks column" in errors[str(unknown)]
            and "unknown WeChat version" in errors[str(unknown)]
        )
        assert "exceeds" in errors[str(huge)]
        assert "not a plaintext SQLite" in errors[str(huge_db)]
        assert "GB18030" in errors[str(gbk)]
        assert total.imported == N  # only the good file, all of it
        assert verify(a).ok


def _one_row_db(tmp_path: Path, content: str, typ: int = 49) -> Path:
    dev = W.Device(
        messages=[
            W.WxMsg(
                W.CUSTOMERS[0][0],
                77,
                1,
                1790000000,
                typ,
                0,
                False,
                W.CUSTOMERS[0][0],
                content,
                "text",
                "",
            )
        ]
    )
    dev.messages.append(
        W.WxMsg(W.CUSTOMERS[0][0], 78, 2, 1790000001, 1, 0, True, W.OWNER, "正常消息", "text", "")
    )
    return W.write_android(tmp_path, dev)


BOMB = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<msg><appmsg><title>&lol2;</title><type>5</type></appmsg></msg>"
)
XXE = (
    '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<msg><appmsg><title>&x;</title><type>5</type></appmsg></msg>"
)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (BOMB, "DTD"),
        (XXE, "DTD"),
        ("<msg><appmsg><title>x</title>", "malformed"),
        ("<msg>" + "<a>" * 10 + "x" * (appmsg.MAX_XML + 1) + "</msg>", "exceeds"),
    ],
)
def test_hostile_xml_is_quarantined_never_expanded(
    content: str, reason: str, tmp_path: Path
) -> None:
    db = _one_row_db(tmp_path / "in", content)
    with Archive.create(tmp_path / "data") as a:
        total, _ = run_ingest(a, [db], "auto", "wecom")
        assert (total.imported, total.quarantined) == (1, 1)
        (why,) = total.reasons
        assert reason in why
        loc = a.conn.execute("SELECT locator FROM quarantine").fetchone()[0]
        assert loc == "EnMicroMsg.db message msgId 1"
        assert b"root:" not in b"".join(
            str(text_view(m.payload)).encode() for m in messages(a).values()
        )


def test_garbled_voice_is_quarantined(tmp_path: Path) -> None:
    dev = W.build(20, seed=3)
    voice = next(m for m in dev.messages if m.kind == "voice")
    voice.voice = voice.voice[:40] + b"\x7f\x7f" + b"\x00" * 10  # frame length runs off the end
    src = W.write_pc3(tmp_path / "in", dev)
    with Archive.create(tmp_path / "data") as a:
        total, _ = run_ingest(a, [src], "auto", "wecom")
        assert total.quarantined >= 1 and any("SILK" in r for r in total.reasons)
        assert total.imported + total.quarantined == 20
        orphans = a.conn.execute(
            "SELECT count(*) FROM blobs WHERE id NOT IN (SELECT blob_id FROM message_blobs)"
        ).fetchone()[0]
        assert orphans == 0  # the quarantined row left no blob behind


# --------------------------------------------------------------------------- units


def test_silk_framing_and_decode() -> None:
    dev = W.build(3, seed=9)
    v = next(m for m in dev.messages if m.voice).voice
    assert v[:10] == b"\x02#!SILK_V3" and silk.frames(v) == 20  # 0.4 s of 20 ms frames
    wav = silk.to_wav(v)
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
    for bad in (b"#!AMR\n", v[:11], v[:-3], b"\x02#!SILK_V3"):
        with pytest.raises(silk.VoiceError):
            silk.to_wav(bad)


def test_app_messages_parse_to_rich_payloads() -> None:
    tmpl = (
        '<sysmsg type="sysmsgtemplate"><sysmsgtemplate><content_template type="tmpl_type_profile">'
        '<template><![CDATA["$username$"邀请"$names$"加入了群聊]]></template><link_list>'
        '<link name="username"><memberlist><member><nickname>王磊</nickname></member></memberlist></link>'
        '<link name="names"><memberlist><member><nickname>张三</nickname></member>'
        "<member><nickname>李四</nickname></member></memberlist></link></link_list>"
        "</content_template></sysmsgtemplate></sysmsg>"
    )
    p = appmsg.payload_of(10000, 0, tmpl)
    assert text_view(p) == '"王磊"邀请"张三、李四"加入了群聊'
    own_recall = '你撤回了一条消息 <a href="weixin://revoke_edit_click">重新编辑</a>'
    assert text_view(appmsg.payload_of(10000, 0, own_recall)) == "你撤回了一条消息"
    assert appmsg.yuan_to_fen("￥1,234.50") == 123450
    assert appmsg.yuan_to_fen("收到转账150元") == 15000
    quote_img = (
        "<msg><appmsg><title>这张图是最新版</title><type>57</type><refermsg><type>3</type>"
        "<displayname>Bob</displayname><content>&lt;msg&gt;&lt;img md5=&quot;ab&quot;/&gt;"
        "&lt;/msg&gt;</content></refermsg></appmsg></msg>"
    )
    q = appmsg.payload_of(49, 57, quote_img)
    assert isinstance(q, Text) and q.quote_author == "Bob" and q.content == "这张图是最新版"
    assert q.quote_text == "[image]"
    ev = event_of(
        1,
        Message(
            id="wechat:a:1",
            source="wechat",
            source_msg_id="a:1",
            payload=appmsg.payload_of(49, 33, W.build(12).messages[9].content),
        ),
        "",
        [],
    )
    assert ("miniprogram", "gh_abcdef012345@app") in [(t.kind, t.ident) for t in ev.third_parties]
    link = appmsg.payload_of(49, 5, W.build(10).messages[7].content)
    ev = event_of(
        1, Message(id="wechat:a:2", source="wechat", source_msg_id="a:2", payload=link), "", []
    )
    assert ("app", "wx6618f1cfc6c132f8") in [(t.kind, t.ident) for t in ev.third_parties]


def test_group_sender_prefix_and_owner_rules() -> None:
    acct = Account(owner=W.OWNER)
    from wxguard.imports.common import split_sender, to_message

    assert split_sender("wxid_bob02:\n你好") == ("wxid_bob02", "你好")
    assert split_sender("时间: 10:00\n地点") == ("", "时间: 10:00\n地点")  # a space: not a prefix
    row = Row(
        locator="x",
        talker="1@chatroom",
        server_id=0,
        local_key="k",
        sent_ms=5,
        base=10000,
        sub=0,
        is_self=False,
        sender="",
        content="x",
        raw=b"",
    )
    m = to_message(row, acct, None)
    assert m.source_msg_id == f"{W.OWNER}:1@chatroom:k" and m.sender == ""


def test_dtd_hidden_behind_control_characters_is_still_refused() -> None:
    sneaky = BOMB.replace("<!DOCTYPE", "<!DOC\x01TYPE")
    with pytest.raises(appmsg.BodyError, match=r"DTD|malformed"):
        appmsg.parse_xml(sneaky)
    cdata = (
        "<msg><appmsg><title><![CDATA[<!DOCTYPE html> page]]></title><type>5</type></appmsg></msg>"
    )
    assert appmsg.parse_xml(cdata).findtext("appmsg/title") == "<!DOCTYPE html> page"


def test_newest_messages_only_in_the_wal_are_imported(device: W.Device, tmp_path: Path) -> None:
    import shutil

    src = W.write_v4(tmp_path / "in", device)
    shard = src / "db_storage" / "message" / "message_1.db"
    live = sqlite3.connect(shard)
    live.execute("PRAGMA journal_mode = WAL")
    live.execute("PRAGMA wal_autocheckpoint = 0")
    table = next(
        r[0] for r in live.execute("SELECT name FROM sqlite_master WHERE name LIKE 'Msg_%'")
    )
    live.execute(
        f"INSERT INTO {table} (server_id, local_type, real_sender_id, create_time, status, "
        "message_content) VALUES (4242, 1, 1, 1790000000, 2, '只在WAL里的新消息')"
    )
    live.commit()
    copy = tmp_path / "copy" / src.name
    shutil.copytree(src, copy)  # what a collection tool copies: the .db and its -wal
    live.close()
    assert (copy / "db_storage" / "message" / "message_1.db-wal").stat().st_size > 0
    before = (copy / "db_storage" / "message" / "message_1.db").read_bytes()
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [copy], "auto", "wecom")
        assert total.imported == N + 1, reports
        texts = [text_view(m.payload) for m in messages(a).values()]
        assert "只在WAL里的新消息" in texts
    assert (copy / "db_storage" / "message" / "message_1.db").read_bytes() == before  # untouched


def test_employees_command_marks_archived_accounts(device: W.Device, tmp_path: Path) -> None:
    d = tmp_path / "data"
    run_cli("init", data=d)
    run_cli("ingest", W.write_android(tmp_path / "in", device), data=d)
    staff = tmp_path / "staff.csv"
    staff.write_text(
        f"account,name,department,title\n{W.COLLEAGUES[1][0]},赵强,售后服务部,工程师\n"
        "wxid_nobody,无名,,\n",
        "utf-8",
    )
    rep = json.loads(run_cli("employees", staff, "--format", "json", data=d).stdout)
    assert rep == {"listed": 2, "marked": 1, "not_found": 1}
    with Archive.open(d) as a:
        assert participants(a)[W.COLLEAGUES[1][0]] == (ParticipantKind.INTERNAL, "售后服务部")
        (ev,) = [
            e for e in __import__("wxguard.audit").audit.events(a) if e.action == "employees-mark"
        ]
        assert ev.detail == {"listed": 2, "marked": 1, "not_found": 0 + 1}
        assert verify(a).ok


def test_pc3_chats_with_wecom_users_are_imported(device: W.Device, tmp_path: Path) -> None:
    acct = W.write_pc3(tmp_path / "in", device)
    conn = sqlite3.connect(acct / "Msg" / "OpenIMMsg.db")
    conn.executescript(W.PC3_MSG_DDL.replace("CREATE TABLE MSG ", "CREATE TABLE ChatCRMsg "))
    conn.executemany(
        "INSERT INTO ChatCRMsg (localId, MsgSvrID, Type, SubType, IsSender, CreateTime, "
        "StrTalker, StrContent) VALUES (?, ?, 1, 0, ?, 1790000000, ?, ?)",
        [(1, 900001, 0, "1688850000000001@openim", "您好，我是明远精密的采购"),
         (2, 900002, 1, "1688850000000001@openim", "您好，报价单稍后发您")],
    )  # fmt: skip
    conn.commit()
    conn.close()
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [acct], "auto", "wecom")
        assert total.imported == N + 2, reports
        m = messages(a)[f"wechat:{W.OWNER}:900002"]
        assert m.sender == W.OWNER and m.recipients == ["1688850000000001@openim"]


def test_v4_own_recalled_messages_are_kept(device: W.Device, tmp_path: Path) -> None:
    acct = W.write_v4(tmp_path / "in", device)
    first = device.messages[0]
    conn = sqlite3.connect(acct / "db_storage" / "message" / "message_revoke.db")
    conn.execute(
        "CREATE TABLE revokemessage(to_user_name TEXT, svr_id INTEGER, message_type INTEGER, "
        "revoke_time INTEGER, content TEXT, at_user_list TEXT)"
    )
    conn.execute(
        "INSERT INTO revokemessage VALUES (?, ?, 1, ?, '刚才的底价别外传', '')",
        (first.talker, 770077, first.t + 60),
    )
    conn.commit()
    conn.close()
    with Archive.create(tmp_path / "data") as a:
        total, _ = run_ingest(a, [acct], "auto", "wecom")
        assert total.imported == N + 1
        m = messages(a)[f"wechat:{W.OWNER}:770077"]
        assert text_view(m.payload) == "刚才的底价别外传" and m.flags == ["recovered-recall"]
        assert m.sender == W.OWNER


def test_an_export_of_an_imported_device_adds_nothing_twice(
    device: W.Device, tmp_path: Path
) -> None:
    pc = W.write_pc3(tmp_path / "pc", device)
    export = W.write_chatlog_json(tmp_path / "chatlog.json", device)
    with Archive.create(tmp_path / "data") as a:
        run_ingest(a, [pc], "auto", "wecom")
        total, _ = run_ingest(a, [export], "auto", "wecom")
        # A recall renders as a plain system line in chatlog (its target id is not exported):
        # the one kind that cannot be matched, so it is archived beside the revoke record.
        recalls = sum(1 for m in device.messages if m.kind == "revoke")
        assert (total.imported, total.duplicates) == (recalls, N - recalls)


def test_retention_disposes_imported_media_and_verify_still_passes(
    device: W.Device, tmp_path: Path
) -> None:
    from wxguard import disposal, retention
    from wxguard.retention import Rule

    src = W.write_pc3(tmp_path / "in", device)
    with Archive.create(tmp_path / "data") as a:
        run_ingest(a, [src], "auto", "wecom")
        got = messages(a)
        voice_blobs = {
            x.blob_id
            for m in got.values()
            if isinstance(m.payload, Voice)
            for x in (m.payload.attachment, m.payload.wav)
            if x is not None and x.blob_id
        }
        other_blobs = {
            m.payload.attachment.blob_id  # type: ignore[union-attr]
            for m in got.values()
            if m.kind in ("file", "video")
        }
        assert voice_blobs and other_blobs and not voice_blobs & other_blobs
        retention.set_rule(a, Rule(name="voice-1y", klass="operational", keep="1y",
                                   kinds=["voice"]), "officer")  # fmt: skip
        newest = max(m.sent_at for m in got.values())
        now = newest + 2 * 365 * 86_400_000
        plan = retention.plan(a, now)
        assert set(plan.freed_blobs) == voice_blobs
        rep = disposal.apply(a, "officer", now)
        voices = sum(1 for m in got.values() if m.kind == "voice")
        assert (rep.messages, rep.blobs) == (voices, len(voice_blobs))
        assert not any(a.blobs.exists(b) for b in voice_blobs)  # gone from the blob store
        assert all(blob_bytes(a, b) for b in other_blobs)  # the others untouched
        left = messages(a)
        assert len(left) == N - voices and not any(m.kind == "voice" for m in left.values())
        v = verify(a)
        assert v.ok, v.problems
        assert v.disposed == {"message": voices, "blob": len(voice_blobs)}


def test_people_are_resolved_one_way_and_namesakes_block_a_person_export(
    device: W.Device, tmp_path: Path
) -> None:
    from wxguard import holds
    from wxguard.exports.package import ExportError, ExportScope, select
    from wxguard.policy.store import load_directory

    acct = W.write_pc3(tmp_path / "in", device)
    c = sqlite3.connect(acct / "Msg" / "MicroMsg.db")  # two customers share a display name
    c.execute("UPDATE Contact SET NickName = 'Chen Jie' WHERE UserName IN (?, ?)",
              (W.CUSTOMERS[0][0], W.CUSTOMERS[1][0]))  # fmt: skip
    c.commit()
    c.close()
    with Archive.create(tmp_path / "data") as a:
        run_ingest(a, [acct], "auto", "wecom")
        d = load_directory(a)
        both = sorted([W.CUSTOMERS[0][0], W.CUSTOMERS[1][0]])
        assert d.person_ids("chen jie") == both  # by name, ignoring case
        assert d.person_ids(W.CUSTOMERS[0][0]) == [W.CUSTOMERS[0][0]]  # an id is exactly one
        assert d.conversation_ids(W.GROUP_EXT[1]) == [W.GROUP_EXT[0]]  # a group by its name
        with pytest.raises(ExportError, match="2 people are named"):
            select(a, ExportScope(person="Chen Jie"))
        assert select(a, ExportScope(person=W.CUSTOMERS[0][0]))
        h = holds.place(a, "m", holds.HoldScope(custodians=["CHEN JIE"]), "why", "counsel")
        assert sorted(h.scope.custodians) == both  # a hold takes in every namesake


def test_person_export_of_imported_data_carries_media_and_proofs(
    device: W.Device, tmp_path: Path
) -> None:
    import email
    import email.policy
    import zipfile

    import jsonschema

    from wxguard.exports import package
    from wxguard.exports.package import ExportScope

    src = W.write_pc3(tmp_path / "in", device)
    out = tmp_path / "pkg"
    with Archive.create(tmp_path / "data") as a:
        run_ingest(a, [src], "auto", "wecom")
        e = package.request(a, ExportScope(person=W.OWNER), ["rsmf", "jsonl"], "DSR 7", "dpo",
                            False)  # fmt: skip
        done = package.run(a, e.id, "dpo", out)
    assert done.state == "done" and done.messages == N  # the owner is party to everything
    schema = json.loads((Path(package.__file__).parent / "rsmf_schema_2_0_0.json").read_text())
    stored: dict[str, bytes] = {}
    for f in (out / "rsmf").glob("*.rsmf"):
        msg = email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
        assert msg["X-RSMF-Application"] == "WeChat"
        (att,) = list(msg.iter_attachments())
        with zipfile.ZipFile(io.BytesIO(att.get_content())) as z:
            m = json.loads(z.read("rsmf_manifest.json"))
            jsonschema.validate(m, schema)
            for ev in m["events"]:
                for x in ev.get("attachments", []):
                    stored[x["display"]] = z.read(x["id"])
    files = {m.file[0]: m.file[1] for m in device.messages if m.kind == "file" and m.file}
    assert files and all(stored.get(name) == data for name, data in files.items())
    assert "message proofs verified" in run_cli("proof", "--check", out / "manifest.json").stdout


def test_invalid_utf8_in_a_database_is_imported_and_kept_exactly(
    device: W.Device, tmp_path: Path
) -> None:
    import msgspec

    src = W.write_android(tmp_path / "in", device)
    c = sqlite3.connect(src)
    bad = "报价".encode() + b"\xff\xfe" + "单".encode()
    c.execute("UPDATE message SET content = CAST(? AS TEXT) WHERE msgId = 1", (bad,))
    c.commit()
    c.close()
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [src], "auto", "wecom")
        assert total.imported == N and total.quarantined == 0, reports
        first = device.messages[0]
        m = messages(a)[f"wechat:{W.OWNER}:{first.server_id}"]
        assert text_view(m.payload) == "报价\ufffd\ufffd单"
        from wxguard.interchange import iter_plaintexts
        from wxguard.proofcheck import split_plaintext

        (seq,) = a.conn.execute(
            "SELECT seq FROM messages WHERE source_msg_id = ?", (m.source_msg_id,)
        ).fetchone()
        pt = dict(iter_plaintexts(a))[seq]
        assert pt is not None
        raw = msgspec.msgpack.decode(split_plaintext(pt)[2])
        assert raw["content"] == bad  # the evidence keeps the client's bytes


def test_invalid_utf8_in_contacts_does_not_stop_an_import(device: W.Device, tmp_path: Path) -> None:
    acct = W.write_pc3(tmp_path / "in", device)
    c = sqlite3.connect(acct / "Msg" / "MicroMsg.db")
    c.execute("UPDATE Contact SET NickName = CAST(? AS TEXT) WHERE UserName = ?",
              (b"\xe9\x99\x88\xff", W.CUSTOMERS[0][0]))  # fmt: skip
    c.commit()
    c.close()
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [acct], "auto", "wecom")
        assert total.imported == N, reports
        from wxguard.policy.store import load_directory

        assert load_directory(a).people[W.CUSTOMERS[0][0]].name == "陈\ufffd"


def test_ios_app_folder_extracted_from_a_device(device: W.Device, tmp_path: Path) -> None:
    import shutil

    backup = W.write_ios(tmp_path / "backup", device)
    docs = tmp_path / "extracted"
    man = sqlite3.connect(backup / "Manifest.db")
    for fid, rel in man.execute("SELECT fileID, relativePath FROM Files"):
        (docs / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(backup / fid[:2] / fid, docs / rel)
    man.close()
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [docs / "Documents"], "auto", "wecom")
        assert [r.get("format") for r in reports] == ["wechat-ios"], reports
        assert total.imported == N
        check_round_trip(a, device, voices=True, documents=False, images=True)
    one = next((docs / "Documents").glob("*/DB/message_1.sqlite"))
    with Archive.create(tmp_path / "data2") as a:
        total, reports = run_ingest(a, [one], "auto", "wecom")
        assert reports[0]["format"] == "wechat-ios" and total.imported == N, reports


def test_a_collection_folder_reads_databases_before_exports(
    device: W.Device, tmp_path: Path
) -> None:
    coll = tmp_path / "collection"
    coll.mkdir()
    W.write_chatlog_json(coll / "a-chatlog.json", device)  # sorts before the device folder
    W.write_pc3(coll / "z-laptop", device)
    with Archive.create(tmp_path / "data") as a:
        total, reports = run_ingest(a, [coll], "auto", "wecom")
        assert [r["format"] for r in reports] == ["wechat-pc3", "chatlog"]
        recalls = sum(1 for m in device.messages if m.kind == "revoke")
        assert (total.imported, total.duplicates) == (N + recalls, N - recalls)


def test_demo_wechat_writes_a_device_that_imports(tmp_path: Path) -> None:
    out = tmp_path / "device"
    run_cli("demo", "wechat", "--out", out, "--messages", "40", "--layout", "android")
    d = tmp_path / "data"
    run_cli("init", data=d)
    rep = json.loads(run_cli("ingest", out, "--format", "json", data=d).stdout)
    assert rep["imported"] == 40 and rep["files"][0]["format"] == "wechat-android"
    bad = run_cli("demo", "wechat", "--out", out, "--layout", "symbian", check=False)
    assert bad.returncode != 0 and "unknown --layout" in bad.stderr
