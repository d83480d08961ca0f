"""The device written as the export files of common tools (spec §6): chatlog JSON,
PyWxDump JSON/CSV, WeChatMsg CSV/TXT/HTML."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from .device import (
    COLLEAGUES,
    CUSTOMERS,
    OWNER,
    OWNER_NAME,
    TZ,
    Device,
    WxMsg,
)

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
    from ...imports.appmsg import payload_of
    from ...textview import text_view

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
