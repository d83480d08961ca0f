"""The synthetic employee device: the people, the groups and every kind of message.

A fictional sales employee's device (the demo company's people, customers and groups,
generated content — no real personal data) as a list of :class:`WxMsg`; :mod:`.databases`
and :mod:`.tools` write it in each layout.
"""

from __future__ import annotations

import hashlib
import math
import random
import sqlite3
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

from .. import content as C

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
    from ...imports.silk import encode_for_fixture

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


def new_db(path: Path, ddl: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.executescript(ddl)
    return conn
