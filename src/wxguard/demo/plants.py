"""Planted risky behaviours for the demo stream, each with its ground truth.

One plant per behaviour in ``shared/DESIGN.md`` plus secrets. A plant builds a
decrypted WeCom record and names the entities it contains (entity type, the exact
string); the generator turns those into spans over the message's text view. All
identifiers are generated and carry valid check digits so validators fire on them.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import content as C

if TYPE_CHECKING:
    from .generator import Company, Person

Rec = dict[str, Any]
Items = list[tuple[str, str]]
# Items that belong to another behaviour than their plant's (a lure link a rogue bot posts)
ITEM_BEHAVIOUR = {"SUSPICIOUS_URL": "phishing_social_engineering"}
MsgId = Callable[[int, bool], str]


# --------------------------------------------------------------------------- identifiers

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_REGIONS = ("110101", "310104", "440305", "330106", "320506", "330203", "440106", "320102")


def resident_id(rng: random.Random) -> str:
    """GB 11643-1999: region(6) birth(8) sequence(3) check(1)."""
    body = (
        rng.choice(_REGIONS)
        + f"{rng.randint(1965, 2002)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        + f"{rng.randint(0, 999):03d}"
    )
    s = sum(int(c) * w for c, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[s % 11]


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(rng.choices(string.digits, k=length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


_MOBILE_PREFIXES = ("138", "139", "137", "150", "158", "186", "188", "135", "177", "199", "131")


def mobile(rng: random.Random) -> str:
    return rng.choice(_MOBILE_PREFIXES) + "".join(rng.choices(string.digits, k=8))


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_ORG_W = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc(rng: random.Random) -> str:
    """GB 32100-2015 unified social credit code, with a GB 11714 organisation code inside."""
    org = "".join(rng.choices(string.digits + "ABCDEFGHJKLMNPQRTUWXY", k=8))
    val = sum(
        (int(c) if c.isdigit() else ord(c) - 55) * w for c, w in zip(org, _ORG_W, strict=True)
    )
    c9 = 11 - val % 11
    org += "X" if c9 == 10 else ("0" if c9 == 11 else str(c9))
    body = "91" + rng.choice(_REGIONS) + org
    s = sum(_USCC_CHARS.index(c) * w for c, w in zip(body, _USCC_W, strict=True))
    return body + _USCC_CHARS[(31 - s % 31) % 31]


def _alnum(rng: random.Random, k: int, chars: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choices(chars, k=k))


# --------------------------------------------------------------------------- plants


@dataclass
class PlantContext:
    co: Company
    rng: random.Random
    fill: Callable[[str], str]

    def direct_external(self, t: int, msgid: MsgId, sender: Person | None = None) -> Rec:
        staff = sender or self.rng.choice(self.co.sales)
        cust = self.rng.choice(self.co.customers)
        return {
            "msgid": msgid(t, True), "action": "send", "from": staff.id, "tolist": [cust.id],
            "roomid": "", "msgtime": t,
        }  # fmt: skip

    def direct_internal(self, t: int, msgid: MsgId) -> Rec:
        a, b = self.rng.sample(self.co.employees, 2)
        return {
            "msgid": msgid(t, False), "action": "send", "from": a.id, "tolist": [b.id],
            "roomid": "", "msgtime": t,
        }  # fmt: skip


def _text(rec: Rec, content: str) -> Rec:
    rec["msgtype"] = "text"
    rec["text"] = {"content": content}
    return rec


@dataclass
class Plant:
    behaviour: str
    make: Callable[[PlantContext, int, MsgId], tuple[Rec, Items]]

    def build(self, ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
        return self.make(ctx, t, msgid)


def _confidential(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    rng = ctx.rng
    code = rng.choice(C.CODENAMES)
    if rng.random() < 0.5:
        marker = rng.choice(("内部资料", "机密", "严禁外传"))
        text = f"【{marker}】{code} 2027年渠道底价表先发您参考，千万别转给别人"
        return _text(ctx.direct_external(t, msgid), text), [
            ("CONFIDENTIAL_MARKER", marker),
            ("PROJECT_CODENAME", code),
        ]
    rec = ctx.direct_external(t, msgid)
    name = f"{code}_底价表_机密.xlsx"
    rec.update(msgtype="file", file={
        "md5sum": "", "filename": name, "fileext": "xlsx", "filesize": 48_213,
        "sdkfileid": base64.b64encode(rng.randbytes(60)).decode()})  # fmt: skip
    return rec, [("CONFIDENTIAL_MARKER", "机密"), ("PROJECT_CODENAME", code)]


def _transaction(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    rng = ctx.rng
    r = rng.random()
    rec = ctx.direct_external(t, msgid)
    if r < 0.34:
        amount = rng.choice((88_800, 200_000, 500_000))
        rec.update(msgtype="redpacket", redpacket={
            "type": 1, "wish": "合作愉快，一点心意", "totalcnt": 1, "totalamount": amount})  # fmt: skip
        return rec, [("RED_PACKET_TO_EXTERNAL", "合作愉快，一点心意")]
    if r < 0.67:
        phrase = "钱直接转我个人支付宝"
        return _text(rec, f"这单我私下给你便宜两万，{phrase}就行，别走公司账户"), [
            ("OFF_CHANNEL_PAYMENT", phrase)
        ]
    phrase = "我代表公司承诺明年价格保证不涨"
    return _text(rec, f"{phrase}，这个我说了算，不用等合同"), [("UNAUTHORISED_COMMITMENT", phrase)]


def _phishing(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    rng = ctx.rng
    r = rng.random()
    if r < 0.34:
        url = f"https://{C.CORP_DOMAIN}.login-verify.cn/auth?u={_alnum(rng, 8)}"
        rec = ctx.direct_internal(t, msgid)
        rec["from"] = rng.choice(ctx.co.customers).id
        rec.update(msgtype="link", link={
            "title": "企业邮箱密码即将过期", "description": "请立即点击验证以免账号被停用",
            "link_url": url, "image_url": ""})  # fmt: skip
        return rec, [("LOOKALIKE_URL", url)]
    if r < 0.67:
        cust = rng.choice(ctx.co.customers)
        staff = rng.choice(ctx.co.sales)
        phrase = "把刚收到的短信验证码发我一下"
        rec = {"msgid": msgid(t, True), "action": "send", "from": cust.id, "tolist": [staff.id],
               "roomid": "", "msgtime": t}  # fmt: skip
        return _text(rec, f"你好，系统升级需要核对身份，麻烦{phrase}"), [
            ("CREDENTIAL_REQUEST", phrase)
        ]
    imp = ctx.co.impostor
    staff = rng.choice([p for p in ctx.co.employees if p.department == "财务部"])
    rec = {"msgid": msgid(t, True), "action": "send", "from": imp.id, "tolist": [staff.id],
           "roomid": "", "msgtime": t}  # fmt: skip
    phrase = "马上给这个账户转48万"
    return _text(rec, f"我是陈总，在开会不方便接电话，{phrase}，合同稍后补"), [
        ("IMPERSONATION", "我是陈总"),
        ("URGENT_PAYMENT_REQUEST", phrase),
    ]


def _offensive(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    options = (
        ("你是不是脑子进水了，这点事都办不好", "脑子进水"),
        ("真是个废物，客户都被你搞丢了", "废物"),
        ("女的就是干不了销售，别浪费名额", "女的就是干不了销售"),
        ("Shut up, you useless idiot.", "useless idiot"),
    )
    text, match = ctx.rng.choice(options)
    return _text(ctx.direct_internal(t, msgid), text), [("OFFENSIVE", match)]


def _external_group(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    room = ctx.co.unapproved
    sender = room.members[0]
    rec = {
        "msgid": msgid(t, True),
        "action": "send",
        "from": sender,
        "tolist": [m for m in room.members if m != sender],
        "roomid": room.id,
        "msgtime": t,
    }
    return _text(rec, ctx.fill("大家好，{product}的价格在这个群里单独报，别在项目群说")), [
        ("UNAPPROVED_EXTERNAL_GROUP", "")
    ]


def _pii(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    rng = ctx.rng
    r = rng.random()
    rec = ctx.direct_external(t, msgid)
    if r < 0.25:
        rid, mob = resident_id(rng), mobile(rng)
        text = f"客户开户资料：身份证号 {rid}，手机 {mob}，麻烦尽快办理"
        return _text(rec, text), [("CN_RESIDENT_ID", rid), ("CN_MOBILE", mob)]
    if r < 0.5:
        card = luhn_complete("62", 19 if rng.random() < 0.5 else 16, rng)
        spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4))
        return _text(rec, f"退款请打到这张卡：{spaced}，户名王芳"), [("BANK_CARD", spaced)]
    if r < 0.75:
        code = uscc(rng)
        return _text(rec, f"开票信息：统一社会信用代码{code}，地址见附件"), [("CN_USCC", code)]
    passport = "E" + "".join(rng.choices(string.digits, k=8))
    mob = mobile(rng)
    evaded = f"{mob[:3]} {mob[3:7]}-{mob[7:]}"
    return _text(rec, f"同事出差护照号{passport}，联系电话 {evaded}"), [
        ("CN_PASSPORT", passport),
        ("CN_MOBILE", evaded),
    ]


def _competitor(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    comp = ctx.rng.choice(C.COMPETITORS)
    text = f"想办法搞一份{comp}给华辰的内部报价单和客户名单，多少钱都行"
    return _text(ctx.direct_external(t, msgid), text), [("COMPETITOR_INTEL", comp)]


def _ip(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    options = (
        ("谁有破解版的 AutoCAD 2024？发我一个注册机", "破解版"),
        ("客户要的那个高仿LV包，A货一比一，我这有渠道", "高仿"),
        ("盗版的 Office 激活码群里有，别花钱买", "盗版"),
    )
    text, match = ctx.rng.choice(options)
    return _text(ctx.direct_internal(t, msgid), text), [("IP_VIOLATION", match)]


def _unvetted_app(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    rng = ctx.rng
    if rng.random() < 0.6:
        user = "wx" + _alnum(rng, 16, "0123456789abcdef") + "@app"
        rec = ctx.direct_external(t, msgid)
        rec.update(msgtype="weapp", weapp={
            "title": "领取专属返利", "description": "下单立返30%", "username": user,
            "displayname": "极速返利"})  # fmt: skip
        return rec, [("UNVETTED_MINIPROGRAM", user)]
    bot = ctx.co.rogue_bot
    room = rng.choice(ctx.co.rooms[3:-1])
    link = "https://fanli-bot.cn/r/8823"
    rec = {"msgid": msgid(t, True), "action": "send", "from": bot.id, "tolist": room.members,
           "roomid": room.id, "msgtime": t, "msgtype": "markdown",
           "info": {"content": f"点击领取返利红包 {link}"}}  # fmt: skip
    # the bot's rebate link is a lure too: a phishing item beside the unvetted bot
    return rec, [("UNVETTED_BOT", bot.id), ("SUSPICIOUS_URL", link)]


def _secret(ctx: PlantContext, t: int, msgid: MsgId) -> tuple[Rec, Items]:
    rng = ctx.rng
    upper = string.ascii_uppercase + "234567"
    options: list[tuple[str, str, str]] = [
        ("AWS_ACCESS_KEY", "AKIA" + _alnum(rng, 16, upper), "测试环境的key：{}，用完记得删"),
        ("GITHUB_TOKEN", "ghp_" + _alnum(rng, 36), "CI 用这个 token：{}"),
        ("OPENAI_KEY", "sk-" + _alnum(rng, 48), "API key 先用我的 {}"),
        ("PASSWORD", _alnum(rng, 3) + "#" + _alnum(rng, 6) + "!", "服务器root密码是 {} 别外传"),
        ("WECOM_SECRET", _alnum(rng, 43, string.ascii_letters + string.digits + "-_"),
         "企业微信存档 corpsecret={}"),
        ("PRIVATE_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\n"
         + base64.b64encode(rng.randbytes(120)).decode() + "\n-----END OPENSSH PRIVATE KEY-----",
         "私钥贴这了\n{}"),
    ]  # fmt: skip
    entity, value, template = rng.choice(options)
    return _text(ctx.direct_internal(t, msgid), template.format(value)), [(entity, value)]


PLANTS: list[Plant] = [
    Plant("confidential_information", _confidential),
    Plant("unauthorised_transaction", _transaction),
    Plant("phishing_social_engineering", _phishing),
    Plant("offensive_content", _offensive),
    Plant("unauthorised_external_group", _external_group),
    Plant("personal_information", _pii),
    Plant("competitor_research", _competitor),
    Plant("ip_violation", _ip),
    Plant("unverified_third_party", _unvetted_app),
    Plant("secrets", _secret),
]
BEHAVIOURS = [p.behaviour for p in PLANTS]
