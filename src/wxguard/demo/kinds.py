"""Builders for every non-text WeCom msgtype in the demo stream (specs §2.2 shapes)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from . import content as C

if TYPE_CHECKING:
    from .generator import Generator, Person

Out = tuple[str, str, Any]


def _sdkfileid(g: Generator) -> str:
    return base64.b64encode(g.rng.randbytes(96)).decode()


def _md5(g: Generator) -> str:
    return hashlib.md5(g.rng.randbytes(8), usedforsecurity=False).hexdigest()


def _media(
    g: Generator, size_key: str = "filesize", lo: int = 20_000, hi: int = 3_000_000
) -> dict[str, Any]:
    return {"md5sum": _md5(g), size_key: g.rng.randint(lo, hi), "sdkfileid": _sdkfileid(g)}


def image(g: Generator, s: Person) -> Out:
    return "image", "image", _media(g)


def voice(g: Generator, s: Person) -> Out:
    m = _media(g, "voice_size", 2_000, 60_000)
    m["play_length"] = g.rng.randint(1, 59)
    return "voice", "voice", m


def video(g: Generator, s: Person) -> Out:
    m = _media(g, "filesize", 500_000, 40_000_000)
    m["play_length"] = g.rng.randint(5, 300)
    return "video", "video", m


def emotion(g: Generator, s: Person) -> Out:
    m = _media(g, "imagesize", 5_000, 900_000)
    m.update(type=g.rng.choice((1, 2)), width=240, height=240)
    return "emotion", "emotion", m


def file(g: Generator, s: Person) -> Out:
    name, ext = g.rng.choice(C.FILES)
    m = _media(g, "filesize", 10_000, 8_000_000)
    m.update(filename=g._fill(name), fileext=ext)
    return "file", "file", m


def link(g: Generator, s: Person) -> Out:
    title, desc, url = g.rng.choice(C.LINKS)
    return "link", "link", {
        "title": title, "description": desc, "link_url": url,
        "image_url": "https://www.yunshan-tech.com/static/share.png",
    }  # fmt: skip


def weapp(g: Generator, s: Person) -> Out:
    name, user, title = g.rng.choice(C.APPROVED_WEAPPS)
    return "weapp", "weapp", {
        "title": title, "description": name, "username": user, "displayname": name,
    }  # fmt: skip


def redpacket(g: Generator, s: Person) -> Out:
    return "redpacket", "redpacket", {
        "type": g.rng.choice((1, 2)), "wish": g.rng.choice(C.STICKERS_WISHES),
        "totalcnt": g.rng.randint(1, 10), "totalamount": g.rng.randint(1, 20) * 100,
    }  # fmt: skip


def external_redpacket(g: Generator, s: Person) -> Out:
    key = "redpacket" if g.rng.random() < 0.7 else "external_redpacket"  # §2.2.28 either key
    return "external_redpacket", key, {
        "type": 1, "wish": "恭喜发财，大吉大利", "totalcnt": 2, "totalamount": g.rng.randint(1, 50) * 10,
    }  # fmt: skip


def location(g: Generator, s: Person) -> Out:
    city = g.rng.choice(C.CITIES)
    return "location", "location", {
        "longitude": round(120 + g.rng.random() * 2, 6), "latitude": round(30 + g.rng.random(), 6),
        "address": f"{city}市高新区创新路{g.rng.randint(1, 300)}号", "title": f"{city}客户现场",
        "zoom": 15,
    }  # fmt: skip


def card(g: Generator, s: Person) -> Out:
    p = g.rng.choice(g.co.employees)
    return "card", "card", {"corpname": C.COMPANY, "userid": p.id}


def chatrecord(g: Generator, s: Person) -> Out:
    items = []
    for _ in range(g.rng.randint(2, 4)):
        items.append({
            "type": "ChatRecordText", "msgtime": 1_790_784_000 + g.rng.randint(0, 2_000_000),
            "content": orjson.dumps({"content": g._fill(g.rng.choice(C.INTERNAL_TEXT))}).decode(),
            "from_chatroom": g.rng.random() < 0.5,
        })  # fmt: skip
    items.append({
        "type": "ChatRecordFile", "msgtime": 1_790_784_000 + g.rng.randint(0, 2_000_000),
        "content": orjson.dumps({"filename": "设备清单.xlsx", "filesize": 18_181, "md5sum": _md5(g),
                                 "sdkfileid": _sdkfileid(g)}).decode(),
        "from_chatroom": False,
    })  # fmt: skip
    return "chatrecord", "chatrecord", {"title": "群聊的聊天记录", "item": items}


def meeting(g: Generator, s: Person) -> Out:
    start = 1_790_784_000 + g.rng.randint(0, 2_500_000)
    return "meeting", "meeting", {
        "topic": g._fill("{customer}项目周会"), "starttime": start, "endtime": start + 3600,
        "address": "", "remarks": "", "meetingtype": 101, "meetingid": g.rng.randint(10**9, 10**10),
        "status": 1,
    }  # fmt: skip


def meeting_notification(g: Generator, s: Person) -> Out:
    return "meeting_notification", "info", {
        "content": f"{s.name}加入了会议", "meeting_id": g.rng.randint(10**9, 10**10),
        "notification_type": 1,
    }  # fmt: skip


def docmsg(g: Generator, s: Person) -> Out:
    return "docmsg", "doc", {
        "title": g._fill("{customer}需求跟踪表"), "doc_creator": s.id,
        "link_url": "https://doc.weixin.qq.com/sheet/demo" + str(g.rng.randint(1000, 9999)),
    }  # fmt: skip


def markdown(g: Generator, s: Person) -> Out:
    return (
        "markdown",
        "info",
        {
            "content": f"**今日工单** 新增 {g.rng.randint(1, 30)} 条，待处理 {g.rng.randint(0, 9)} 条"
        },
    )


def news(g: Generator, s: Person) -> Out:
    title, desc, url = g.rng.choice(C.LINKS)
    return "news", "info", {"item": [{
        "title": title, "description": desc, "url": url,
        "picurl": "https://www.yunshan-tech.com/static/news.jpg",
    }]}  # fmt: skip


def calendar(g: Generator, s: Person) -> Out:
    start = 1_790_784_000 + g.rng.randint(0, 2_500_000)
    return "calendar", "calendar", {
        "title": "季度业绩复盘会", "creatorname": s.name,
        "attendeename": [p.name for p in g.rng.sample(g.co.employees, 3)],
        "starttime": start, "endtime": start + 5400, "place": "3楼大会议室", "remarks": "",
    }  # fmt: skip


def mixed(g: Generator, s: Person) -> Out:
    return "mixed", "mixed", {"item": [
        {"type": "text", "content": orjson.dumps({"content": "现场照片如下[微笑]\n"}).decode()},
        {"type": "image", "content": orjson.dumps(_media(g)).decode()},
    ]}  # fmt: skip


def voiptext(g: Generator, s: Person) -> Out:
    return (
        "voiptext",
        "info",
        {"callduration": g.rng.randint(5, 1800), "invitetype": g.rng.choice((1, 2))},
    )


def meeting_voice_call(g: Generator, s: Person) -> Out:
    end = 1_790_784_000 + g.rng.randint(0, 2_500_000)
    return "meeting_voice_call", "meeting_voice_call", {
        "endtime": end, "sdkfileid": _sdkfileid(g),
        "demofiledata": [{"filename": g._fill("实施方案_{product}.pptx"), "demooperator": s.id,
                          "starttime": end - 600, "endtime": end - 300}],
        "sharescreendata": [{"share": s.id, "starttime": end - 200, "endtime": end - 100}],
    }  # fmt: skip


def voip_doc_share(g: Generator, s: Person) -> Out:
    m = _media(g, "filesize", 10_000, 5_000_000)
    m["filename"] = "产品手册.pdf"
    return "voip_doc_share", "voip_doc_share", m


def sphfeed(g: Generator, s: Person) -> Out:
    return "sphfeed", "sphfeed", {
        "feed_type": 4, "sph_name": "云杉智能", "feed_desc": "工业物联网三分钟看懂 #智能制造",
    }  # fmt: skip


def qydiskfile(g: Generator, s: Person) -> Out:
    return "qydiskfile", "info", {"filename": "2026年度渠道政策.pdf"}


def todo(g: Generator, s: Person) -> Out:
    return "todo", "todo", {"title": "来自群聊", "content": g._fill("周五前给{customer}回复报价")}


def vote(g: Generator, s: Person) -> Out:
    payload = {"votetitle": "团建地点投票", "voteitem": ["莫干山", "千岛湖", "苏州园林"],
               "votetype": 101, "voteid": str(g.rng.randint(10**9, 10**10))}  # fmt: skip
    if g.rng.random() < 0.5:  # §2.2.15: some producers put vote fields at top level
        return "vote", "__top__", payload
    return "vote", "vote", payload


def collect(g: Generator, s: Person) -> Out:
    return "collect", "collect", {
        "room_name": "销售周会群", "creator": s.name, "create_time": "2026-10-12 10:21:22",
        "title": "展会人员报名",
        "details": [{"id": 1, "ques": "姓名", "type": "Text"}, {"id": 2, "ques": "到达日期", "type": "Date"}],
    }  # fmt: skip


KIND_BUILDERS: dict[str, Callable[[Generator, Person], Out]] = {
    f.__name__: f
    for f in (
        image, voice, video, emotion, file, link, weapp, redpacket, external_redpacket, location,
        card, chatrecord, meeting, meeting_notification, docmsg, markdown, news, calendar, mixed,
        voiptext, meeting_voice_call, voip_doc_share, sphfeed, qydiskfile, todo, vote, collect,
    )
}  # fmt: skip

ORDINARY_KINDS: list[str] = (
    ["image"] * 12 + ["file"] * 6 + ["voice"] * 5 + ["emotion"] * 5 + ["link"] * 3
    + ["video"] * 2 + ["location"] * 2 + ["redpacket", "card", "chatrecord", "meeting", "docmsg",
    "calendar", "mixed", "voiptext", "news", "weapp", "todo", "vote", "collect", "sphfeed",
    "qydiskfile", "meeting_voice_call", "voip_doc_share", "meeting_notification"]
)  # fmt: skip
