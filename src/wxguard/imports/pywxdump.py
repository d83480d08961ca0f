"""PyWxDump JSON and CSV exports (spec §6.2). They keep ``MsgSvrID``, so a message has the
same id as a database import of the same account."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .common import (
    Account,
    Item,
    Quarantined,
    Unit,
    as_int,
    as_text,
)
from .rendered import (
    export_unit,
    local_time_ms,
    owner_from_path,
    read_csv,
    read_export,
    rendered_row,
)
from .sqlitedb import ImportFileError

PYWXDUMP_TYPES: dict[str, tuple[int, int]] = {
    "文本": (1, 0),
    "图片": (3, 0),
    "语音": (34, 0),
    "视频": (43, 0),
    "动画表情": (47, 0),
    "位置": (48, 0),
    "名片": (42, 0),
    "语音通话": (50, 0),
    "系统通知": (10000, 0),
    "撤回消息": (10002, 0),
    "卡片式链接": (49, 5),
    "文件": (49, 6),
    "小程序": (49, 33),
    "引用回复": (49, 57),
    "合并转发聊天记录": (49, 19),
    "转账": (49, 2000),
    "红包": (49, 2001),
    "拍一拍": (49, 62),
    "视频号": (49, 51),
}
PYWXDUMP_CSV = (
    "id",
    "MsgSvrID",
    "type_name",
    "is_sender",
    "talker",
    "room_name",
    "msg",
    "CreateTime",
)


def _pywx_row(o: dict[str, Any], loc: str, acct: Account) -> Item:
    raw = orjson.dumps(o)
    try:
        base, sub = PYWXDUMP_TYPES.get(as_text(o.get("type_name")), (0, 0))
        talker = as_text(o.get("room_name"))
        if not talker:
            raise ValueError("no room_name")
        is_self = as_int(o.get("is_sender")) == 1
        sender = as_text(o.get("talker"))
        sent_ms = local_time_ms(as_text(o.get("CreateTime")), "CreateTime")
        svr = as_int(o.get("MsgSvrID"))
        text = as_text(o.get("msg"))
    except (ValueError, TypeError) as e:
        return Quarantined(loc, f"bad PyWxDump message: {e}", raw)
    if sender in ("我", acct.owner):
        sender = ""
    return rendered_row(
        loc,
        raw,
        talker,
        sent_ms,
        base,
        sub,
        is_self,
        sender,
        text,
        key=as_text(o.get("id")),
        server_id=svr,
    )


def pywxdump_json(path: Path, owner: str, acct: Account) -> list[Unit]:
    try:
        objs = orjson.loads(read_export(path))
    except orjson.JSONDecodeError as e:
        raise ImportFileError(f"{path}: malformed JSON: {e}") from None
    if not isinstance(objs, list):
        raise ImportFileError(f"{path}: expected PyWxDump's JSON array of messages")
    acct.owner = owner or owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: cannot tell the account owner; pass --owner WXID")
    items = [
        _pywx_row(o, f"{path.name} item {i}", acct)
        if isinstance(o, dict)
        else Quarantined(f"{path.name} item {i}", "not a JSON object", orjson.dumps(o))
        for i, o in enumerate(objs, 1)
    ]
    return [export_unit(path, "pywxdump-json", items)]


def pywxdump_csv(path: Path, owner: str, acct: Account) -> list[Unit]:
    recs = read_csv(path, PYWXDUMP_CSV)
    acct.owner = owner or owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: cannot tell the account owner; pass --owner WXID")
    items = [_pywx_row(dict(r), f"{path.name} line {i}", acct) for i, r in enumerate(recs, 2)]
    return [export_unit(path, "pywxdump-csv", items)]
