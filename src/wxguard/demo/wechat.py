"""Synthetic personal-WeChat client data, written in every plaintext layout we import.

A fictional sales employee's device (the demo company's people, customers and groups,
generated content — no real personal data) as a list of :class:`WxMsg`, then written by
the writers below exactly as the documented schemas say
(``shared/specs/wechat-client-data.md`` §1.5–1.8 PC 3.x, §2.3–2.6 4.x, §3.2 Android,
§7 iOS, §6 tool exports). Tests and ``benchmarks/imports.py`` build their fixtures here.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import sqlite3
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from . import content as C

TZ = timezone(timedelta(hours=8))
OWNER = "wxid_wanglei01"
OWNER_NAME = "王磊"
OWNER_ALIAS = "wanglei_sales"
COLLEAGUES = [("wxid_lina02", "李娜", "lina_ys"), ("wxid_zhaoqiang03", "赵强", "zq_ys")]
CUSTOMERS = [
    (
        f"wxid_cust{i:02d}",
        f"{C.SURNAMES[i % len(C.SURNAMES)][0]}{C.GIVEN[(i * 7) % len(C.GIVEN)][0]}",
        C.CUSTOMERS[i % len(C.CUSTOMERS)][0],
    )
    for i in range(8)
]
OFFICIAL = ("gh_0123456789ab", "云杉科技服务号")
GROUP_EXT = ("20931177@chatroom", "华辰项目对接群")
GROUP_INT = ("20931188@chatroom", "华东销售组")
KINDS = (
    "text",
    "image",
    "voice",
    "video",
    "emotion",
    "location",
    "card",
    "link",
    "file",
    "weapp",
    "quote",
    "chatrecord",
    "transfer",
    "redpacket",
    "pat",
    "sphfeed",
    "voip",
    "system",
    "recall",
    "unknown",
)


CANONICAL = {"quote": "text", "pat": "system", "voip": "voiptext", "recall": "revoke"}


@dataclass
class WxMsg:
    talker: str
    server_id: int
    local_id: int
    t: int  # unix seconds
    base: int
    sub: int
    is_self: bool
    sender: str  # the real sender's username (owner when is_self)
    content: str  # body exactly as the client stores it (text or XML), no sender prefix
    kind: str  # the canonical kind the importer must produce
    key: str  # a string the text view (or payload) must contain
    voice: bytes = b""
    file: tuple[str, bytes] | None = None  # (relative name, bytes) of a plaintext attachment
    transcript: str = ""


@dataclass
class Device:
    messages: list[WxMsg] = field(default_factory=list)

    @property
    def contacts(self) -> list[tuple[str, str, str]]:
        return [(OWNER, OWNER_NAME, OWNER_ALIAS), *COLLEAGUES, *CUSTOMERS]

    def rooms(self) -> list[tuple[str, str, list[str]]]:
        ext = [OWNER, COLLEAGUES[0][0], CUSTOMERS[0][0], CUSTOMERS[1][0]]
        return [
            (GROUP_EXT[0], GROUP_EXT[1], ext),
            (GROUP_INT[0], GROUP_INT[1], [OWNER, *(c[0] for c in COLLEAGUES)]),
        ]


def _silk(rng: random.Random, seconds: float = 0.4) -> bytes:
    from ..imports.silk import encode_for_fixture

    n = int(24000 * seconds)
    f = rng.choice((220.0, 330.0, 440.0))
    pcm = b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * f * i / 24000))) for i in range(n)
    )
    return encode_for_fixture(pcm)


def _cd(s: str) -> str:
    return f"<![CDATA[{s}]]>"


def build(messages: int = 200, seed: int = 5, voices: bool = True) -> Device:
    """``messages`` messages over ~30 days; the first ``len(KINDS)`` cover every kind."""
    rng = random.Random(seed)
    dev = Device()
    t0 = int(datetime(2026, 9, 1, 9, tzinfo=TZ).timestamp())
    talkers = [c[0] for c in CUSTOMERS] + [c[0] for c in COLLEAGUES] + [GROUP_EXT[0], GROUP_INT[0]]
    members = {r: m for r, _, m in dev.rooms()}
    voice_cache = [_silk(rng) for _ in range(3)] if voices else []
    for i in range(messages):
        kind = KINDS[i] if i < len(KINDS) else rng.choice(("text",) * 12 + KINDS[1:19])
        talker = GROUP_EXT[0] if i < len(KINDS) and i % 3 == 0 else rng.choice(talkers)
        is_self = rng.random() < 0.45
        if talker.endswith("@chatroom"):
            sender = OWNER if is_self else rng.choice([m for m in members[talker] if m != OWNER])
        else:
            sender = OWNER if is_self else talker
        if kind in ("system", "recall", "pat"):
            is_self, sender = False, "" if kind != "pat" else sender
        t = t0 + i * (30 * 86400 // max(messages, 1)) + rng.randrange(60)
        m = WxMsg(talker, 10**18 + seed * 10**12 + i, i + 1, t, 1, 0, is_self, sender, "", kind, "")
        _fill(m, rng, i, voice_cache, dev)
        m.kind = CANONICAL.get(m.kind, m.kind)
        dev.messages.append(m)
    return dev


TEXTS = (
    "{p}的报价今天发您",
    "合同草案已更新，请查收",
    "明天上午去{c}现场看一下设备",
    "Please confirm the delivery date for {p}",
    "好的，收到[微笑]",
    "发票抬头是{c}吗？",
    "价格方面需要再和领导确认",
    "下周三安排{p}的演示",
)


def _fill(m: WxMsg, rng: random.Random, i: int, voices: list[bytes], dev: Device) -> None:
    cust = rng.choice(C.CUSTOMERS)[0]
    prod = rng.choice(C.PRODUCTS)
    k = m.kind
    md5 = hashlib.md5(f"{i}".encode()).hexdigest()
    if k == "text":
        text = rng.choice(TEXTS)
        m.content = text.format(p=prod, c=cust)
        m.key = m.content[:12]
    elif k == "image":
        data = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + hashlib.sha256(f"img{i}".encode()).digest() * 4
        data += b"\xff\xd9"
        md5 = hashlib.md5(data).hexdigest()
        m.file = (f"{md5}.jpg", data)
        m.base = 3
        m.content = (
            f'<msg><img aeskey="00" encryver="1" cdnthumburl="3057" length="{len(data)}" '
            f'md5="{md5}" cdnmidimgurl="3057"/></msg>'
        )
        m.key = ""
    elif k == "voice":
        m.base = 34
        m.voice = voices[i % len(voices)] if voices else b""
        m.transcript = "下午三点开会讨论报价"
        m.content = (
            f'<msg><voicemsg endflag="1" voiceformat="4" voicelength="{400}" '
            f'length="{len(m.voice)}" fromusername="{m.sender}"/>'
            f'<voicetrans transtext="{m.transcript}"/></msg>'
        )
        m.key = m.transcript
    elif k == "video":
        data = b"\x00\x00\x00\x18ftypmp42" + hashlib.sha256(f"video{i}".encode()).digest() * 8
        vmd5 = hashlib.md5(data).hexdigest()
        m.file = (f"{vmd5}.mp4", data)
        m.base = 43
        m.content = f'<msg><videomsg length="{len(data)}" playlength="15" md5="{vmd5}"/></msg>'
    elif k == "emotion":
        m.base = 47
        m.content = f'<msg><emoji md5="{md5}" len="45311" width="240" height="240"/></msg>'
    elif k == "location":
        m.base = 48
        m.content = (
            '<msg><location x="31.230416" y="121.473701" scale="15" '
            'label="上海市黄浦区人民大道200号" poiname="人民广场" cityname="上海市"/></msg>'
        )
        m.key = "人民广场"
    elif k == "card":
        u, n, _ = CUSTOMERS[3]
        m.base = 42
        m.content = f'<msg username="{u}" nickname="{n}" alias="" certflag="0"/>'
        m.key = n
    elif k == "link":
        title, des, url = rng.choice(C.LINKS)
        m.base, m.sub = 49, 5
        m.content = (
            f'<msg><appmsg appid="wx6618f1cfc6c132f8" sdkver="0"><title>{escape(title)}</title>'
            f"<des>{escape(des)}</des><type>5</type><url>{escape(url)}</url></appmsg>"
            "<appinfo><version>1</version><appname>云杉资讯</appname></appinfo></msg>"
        )
        m.key = url
    elif k == "file":
        name = f"报价单_{cust}.pdf"
        data = b"%PDF-1.4\n% synthetic quote for " + cust.encode() + b"\n%%EOF\n"
        m.file = (name, data)
        m.base, m.sub = 49, 6
        m.content = (
            f'<msg><appmsg appid="" sdkver="0"><title>{escape(name)}</title><type>6</type>'
            f"<appattach><totallen>{len(data)}</totallen><fileext>pdf</fileext></appattach>"
            f"<md5>{hashlib.md5(data).hexdigest()}</md5></appmsg></msg>"
        )
        m.key = name
    elif k == "weapp":
        title, _user, des = C.APPROVED_WEAPPS[0]
        m.base, m.sub = 49, 33
        m.content = (
            f'<msg><appmsg appid="" sdkver="0"><title>{title}</title><des>{des}</des>'
            f"<type>33</type><sourcedisplayname>{title}</sourcedisplayname><weappinfo>"
            f"<username>{_cd('gh_abcdef012345@app')}</username>"
            f"<appid>{_cd('wx1a2b3c4d5e6f7081')}</appid></weappinfo></appmsg></msg>"
        )
        m.key = title
    elif k == "quote":
        m.base, m.sub = 49, 57
        m.content = (
            '<msg><appmsg appid="" sdkver="0"><title>同意，按这个价格走</title><type>57</type>'
            "<refermsg><type>1</type><svrid>5012345678901234567</svrid>"
            f"<chatusr>{CUSTOMERS[0][0]}</chatusr><displayname>{CUSTOMERS[0][1]}</displayname>"
            "<content>单价能不能再降5%？</content></refermsg></appmsg></msg>"
        )
        m.key = "同意，按这个价格走"
    elif k == "chatrecord":
        inner = (
            '<recordinfo><title>聊天记录</title><datalist count="2">'
            '<dataitem datatype="1"><sourcename>李娜</sourcename>'
            "<srcMsgCreateTime>1790000000</srcMsgCreateTime><datadesc>客户名单在附件里</datadesc></dataitem>"
            '<dataitem datatype="8"><sourcename>赵强</sourcename><datatitle>customers.xlsx</datatitle>'
            "<datasize>20480</datasize></dataitem></datalist></recordinfo>"
        )
        m.base, m.sub = 49, 19
        m.content = (
            f'<msg><appmsg appid="" sdkver="0"><title>华东销售组的聊天记录</title>'
            f"<type>19</type><recorditem>{_cd(inner)}</recorditem></appmsg></msg>"
        )
        m.key = "客户名单在附件里"
    elif k == "transfer":
        fen = rng.randrange(100, 900) * 100
        m.base, m.sub = 49, 2000
        m.content = (
            '<msg><appmsg appid="" sdkver=""><title><![CDATA[微信转账]]></title><type>2000</type>'
            f"<wcpayinfo><paysubtype>1</paysubtype><feedesc>{_cd(f'￥{fen / 100:.2f}')}</feedesc>"
            f"<transferid>{_cd('100005000126')}</transferid><pay_memo>{_cd('定金')}</pay_memo>"
            f"<receiver_username>{_cd(m.talker)}</receiver_username></wcpayinfo></appmsg></msg>"
        )
        m.key = f"转账 ¥{fen / 100:.2f}"
    elif k == "redpacket":
        m.base, m.sub = 49, 2001
        m.content = (
            '<msg><appmsg appid="" sdkver=""><title>微信红包</title><type>2001</type>'
            f"<wcpayinfo><receivertitle>{_cd('恭喜发财，大吉大利')}</receivertitle></wcpayinfo>"
            "</appmsg></msg>"
        )
        m.key = "恭喜发财"
    elif k == "pat":
        m.base, m.sub = 49, 62
        m.content = (
            '<msg><appmsg appid="" sdkver="0"><title>"李娜" 拍了拍 "王磊"</title><type>62</type>'
            f"<patinfo><fromusername>{COLLEAGUES[0][0]}</fromusername></patinfo></appmsg></msg>"
        )
        m.key = "拍了拍"
    elif k == "sphfeed":
        m.base, m.sub = 49, 51
        m.content = (
            '<msg><appmsg appid="" sdkver="0"><title>视频号</title><type>51</type>'
            "<finderFeed><nickname>工业物联网观察</nickname><desc>仓储数字化案例</desc>"
            "<feedType>4</feedType></finderFeed></appmsg></msg>"
        )
        m.key = "工业物联网观察"
    elif k == "voip":
        m.base = 50
        m.content = (
            '<voipmsg type="VoIPBubbleMsg"><VoIPBubbleMsg><msg><![CDATA[通话时长 02:15]]></msg>'
            "</VoIPBubbleMsg></voipmsg><voiplocalinfo><duration>135</duration></voiplocalinfo>"
        )
    elif k == "system":
        m.base = 10000
        m.content = f'"{OWNER_NAME}"邀请"{CUSTOMERS[1][1]}"加入了群聊'
        m.key = "加入了群聊"
    elif k == "recall":
        m.base = 10002
        prior = dev.messages[0].server_id if dev.messages else 1
        m.content = (
            f'<sysmsg type="revokemsg"><revokemsg><session>{m.talker}</session>'
            f"<newmsgid>{prior}</newmsgid><replacemsg>{_cd('对方撤回了一条消息')}</replacemsg>"
            "</revokemsg></sysmsg>"
        )
    elif k == "unknown":
        m.base = 9999
        m.content = "<msg>notice</msg>"


# --------------------------------------------------------------------------- helpers


def obfuscated(data: bytes) -> bytes:
    """What the PC clients store for images: the bytes XORed with one key byte (we never
    undo this; the fixture only needs files that are *not* plaintext images)."""
    return bytes(b ^ 0x5A for b in data)


def md5hex(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _db(path: Path, ddl: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    return conn


# --------------------------------------------------------------------------- PC 3.x (§1)

PC3_MSG_DDL = """
CREATE TABLE MSG (localId INTEGER PRIMARY KEY AUTOINCREMENT, TalkerId INT DEFAULT 0, MsgSvrID INT,
  Type INT, SubType INT, IsSender INT, CreateTime INT, Sequence INT DEFAULT 0, StatusEx INT DEFAULT 0,
  FlagEx INT, Status INT, MsgServerSeq INT, MsgSequence INT, StrTalker TEXT, StrContent TEXT,
  DisplayContent TEXT, Reserved0 INT DEFAULT 0, Reserved1 INT DEFAULT 0, Reserved2 INT DEFAULT 0,
  Reserved3 INT DEFAULT 0, Reserved4 TEXT, Reserved5 TEXT, Reserved6 TEXT, CompressContent BLOB,
  BytesExtra BLOB, BytesTrans BLOB);
CREATE TABLE Name2ID (UsrName TEXT PRIMARY KEY);
CREATE TABLE DBInfo (tableIndex INTEGER PRIMARY KEY, tableVersion INT, tableDesc TEXT);
"""
PC3_MICRO_DDL = """
CREATE TABLE Contact(UserName TEXT PRIMARY KEY, Alias TEXT, EncryptUserName TEXT, DelFlag INTEGER DEFAULT 0,
  Type INTEGER DEFAULT 0, VerifyFlag INTEGER DEFAULT 0, Reserved1 INTEGER DEFAULT 0, Reserved2 INTEGER DEFAULT 0,
  Reserved3 TEXT, Reserved4 TEXT, Remark TEXT, NickName TEXT, LabelIDList TEXT, DomainList TEXT,
  ChatRoomType int, PYInitial TEXT, QuanPin TEXT, RemarkPYInitial TEXT, RemarkQuanPin TEXT,
  BigHeadImgUrl TEXT, SmallHeadImgUrl TEXT, HeadImgMd5 TEXT, ChatRoomNotify INTEGER DEFAULT 0,
  Reserved5 INTEGER DEFAULT 0, Reserved6 TEXT, Reserved7 TEXT, ExtraBuf BLOB, Reserved8 INTEGER DEFAULT 0,
  Reserved9 INTEGER DEFAULT 0, Reserved10 TEXT, Reserved11 TEXT);
CREATE TABLE ChatRoom(ChatRoomName TEXT PRIMARY KEY, UserNameList TEXT, DisplayNameList TEXT,
  ChatRoomFlag int Default 0, Owner INTEGER DEFAULT 0, IsShowName INTEGER DEFAULT 0, SelfDisplayName TEXT,
  Reserved1 INTEGER DEFAULT 0, Reserved2 TEXT, Reserved3 INTEGER DEFAULT 0, Reserved4 TEXT,
  Reserved5 INTEGER DEFAULT 0, Reserved6 TEXT, RoomData BLOB, Reserved7 INTEGER DEFAULT 0, Reserved8 TEXT);
"""
PC3_MEDIA_DDL = """
CREATE TABLE Media(Key TEXT PRIMARY KEY, Reserved0 INT, Buf BLOB, Reserved1 INT, Reserved2 TEXT);
CREATE INDEX Media_R0 ON Media(Reserved0);
"""


def write_pc3(root: Path, dev: Device, shards: int = 2) -> Path:
    """``root/<owner>/Msg/{MicroMsg.db, Multi/MSGn.db, Multi/MediaMSG0.db}`` + FileStorage."""
    import lz4.block

    from ..imports.protowire import bytes_extra, room_data

    acct = root / OWNER
    msg = acct / "Msg"
    micro = _db(msg / "MicroMsg.db", PC3_MICRO_DDL)
    micro.executemany(
        "INSERT INTO Contact (UserName, Alias, NickName, Remark, Type, Reserved1) VALUES (?,?,?,?,3,1)",
        [(u, a, n, "") for u, n, a in dev.contacts]
        + [(OFFICIAL[0], "", OFFICIAL[1], "")]
        + [(r, "", n, "") for r, n, _ in dev.rooms()],
    )
    micro.executemany(
        "INSERT INTO ChatRoom (ChatRoomName, UserNameList, Reserved2, RoomData) VALUES (?,?,?,?)",
        [(r, "^G".join(ms), ms[0], room_data([(u, "") for u in ms])) for r, _, ms in dev.rooms()],
    )
    micro.commit()
    micro.close()
    media = _db(msg / "Multi" / "MediaMSG0.db", PC3_MEDIA_DDL)
    conns = [_db(msg / "Multi" / f"MSG{i}.db", PC3_MSG_DDL) for i in range(shards)]
    per = max(1, math.ceil(len(dev.messages) / shards))
    for si, conn in enumerate(conns):
        part = dev.messages[si * per : (si + 1) * per]
        talkers = list(dict.fromkeys(m.talker for m in part))
        conn.executemany("INSERT INTO Name2ID VALUES (?)", [(t,) for t in talkers])
        conn.execute(
            "INSERT INTO DBInfo VALUES (1, ?, 'Start Time')", ((part[0].t if part else 0) * 1000,)
        )
        rows = []
        for m in part:
            items: list[tuple[int, str]] = []
            if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
                items.append((1, m.sender))
            if m.file:  # the local path is in BytesExtra item 4 (§1.9)
                name, data = m.file
                if m.base == 3:  # images are obfuscated .dat files: never attached
                    parts = ["MsgAttach", md5hex(m.talker), "Image", "2026-09", name[:-4] + ".dat"]
                    data = obfuscated(data)
                else:
                    parts = ["Video" if m.base == 43 else "File", "2026-09", name]
                items.append((4, "\\".join([OWNER, "FileStorage", *parts])))
                f = acct.joinpath("FileStorage", *parts)
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
            content, compressed = m.content, None
            if m.base == 49:
                compressed = lz4.block.compress(m.content.encode(), store_size=False)
                content = ""
            rows.append(
                (
                    m.local_id,
                    talkers.index(m.talker) + 1,
                    m.server_id,
                    m.base,
                    m.sub,
                    int(m.is_self),
                    m.t,
                    m.t * 1000,
                    m.talker,
                    content,
                    compressed,
                    bytes_extra(items) if items else None,
                )
            )
            if m.voice:
                media.execute(
                    "INSERT INTO Media VALUES (?, ?, ?, 0, '')",
                    (str(2**40 + m.local_id), m.server_id, m.voice),
                )
        conn.executemany(
            "INSERT INTO MSG (localId, TalkerId, MsgSvrID, Type, SubType, IsSender, CreateTime, "
            "Sequence, StrTalker, StrContent, CompressContent, BytesExtra) VALUES "
            "(?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )
        conn.commit()
        conn.close()
    media.commit()
    media.close()
    return acct


# --------------------------------------------------------------------------- 4.x (§2)


def _msg_table_ddl(name: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {name}(local_id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "server_id INTEGER, local_type INTEGER, sort_seq INTEGER, real_sender_id INTEGER, "
        "create_time INTEGER, status INTEGER, upload_status INTEGER, download_status INTEGER, "
        "server_seq INTEGER, origin_source INTEGER, source TEXT, message_content TEXT, "
        "compress_content TEXT, packed_info_data BLOB, WCDB_CT_message_content INTEGER DEFAULT "
        "NULL, WCDB_CT_source INTEGER DEFAULT NULL)"
    )


V4_CONTACT_DDL = """
CREATE TABLE contact(id INTEGER PRIMARY KEY, username TEXT, local_type INTEGER, alias TEXT,
  encrypt_username TEXT, flag INTEGER, delete_flag INTEGER, verify_flag INTEGER, remark TEXT,
  remark_quan_pin TEXT, remark_pin_yin_initial TEXT, nick_name TEXT, pin_yin_initial TEXT, quan_pin TEXT,
  big_head_url TEXT, small_head_url TEXT, head_img_md5 TEXT, chat_room_notify INTEGER,
  is_in_chat_room INTEGER, description TEXT, extra_buffer BLOB, chat_room_type INTEGER);
CREATE TABLE chat_room(id INTEGER PRIMARY KEY, username TEXT, owner TEXT, ext_buffer BLOB);
CREATE TABLE name2id(username TEXT PRIMARY KEY);
"""
V4_SESSION_DDL = """
CREATE TABLE SessionTable(username TEXT PRIMARY KEY, type INTEGER, unread_count INTEGER,
  unread_first_msg_srv_id INTEGER, is_hidden INTEGER, summary TEXT, draft TEXT, status INTEGER,
  last_timestamp INTEGER, sort_timestamp INTEGER, last_clear_unread_timestamp INTEGER,
  last_msg_locald_id INTEGER, last_msg_type INTEGER, last_msg_sub_type INTEGER,
  last_msg_sender TEXT, last_sender_display_name TEXT);
"""


def write_v4(root: Path, dev: Device, shards: int = 2) -> Path:
    """``root/<owner>_a1b2/db_storage/{message/message_N.db, media_0.db, contact/contact.db,
    session/session.db}`` + ``msg/file/<YYYY-MM>/<name>``."""
    import zstandard

    from ..imports.protowire import put, room_data

    acct = root / f"{OWNER}_a1b2"
    store = acct / "db_storage"
    cz = zstandard.ZstdCompressor()
    contact = _db(store / "contact" / "contact.db", V4_CONTACT_DDL)
    contact.executemany(
        "INSERT INTO contact (username, local_type, alias, remark, nick_name) VALUES (?,?,?,?,?)",
        [(u, 1, a, "", n) for u, n, a in dev.contacts]
        + [(OFFICIAL[0], 1, "", "", OFFICIAL[1])]
        + [(r, 2, "", "", n) for r, n, _ in dev.rooms()],
    )
    contact.executemany(
        "INSERT INTO chat_room (username, owner, ext_buffer) VALUES (?,?,?)",
        [(r, ms[0], room_data([(u, "") for u in ms])) for r, _, ms in dev.rooms()],
    )
    contact.commit()
    contact.close()
    sess = _db(store / "session" / "session.db", V4_SESSION_DDL)
    sess.executemany(
        "INSERT INTO SessionTable (username, type) VALUES (?, 0)",
        [(t,) for t in dict.fromkeys(m.talker for m in dev.messages)],
    )
    sess.commit()
    sess.close()
    media = _db(
        store / "message" / "media_0.db",
        "CREATE TABLE VoiceInfo(chat_name_id INTEGER, create_time INTEGER, local_id INTEGER, "
        "svr_id INTEGER, voice_data BLOB, data_index TEXT DEFAULT '0');"
        "CREATE INDEX v_svr ON VoiceInfo(svr_id);",
    )
    per = max(1, math.ceil(len(dev.messages) / shards))
    links: list[tuple[str, str]] = []  # (md5, file name on disk) for hardlink.db
    for si in range(shards):
        part = dev.messages[si * per : (si + 1) * per]
        conn = _db(
            store / "message" / f"message_{si}.db",
            "CREATE TABLE Name2Id(user_name TEXT PRIMARY KEY);"
            "CREATE TABLE TimeStamp(timestamp INTEGER);",
        )
        conn.execute("INSERT INTO TimeStamp VALUES (?)", (part[0].t if part else 0,))
        names: dict[str, int] = {}

        def nid(u: str, conn: sqlite3.Connection = conn, names: dict[str, int] = names) -> int:
            if u not in names:
                conn.execute("INSERT INTO Name2Id VALUES (?)", (u,))
                names[u] = len(names) + 1
            return names[u]

        by_table: dict[str, list[tuple[object, ...]]] = {}
        for m in part:
            table = f"Msg_{md5hex(m.talker)}"
            body = m.content
            if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
                body = f"{m.sender}:\n{body}"
            data: str | bytes = body
            if m.base != 1 or len(body) > 40:
                data = cz.compress(body.encode())
            packed = put(5, put(2, m.transcript)) if m.transcript else None
            sender = m.sender or m.talker
            by_table.setdefault(table, []).append(
                (
                    m.server_id,
                    (m.sub << 32) | m.base,
                    m.t * 1000,
                    nid(sender),
                    m.t,
                    2 if m.is_self else 4,
                    data,
                    packed,
                )
            )
            if m.file:  # msg/file/<YYYY-MM>/<name>, msg/video/<YYYY-MM>/<md5>.mp4 (§2.3.1)
                name, data = m.file
                if m.base == 3:  # msg/attach/<md5(talker)>/<YYYY-MM>/Img/<md5>.dat, obfuscated
                    f = (
                        acct
                        / "msg"
                        / "attach"
                        / md5hex(m.talker)
                        / "2026-09"
                        / "Img"
                        / (name[:-4] + ".dat")
                    )
                    data = obfuscated(data)
                elif m.base == 43:
                    f = acct / "msg" / "video" / "2026-09" / name
                else:  # renamed on a name clash: only hardlink.db knows where it is
                    disk = f"{Path(name).stem}(1){Path(name).suffix}"
                    f = acct / "msg" / "file" / "2026-09" / disk
                    links.append((hashlib.md5(data).hexdigest(), disk))
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
            if m.voice:
                media.execute(
                    "INSERT INTO VoiceInfo VALUES (0, ?, ?, ?, ?, '0')",
                    (m.t, m.local_id, m.server_id, m.voice),
                )
        for table, rows in by_table.items():
            conn.execute(_msg_table_ddl(table))
            conn.executemany(
                f"INSERT INTO {table} (server_id, local_type, sort_seq, real_sender_id, "
                "create_time, status, message_content, packed_info_data) VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
        conn.commit()
        conn.close()
    hard = _db(
        store / "hardlink" / "hardlink.db",
        "CREATE TABLE file_hardlink_info_v3(md5_hash INTEGER, md5 TEXT, type INTEGER, "
        "file_name TEXT, file_size INTEGER, modify_time INTEGER, dir1 INTEGER, dir2 INTEGER, "
        "_rowid_ INTEGER PRIMARY KEY, extra_buffer BLOB);"
        "CREATE TABLE dir2id(username TEXT PRIMARY KEY);",
    )
    hard.execute("INSERT INTO dir2id VALUES ('2026-09')")
    hard.executemany(
        "INSERT INTO file_hardlink_info_v3 (md5, file_name, dir1, dir2) VALUES (?, ?, 1, 0)",
        links,
    )
    hard.commit()
    hard.close()
    media.commit()
    media.close()
    return acct


# --------------------------------------------------------------------------- Android (§3)

ANDROID_DDL = """
CREATE TABLE message (msgId INTEGER PRIMARY KEY, msgSvrId INTEGER, type INT, status INT, isSend INT,
  isShowTimer INTEGER, createTime INTEGER, talker TEXT, content TEXT, imgPath TEXT, reserved TEXT,
  lvbuffer BLOB, transContent TEXT, transBrandWording TEXT, talkerId INTEGER, bizClientMsgId TEXT,
  bizChatId INTEGER DEFAULT -1, bizChatUserId TEXT, msgSeq INTEGER, flag INT);
CREATE TABLE rcontact (username TEXT PRIMARY KEY, alias TEXT, conRemark TEXT, domainList TEXT,
  nickname TEXT, pyInitial TEXT, quanPin TEXT, showHead INTEGER, type INT, weiboFlag INT,
  weiboNickname TEXT, conRemarkPYFull TEXT, conRemarkPYShort TEXT, lvbuff BLOB, verifyFlag INT,
  encryptUsername TEXT, chatroomFlag INT, deleteFlag INT, contactLabelIds TEXT);
CREATE TABLE chatroom (chatroomname TEXT PRIMARY KEY, addtime INTEGER, memberlist TEXT,
  displayname TEXT, chatroomnick TEXT, roomflag INTEGER, roomowner TEXT, roomdata BLOB);
CREATE TABLE userinfo (id INTEGER PRIMARY KEY, type INT, value TEXT);
CREATE TABLE ImgInfo2 (id INTEGER PRIMARY KEY, msgSvrId INTEGER, offset INT, totalLen INT,
  bigImgPath TEXT, thumbImgPath TEXT, createtime INT, msglocalid INT, status INT);
"""
# Android app-message types carry a tag in the top byte (spec §4.4).
ANDROID_APP_TYPES = {2000: 419430449, 2001: 436207665, 57: 822083633, 6: 1090519089}


def write_android(root: Path, dev: Device) -> Path:
    path = root / "EnMicroMsg.db"
    conn = _db(path, ANDROID_DDL)
    conn.executemany(
        "INSERT INTO userinfo (id, type, value) VALUES (?, 3, ?)", [(2, OWNER), (4, OWNER_NAME)]
    )
    conn.executemany(
        "INSERT INTO rcontact (username, alias, conRemark, nickname, type) VALUES (?,?,?,?,3)",
        [(u, a, "", n) for u, n, a in dev.contacts] + [(r, "", "", n) for r, n, _ in dev.rooms()],
    )
    conn.executemany(
        "INSERT INTO chatroom (chatroomname, memberlist, roomowner) VALUES (?,?,?)",
        [(r, ";".join(ms), ms[0]) for r, _, ms in dev.rooms()],
    )
    rows = []
    for m in dev.messages:
        body = m.content
        if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
            body = f"{m.sender}:\n{body}"
        typ = ANDROID_APP_TYPES.get(m.sub, 49) if m.base == 49 else m.base
        img = ""
        if m.file and m.base == 3:  # HD image: ImgInfo2.bigImgPath under image2/ (§3.2, §5.4)
            name, data = m.file
            big = name[:-4] + ".jpg"
            img = f"THUMBNAIL_DIRPATH://th_{name[:-4]}"
            f = root / "image2" / big[:2] / big[2:4] / big
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(data)
            conn.execute(
                "INSERT INTO ImgInfo2 (msgSvrId, bigImgPath) VALUES (?, ?)", (m.server_id, big)
            )
        if m.file and m.base == 43:  # video/<imgPath>.mp4
            img = f"vid{m.local_id:06d}"
            f = root / "video" / f"{img}.mp4"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(m.file[1])
        if m.voice:  # voice2/<h[0:2]>/<h[2:4]>/msg_<imgPath>.amr beside the database
            img = f"{m.local_id:04d}1790{m.server_id % 10**8:08d}"
            h = md5hex(img)
            f = root / "voice2" / h[:2] / h[2:4] / f"msg_{img}.amr"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(m.voice)
        rows.append((m.local_id, m.server_id, typ, int(m.is_self), m.t * 1000, m.talker, body, img))
    conn.executemany(
        "INSERT INTO message (msgId, msgSvrId, type, isSend, createTime, talker, content, "
        "imgPath) VALUES (?,?,?,?,?,?,?,?)",
        rows,
    )
    conn.commit()
    conn.close()
    return path


# --------------------------------------------------------------------------- iOS (§7)


def write_ios(root: Path, dev: Device) -> Path:
    """An unencrypted iTunes/Finder backup: ``Manifest.db`` + hashed files."""
    from ..imports.protowire import put

    root.mkdir(parents=True, exist_ok=True)
    domain = "AppDomain-com.tencent.xin"
    base = f"Documents/{md5hex(OWNER)}/DB"
    files: dict[str, Path] = {}

    def place(rel: str) -> Path:
        fid = hashlib.sha1(f"{domain}-{rel}".encode()).hexdigest()
        p = root / fid[:2] / fid
        p.parent.mkdir(parents=True, exist_ok=True)
        files[rel] = p
        return p

    mm = _db(place(f"{base}/MM.sqlite"), "CREATE TABLE Hello2(MesLocalID INTEGER);")
    mm.close()
    msgdb = _db(place(f"{base}/message_1.sqlite"), "")
    for talker in dict.fromkeys(m.talker for m in dev.messages):
        msgdb.execute(
            f"CREATE TABLE Chat_{md5hex(talker)}(TableVer INTEGER DEFAULT 1, MesLocalID INTEGER "
            "PRIMARY KEY AUTOINCREMENT, MesSvrID INTEGER DEFAULT 0, CreateTime INTEGER DEFAULT 0, "
            "Message TEXT, Status INTEGER DEFAULT 0, ImgStatus INTEGER DEFAULT 0, Type INTEGER, "
            "Des INTEGER)"
        )
    for m in dev.messages:
        body = m.content
        if m.talker.endswith("@chatroom") and not m.is_self and m.sender:
            body = f"{m.sender}:\n{body}"
        msgdb.execute(
            f"INSERT INTO Chat_{md5hex(m.talker)} (MesLocalID, MesSvrID, CreateTime, Message, "
            "Type, Des) VALUES (?,?,?,?,?,?)",
            (m.local_id, m.server_id, m.t, body, m.base, 0 if m.is_self else 1),
        )
        if m.file and m.base in (3, 43):  # Img/<md5(talker)>/<id>.pic, Video/…/<id>.mp4 (§5.4)
            folder, ext = ("Img", "pic") if m.base == 3 else ("Video", "mp4")
            rel = f"Documents/{md5hex(OWNER)}/{folder}/{md5hex(m.talker)}/{m.local_id}.{ext}"
            place(rel).write_bytes(m.file[1])
        if m.voice:  # Documents/<md5(owner)>/Audio/<md5(talker)>/<MesLocalID>.aud
            rel = f"Documents/{md5hex(OWNER)}/Audio/{md5hex(m.talker)}/{m.local_id}.aud"
            place(rel).write_bytes(m.voice)
    msgdb.commit()
    msgdb.close()
    contact = _db(
        place(f"{base}/WCDB_Contact.sqlite"),
        "CREATE TABLE Friend(userName TEXT PRIMARY KEY, type INTEGER, certificationFlag INTEGER, "
        "imgStatus INTEGER, encodeUserName TEXT, dbContactLocal BLOB, dbContactOther BLOB, "
        "dbContactRemark BLOB, dbContactHeadImage BLOB, dbContactProfile BLOB, "
        "dbContactSocial BLOB, dbContactChatRoom BLOB, dbContactBrand BLOB);",
    )
    rows: list[tuple[str, bytes, bytes | None]] = []
    for u, n, a in dev.contacts:
        rows.append((u, put(1, n) + put(2, a), None))
    for r, n, ms in dev.rooms():
        xml = (
            "<RoomData>" + "".join(f'<Member UserName="{x}"></Member>' for x in ms) + "</RoomData>"
        )
        rows.append((r, put(1, n), put(6, xml)))
    contact.executemany(
        "INSERT INTO Friend (userName, type, dbContactRemark, dbContactChatRoom) "
        "VALUES (?, 1, ?, ?)",
        rows,
    )
    contact.commit()
    contact.close()
    man = _db(
        root / "Manifest.db",
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, "
        "flags INTEGER, file BLOB);",
    )
    man.executemany(
        "INSERT INTO Files VALUES (?, ?, ?, 1, NULL)",
        [(p.name, domain, rel) for rel, p in files.items()],
    )
    man.commit()
    man.close()
    return root


# --------------------------------------------------------------------------- tool exports (§6)


def _when(m: WxMsg) -> str:
    return datetime.fromtimestamp(m.t, TZ).strftime("%Y-%m-%d %H:%M:%S")


def _name(u: str) -> str:
    for x, n, _ in [(OWNER, OWNER_NAME, ""), *COLLEAGUES, *CUSTOMERS]:
        if x == u:
            return n
    return u


def write_chatlog_json(path: Path, dev: Device) -> Path:
    """chatlog ``GET /api/v1/chatlog?format=json`` (§6.3): a bare array."""
    out = []
    seen: dict[int, int] = {}
    for m in dev.messages:
        n = seen[m.t] = seen.get(m.t, -1) + 1
        sender = m.sender or ("系统消息" if m.base == 10000 else "")
        out.append(
            {
                "seq": m.t * 1000 + n,
                "time": datetime.fromtimestamp(m.t, TZ).isoformat(),
                "talker": m.talker,
                "talkerName": _name(m.talker),
                "isChatRoom": m.talker.endswith("@chatroom"),
                "sender": sender,
                "senderName": _name(sender),
                "isSelf": m.is_self,
                "type": m.base,
                "subType": m.sub,
                "content": _plain(m),
                "contents": _contents(m),
            }
        )
    path.write_text(json.dumps(out, ensure_ascii=False), "utf-8")
    return path


def _plain(m: WxMsg) -> str:
    """A tool's plain-text rendering of one message (what exports without XML carry)."""
    from ..imports.appmsg import payload_of
    from ..textview import text_view

    if m.base == 1:
        return m.content
    try:
        return text_view(payload_of(m.base, m.sub, m.content)) or f"[{m.kind}]"
    except ValueError:
        return f"[{m.kind}]"


def _contents(m: WxMsg) -> dict[str, object]:
    if m.kind == "file" and m.file:
        return {"title": m.file[0], "md5": hashlib.md5(m.file[1]).hexdigest()}
    if m.kind == "link":
        return {"title": m.key, "url": m.key}
    return {}


PYWXDUMP_TYPES = {
    1: "文本",
    3: "图片",
    34: "语音",
    43: "视频",
    47: "动画表情",
    48: "位置",
    42: "名片",
    50: "语音通话",
    10000: "系统通知",
    10002: "撤回消息",
}
PYWXDUMP_APP = {
    5: "卡片式链接",
    6: "文件",
    33: "小程序",
    57: "引用回复",
    19: "合并转发聊天记录",
    2000: "转账",
    2001: "红包",
    62: "拍一拍",
    51: "视频号",
}


def _pywx(m: WxMsg, i: int) -> dict[str, object]:
    name = PYWXDUMP_APP.get(m.sub, "未知") if m.base == 49 else PYWXDUMP_TYPES.get(m.base, "未知")
    return {
        "id": i,
        "MsgSvrID": str(m.server_id),
        "type_name": name,
        "is_sender": int(m.is_self),
        "talker": m.sender or m.talker,
        "room_name": m.talker,
        "msg": _plain(m),
        "src": "",
        "extra": {},
        "CreateTime": _when(m),
    }


def write_pywxdump_json(path: Path, dev: Device) -> Path:
    path.write_text(
        json.dumps([_pywx(m, i) for i, m in enumerate(dev.messages, 1)], ensure_ascii=False),
        "utf-8",
    )
    return path


PYWXDUMP_CSV = ("id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg",
                "src", "CreateTime")  # fmt: skip


def write_pywxdump_csv(path: Path, dev: Device) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=PYWXDUMP_CSV, extrasaction="ignore")
    w.writeheader()
    for i, m in enumerate(dev.messages, 1):
        w.writerow(_pywx(m, i))
    path.write_text(buf.getvalue(), "utf-8")
    return path


def _talker_msgs(dev: Device, talker: str) -> list[WxMsg]:
    return [m for m in dev.messages if m.talker == talker]


def write_wechatmsg_csv(path: Path, dev: Device, talker: str) -> Path:
    """WeChatMsg legacy CSV (§6.1): UTF-8 with BOM, one conversation per file."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "localId",
            "TalkerId",
            "Type",
            "SubType",
            "IsSender",
            "CreateTime",
            "Status",
            "StrContent",
            "StrTime",
            "Remark",
            "NickName",
            "Sender",
        ]
    )
    for m in _talker_msgs(dev, talker):
        body = m.content if m.base in (1, 10000) else _plain(m)
        w.writerow(
            [
                m.local_id,
                1,
                m.base,
                m.sub,
                int(m.is_self),
                m.t,
                2,
                body,
                _when(m),
                "",
                _name(m.sender),
                m.sender,
            ]
        )
    path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
    return path


def write_wechatmsg_txt(path: Path, dev: Device, talker: str) -> Path:
    """WeChatMsg TXT (§6.1): ``<time> <name>\\n<content>\\n\\n`` per message."""
    parts = [
        f"{_when(m)} {_name(m.sender) if m.sender else ''}\n{_plain(m)}\n\n"
        for m in _talker_msgs(dev, talker)
    ]
    path.write_text("".join(parts), "utf-8")
    return path


def write_wechatmsg_html(path: Path, dev: Device, talker: str) -> Path:
    """WeChatMsg HTML (§6.1): a page whose script holds one object per message."""
    objs = []
    for m in _talker_msgs(dev, talker):
        objs.append(
            {
                "type": m.base,
                "sub_type": m.sub,
                "text": _plain(m),
                "is_send": int(m.is_self),
                "timestamp": m.t,
                "is_chatroom": int(m.talker.endswith("@chatroom")),
                "displayname": _name(m.sender),
                "avatar_path": "",
            }
        )
    page = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f'{escape(_name(talker))}</title></head><body><div id="chat"></div><script>\n'
        f"const chatMessages = {json.dumps(objs, ensure_ascii=False)};\n"
        "</script></body></html>"
    )
    path.write_text(page, "utf-8")
    return path


__all__ = ["Device", "WxMsg", "build"]
