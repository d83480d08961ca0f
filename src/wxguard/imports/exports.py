"""Export files of common tools (spec §6): chatlog JSON (file or a running chatlog's HTTP
API), PyWxDump JSON/CSV, WeChatMsg (留痕) CSV/TXT/HTML.

These carry a *rendering* of each message, not the client's XML: we keep the tool's text
and map its type to our kinds (:func:`rendered_payload`). Each file is read and checked
whole (size limit, encoding, structure) before anything is committed; a bad row is
quarantined with its line or item number.

Identity: PyWxDump keeps ``MsgSvrID`` → the same message id as a database import of the
same account. chatlog and WeChatMsg have no server id: a message is keyed by conversation,
time and a digest of sender + text, so re-imports dedupe.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from ..model import (
    AnyPayload,
    Attachment,
    Card,
    ChatRecord,
    Emotion,
    File,
    Image,
    Link,
    Location,
    RedPacket,
    SphFeed,
    System,
    Text,
    Transfer,
    Unknown,
    Video,
    Voice,
    VoipText,
    Weapp,
)
from .appmsg import yuan_to_fen
from .common import (
    Account,
    Item,
    Quarantined,
    Row,
    RowReader,
    Unit,
    as_int,
    as_text,
    file_head,
)
from .sqlitedb import ImportFileError

MAX_EXPORT = 512 << 20  # bytes of one export file (they are parsed whole)
CHINA = timezone(timedelta(hours=8))  # tools write local time without a zone; WeChat is UTC+8


def _read(path: Path) -> str:
    size = path.stat().st_size
    if size > MAX_EXPORT:
        raise ImportFileError(
            f"{path}: {size:,} bytes exceeds the {MAX_EXPORT >> 20} MiB limit for one export "
            "file (exports are parsed whole); split it or import the databases instead"
        )
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        hint = ""
        try:
            data.decode("gb18030")
            hint = " (it decodes as GB18030: re-save it as UTF-8)"
        except UnicodeDecodeError:
            pass
        raise ImportFileError(f"{path}: not UTF-8 at byte {e.start}{hint}") from None


def _coordinate(v: object) -> float:
    try:
        return float(v) if isinstance(v, int | float | str) and v != "" else 0.0
    except ValueError:
        return 0.0


def rendered_payload(
    base: int, sub: int, text: str, extra: dict[str, Any] | None = None
) -> AnyPayload:
    """Our kind for a tool's (type, sub-type, rendered text)."""
    x = extra or {}
    title = as_text(x.get("title")) or text
    match base, sub:
        case (1, _):
            return Text(content=text)
        case (3, _):
            return Image(attachment=Attachment(md5=as_text(x.get("md5"))))
        case (34, _):
            return Voice(attachment=Attachment(), transcript=text)
        case (43, _) | (62, _):
            return Video(attachment=Attachment(md5=as_text(x.get("md5"))))
        case (47, _):
            return Emotion(attachment=Attachment())
        case (48, _):
            return Location(
                address=as_text(x.get("label")) or text,
                latitude=_coordinate(x.get("x")),
                longitude=_coordinate(x.get("y")),
            )
        case (42, _) | (66, _):
            return Card(name=text)
        case (49, 6) | (49, 74):
            return File(attachment=Attachment(name=title, md5=as_text(x.get("md5"))))
        case (49, 33) | (49, 36):
            return Weapp(title=title)
        case (49, 19):
            return ChatRecord(title=title)
        case (49, 2000):
            return Transfer(amount_fen=yuan_to_fen(text), memo=text)
        case (49, 2001) | (49, 2003):
            return RedPacket(packet_type=1, wish=text)
        case (49, 62):
            return System(content=text, event="pat")
        case (49, 51) | (49, 63):
            return SphFeed(description=text)
        case (49, 3) | (49, 4) | (49, 5) | (49, 68) | (49, 76) | (49, 92):
            return Link(title=title, url=as_text(x.get("url")), description=as_text(x.get("desc")))
        case (50, _):
            return VoipText()
        case (10000, _) | (10002, _):
            return System(content=text)
        case (49, _):  # an app message the tool rendered as text
            return Text(content=text)
        case _:  # as a database import would: unknown, the tool's row kept as the raw record
            return Unknown(msgtype=f"wechat:{base}/{sub}" if sub else f"wechat:{base}")


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def _local_ms(text: str, where: str) -> int:
    try:
        return int(
            datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).timestamp()
            * 1000
        )
    except ValueError:
        raise ValueError(f"{where}: bad time {text!r} (expected YYYY-MM-DD HH:MM:SS)") from None


def _rows_of(items: list[Item]) -> RowReader:
    """Rows of a file read whole; the position is the 1-based item number."""

    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for i in range(start, len(items)):
            yield i + 1, items[i]

    return rows


def _rendered(
    loc: str,
    raw: bytes,
    talker: str,
    sent_ms: int,
    base: int,
    sub: int,
    is_self: bool,
    sender: str,
    text: str,
    *,
    key: str,
    server_id: int = 0,
    contents: dict[str, Any] | None = None,
) -> Row:
    """A row of a tool export: the tool's rendering is the payload (no XML to parse)."""
    return Row(
        locator=loc,
        talker=talker,
        server_id=server_id,
        local_key=key,
        sent_ms=sent_ms,
        base=base,
        sub=sub,
        is_self=is_self,
        sender="" if is_self else sender,
        content=text,
        raw=raw,
        payload=rendered_payload(base, sub, text, contents),
    )


def _unit(path: Path, fmt: str, items: list[Item]) -> Unit:
    return Unit(
        path=path,
        stream=f"{fmt}:{path.resolve()}",
        label=path.name,
        total=len(items),
        rows=_rows_of(items),
        head=file_head(path),
    )


# --------------------------------------------------------------------------- chatlog


def chatlog_rows(objs: list[Any], where: str, acct: Account) -> list[Item]:
    out: list[Item] = []
    for i, o in enumerate(objs, 1):
        loc = f"{where} item {i}"
        raw = orjson.dumps(o)
        try:
            if not isinstance(o, dict):
                raise ValueError("not a JSON object")
            talker = as_text(o.get("talker"))
            if not talker:
                raise ValueError("no talker")
            base, sub = as_int(o.get("type")), as_int(o.get("subType"))
            is_self = bool(o.get("isSelf"))
            sender = as_text(o.get("sender"))
            if sender == "系统消息":
                sender = ""
            if is_self and sender and not acct.owner:
                acct.owner = sender
            seq = as_int(o.get("seq"))
            when = as_text(o.get("time"))
            sent_ms = (
                seq // 1000 * 1000 if seq else int(datetime.fromisoformat(when).timestamp() * 1000)
            )
            text = as_text(o.get("content"))
            contents = o.get("contents") if isinstance(o.get("contents"), dict) else {}
            names = (("talker", "talkerName"), ("sender", "senderName"))
            for k, n in names:
                if o.get(k) and o.get(n):
                    acct.names.setdefault(as_text(o[k]), as_text(o[n]))
        except (ValueError, TypeError) as e:
            out.append(Quarantined(loc, f"bad chatlog message: {e}", raw))
            continue
        out.append(
            _rendered(
                loc,
                raw,
                talker,
                sent_ms,
                base,
                sub,
                is_self,
                sender,
                text,
                key=f"seq{seq}:{_key(sender, base, sub, text)}",
                contents=contents,
            )
        )
    return out


def chatlog_file(path: Path, owner: str, acct: Account) -> list[Unit]:
    try:
        objs = orjson.loads(_read(path))
    except orjson.JSONDecodeError as e:
        raise ImportFileError(f"{path}: malformed JSON: {e}") from None
    if isinstance(objs, dict) and isinstance(objs.get("messages"), list):  # webhook body
        objs = objs["messages"]
    if not isinstance(objs, list):
        raise ImportFileError(f"{path}: expected chatlog's JSON array of messages")
    acct.owner = owner
    items = chatlog_rows(objs, path.name, acct)
    if not acct.owner:
        raise ImportFileError(f"{path}: no message of the owner to tell who it is; pass --owner")
    return [_unit(path, "chatlog", items)]


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return orjson.loads(r.read(MAX_EXPORT + 1))
    except (OSError, orjson.JSONDecodeError) as e:
        raise ImportFileError(f"{url}: chatlog did not answer with JSON: {e}") from None


def chatlog_url(url: str, owner: str, acct: Account, page: int = 1000) -> list[Unit]:
    """Pull every conversation from a running chatlog (``/api/v1/session``, then
    ``/api/v1/chatlog?time=all&talker=…`` page by page)."""
    base = url.rstrip("/")
    acct.owner = owner
    for item in (_get(f"{base}/api/v1/contact?format=json") or {}).get("items", []):
        u = as_text(item.get("userName"))
        if u:
            acct.names[u] = as_text(item.get("remark")) or as_text(item.get("nickName"))
    for room in (_get(f"{base}/api/v1/chatroom?format=json") or {}).get("items", []):
        users = [as_text(x.get("userName")) for x in room.get("users") or []]
        acct.room(as_text(room.get("name")), users, as_text(room.get("owner")))
    sessions = (_get(f"{base}/api/v1/session?format=json") or {}).get("items", [])
    units = []
    for s in sessions:
        talker = as_text(s.get("userName"))
        if not talker:
            continue
        objs: list[Any] = []
        while True:
            q = urllib.parse.urlencode(
                {
                    "time": "all",
                    "talker": talker,
                    "format": "json",
                    "limit": page,
                    "offset": len(objs),
                }
            )
            got = _get(f"{base}/api/v1/chatlog?{q}")
            if not isinstance(got, list):
                raise ImportFileError(f"{base}: chatlog answered a non-array for {talker}")
            objs.extend(got)
            if len(got) < page:
                break
        items = chatlog_rows(objs, f"{base} {talker}", acct)
        units.append(
            Unit(
                path=Path(talker),
                stream=f"chatlog:{base}#{talker}",
                label=talker,
                total=len(items),
                rows=_rows_of(items),
                head="url",
            )
        )
    if not acct.owner:
        raise ImportFileError(f"{base}: cannot tell the account owner; pass --owner WXID")
    return units


# --------------------------------------------------------------------------- PyWxDump

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


def _owner_from_path(path: Path) -> str:
    return next((p for p in reversed(path.resolve().parts) if p.startswith("wxid_")), "")


def _pywx_row(o: dict[str, Any], loc: str, acct: Account) -> Item:
    raw = orjson.dumps(o)
    try:
        base, sub = PYWXDUMP_TYPES.get(as_text(o.get("type_name")), (0, 0))
        talker = as_text(o.get("room_name"))
        if not talker:
            raise ValueError("no room_name")
        is_self = as_int(o.get("is_sender")) == 1
        sender = as_text(o.get("talker"))
        sent_ms = _local_ms(as_text(o.get("CreateTime")), "CreateTime")
        svr = as_int(o.get("MsgSvrID"))
        text = as_text(o.get("msg"))
    except (ValueError, TypeError) as e:
        return Quarantined(loc, f"bad PyWxDump message: {e}", raw)
    if sender in ("我", acct.owner):
        sender = ""
    return _rendered(
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
        objs = orjson.loads(_read(path))
    except orjson.JSONDecodeError as e:
        raise ImportFileError(f"{path}: malformed JSON: {e}") from None
    if not isinstance(objs, list):
        raise ImportFileError(f"{path}: expected PyWxDump's JSON array of messages")
    acct.owner = owner or _owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: cannot tell the account owner; pass --owner WXID")
    items = [
        _pywx_row(o, f"{path.name} item {i}", acct)
        if isinstance(o, dict)
        else Quarantined(f"{path.name} item {i}", "not a JSON object", orjson.dumps(o))
        for i, o in enumerate(objs, 1)
    ]
    return [_unit(path, "pywxdump-json", items)]


def _csv(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    text = _read(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportFileError(f"{path}: CSV header lacks {', '.join(missing)}")
    try:
        return list(reader)
    except csv.Error as e:
        raise ImportFileError(f"{path}: malformed CSV at line {reader.line_num}: {e}") from None


def pywxdump_csv(path: Path, owner: str, acct: Account) -> list[Unit]:
    recs = _csv(path, PYWXDUMP_CSV)
    acct.owner = owner or _owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: cannot tell the account owner; pass --owner WXID")
    items = [_pywx_row(dict(r), f"{path.name} line {i}", acct) for i, r in enumerate(recs, 2)]
    return [_unit(path, "pywxdump-csv", items)]


# --------------------------------------------------------------------------- WeChatMsg

WECHATMSG_CSV = ("localId", "Type", "SubType", "IsSender", "CreateTime", "StrContent", "Sender")


def _conversation(path: Path) -> str:
    stem = re.sub(r"_utf8$", "", path.stem)
    return f"wechatmsg:{stem}"


def wechatmsg_csv(path: Path, owner: str, acct: Account) -> list[Unit]:
    recs = _csv(path, WECHATMSG_CSV)
    mine = {r.get("Sender", "") for r in recs if r.get("IsSender") == "1" and r.get("Sender")}
    acct.owner = owner or _owner_from_path(path) or (mine.pop() if len(mine) == 1 else "")
    if not acct.owner:
        raise ImportFileError(f"{path}: cannot tell the account owner; pass --owner WXID")
    others = {r.get("Sender", "") for r in recs if r.get("IsSender") == "0" and r.get("Sender")}
    talker = next(iter(others)) if len(others) == 1 else _conversation(path) + "@chatroom"
    items: list[Item] = []
    for i, r in enumerate(recs, 2):
        loc = f"{path.name} line {i}"
        raw = orjson.dumps(r)
        try:
            base, sub = as_int(r.get("Type")), as_int(r.get("SubType"))
            is_self = as_int(r.get("IsSender")) == 1
            sent_ms = as_int(r.get("CreateTime")) * 1000
            text = as_text(r.get("StrContent"))
            sender = as_text(r.get("Sender"))
            if sender and r.get("NickName"):
                acct.names.setdefault(sender, as_text(r.get("NickName")))
        except (ValueError, TypeError) as e:
            items.append(Quarantined(loc, f"bad WeChatMsg row: {e}", raw))
            continue
        items.append(
            _rendered(
                loc,
                raw,
                talker,
                sent_ms,
                base,
                sub,
                is_self,
                sender,
                text,
                key=f"{sent_ms}:{_key(sender, base, sub, text)}",
            )
        )
    return [_unit(path, "wechatmsg-csv", items)]


_TXT_HEAD = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ?(.*)$")


def wechatmsg_txt(path: Path, owner: str, acct: Account) -> list[Unit]:
    """Blocks ``<YYYY-MM-DD HH:MM:SS> <name>\\n<content…>\\n\\n``. The TXT names people by
    display name only: a sender is ``name:<display name>``; with ``--owner`` the owner's
    messages are those under the owner's name."""
    text = _read(path)
    acct.owner = owner or _owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: a TXT export names no account; pass --owner WXID")
    blocks: list[tuple[int, str, str, list[str]]] = []
    for n, line in enumerate(text.splitlines(), 1):
        m = _TXT_HEAD.match(line)
        if m:
            blocks.append((n, m.group(1), m.group(2).strip(), []))
        elif blocks:
            blocks[-1][3].append(line)
        elif line.strip():
            raise ImportFileError(f"{path}: line {n}: expected '<YYYY-MM-DD HH:MM:SS> <name>'")
    names = {b[2] for b in blocks if b[2]}
    talker = _conversation(path) + ("@chatroom" if len(names) > 2 else "")
    items: list[Item] = []
    for n, when, name, lines in blocks:
        body = "\n".join(lines).strip("\n")
        loc = f"{path.name} line {n}"
        raw = f"{when} {name}\n{body}".encode()
        try:
            sent_ms = _local_ms(when, "time")
        except ValueError as e:
            items.append(Quarantined(loc, str(e), raw))
            continue
        is_self = bool(name) and name in (acct.owner_name, owner)
        sender = f"name:{name}" if name else ""
        if sender:
            acct.names.setdefault(sender, name)
        if not talker.endswith("@chatroom") and sender and not is_self:
            talker = sender
        base = 10000 if not name else 1
        items.append(
            _rendered(
                loc,
                raw,
                talker,
                sent_ms,
                base,
                0,
                is_self,
                sender,
                body,
                key=f"{sent_ms}:{_key(name, body)}",
            )
        )
    return [_unit(path, "wechatmsg-txt", items)]


def wechatmsg_html(path: Path, owner: str, acct: Account) -> list[Unit]:
    """The page's script holds one object per message (JSON or a JS object literal)."""
    text = _read(path)
    m = re.search(r"=\s*(\[\s*\{)", text)
    if not m:
        raise ImportFileError(f"{path}: no message array found in the page's script")
    try:
        objs, _ = parse_js(text, m.start(1))
    except ValueError as e:
        raise ImportFileError(f"{path}: malformed message array: {e}") from None
    if not isinstance(objs, list):
        raise ImportFileError(f"{path}: the page's message data is not an array")
    acct.owner = owner or _owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: an HTML export names no account; pass --owner WXID")
    group = any(isinstance(o, dict) and o.get("is_chatroom") for o in objs)
    talker = _conversation(path) + ("@chatroom" if group else "")
    items: list[Item] = []
    for i, o in enumerate(objs, 1):
        loc = f"{path.name} item {i}"
        raw = orjson.dumps(o)
        try:
            if not isinstance(o, dict):
                raise ValueError("not an object")
            base, sub = as_int(o.get("type")), as_int(o.get("sub_type"))
            is_self = as_int(o.get("is_send")) == 1
            sent_ms = as_int(o.get("timestamp")) * 1000
            body = as_text(o.get("text"))
            name = as_text(o.get("displayname"))
        except (ValueError, TypeError) as e:
            items.append(Quarantined(loc, f"bad WeChatMsg message: {e}", raw))
            continue
        sender = f"name:{name}" if name and not is_self else ""
        if sender:
            acct.names.setdefault(sender, name)
        talk = talker if group or is_self or not sender else sender
        items.append(
            _rendered(
                loc,
                raw,
                talk,
                sent_ms,
                base,
                sub,
                is_self,
                sender,
                body,
                key=f"{sent_ms}:{_key(name, base, sub, body)}",
            )
        )
    if not group:  # a direct chat: every row belongs to the one other party
        other = next(
            (
                r.talker
                for r in items
                if isinstance(r, Row) and not r.is_self and r.talker != talker
            ),
            talker,
        )
        for r in items:
            if isinstance(r, Row):
                r.talker = other
    return [_unit(path, "wechatmsg-html", items)]


# ------------------------------------------------------------------ a JS literal reader

_JS_TOKEN = re.compile(
    r"""\s*(?:(?P<p>[\[\]{}:,])|(?P<s>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|"""
    r"""(?P<n>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(?P<w>[A-Za-z_$][\w$]*))""",
    re.S,
)
MAX_JS_DEPTH = 64


def parse_js(text: str, pos: int) -> tuple[Any, int]:
    """Parse one JSON-like value (JSON, or a JS literal: unquoted keys, single quotes,
    trailing commas) starting at ``pos``; returns (value, end). No code is evaluated."""
    return _js_value(text, pos, 0)


def _js_tok(text: str, pos: int) -> tuple[str, str, int]:
    m = _JS_TOKEN.match(text, pos)
    if not m or m.lastgroup is None:
        raise ValueError(f"unexpected input at offset {pos}")
    return m.lastgroup, m.group(m.lastgroup), m.end()


def _js_string(tok: str) -> str:
    body = tok[1:-1]
    if tok[0] == "'":
        body = body.replace("\\'", "'").replace('"', '\\"')
    return str(orjson.loads(f'"{body}"'))


def _js_value(text: str, pos: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_JS_DEPTH:
        raise ValueError("nested too deeply")
    kind, tok, pos = _js_tok(text, pos)
    if kind == "s":
        return _js_string(tok), pos
    if kind == "n":
        return (float(tok) if any(c in tok for c in ".eE") else int(tok)), pos
    if kind == "w":
        return {"true": True, "false": False, "null": None, "undefined": None}.get(tok, tok), pos
    if tok == "[":
        arr: list[Any] = []
        while True:
            k, t, p = _js_tok(text, pos)
            if t == "]":
                return arr, p
            v, pos = _js_value(text, pos, depth + 1)
            arr.append(v)
            k, t, pos = _js_tok(text, pos)
            if t == "]":
                return arr, pos
            if t != ",":
                raise ValueError(f"expected ',' or ']' at offset {pos}")
    if tok == "{":
        obj: dict[str, Any] = {}
        while True:
            k, t, p = _js_tok(text, pos)
            if t == "}":
                return obj, p
            key = _js_string(t) if k == "s" else t
            if k not in ("s", "w", "n"):
                raise ValueError(f"bad object key at offset {pos}")
            k, t, pos = _js_tok(text, p)
            if t != ":":
                raise ValueError(f"expected ':' at offset {pos}")
            obj[key], pos = _js_value(text, pos, depth + 1)
            k, t, pos = _js_tok(text, pos)
            if t == "}":
                return obj, pos
            if t != ",":
                raise ValueError(f"expected ',' or '}}' at offset {pos}")
    raise ValueError(f"unexpected {tok!r} at offset {pos}")
