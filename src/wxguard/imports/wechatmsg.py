"""WeChatMsg (留痕) exports of one conversation (spec §6.1): CSV, TXT and HTML. No server
id: a message is keyed by time and a digest of sender + text. TXT and HTML name people by
display name only (senders ``name:<display name>``)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from .common import (
    Account,
    Item,
    Quarantined,
    Row,
    Unit,
    as_int,
    as_text,
)
from .jsliteral import parse_js
from .rendered import (
    export_unit,
    local_time_ms,
    owner_from_path,
    read_csv,
    read_export,
    rendered_row,
    row_digest,
)
from .sqlitedb import ImportFileError

WECHATMSG_CSV = ("localId", "Type", "SubType", "IsSender", "CreateTime", "StrContent", "Sender")


def _conversation(path: Path) -> str:
    stem = re.sub(r"_utf8$", "", path.stem)
    return f"wechatmsg:{stem}"


def wechatmsg_csv(path: Path, owner: str, acct: Account) -> list[Unit]:
    recs = read_csv(path, WECHATMSG_CSV)
    mine = {r.get("Sender", "") for r in recs if r.get("IsSender") == "1" and r.get("Sender")}
    acct.owner = owner or owner_from_path(path) or (mine.pop() if len(mine) == 1 else "")
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
            rendered_row(
                loc,
                raw,
                talker,
                sent_ms,
                base,
                sub,
                is_self,
                sender,
                text,
                key=f"{sent_ms}:{row_digest(sender, base, sub, text)}",
            )
        )
    return [export_unit(path, "wechatmsg-csv", items)]


TXT_HEAD = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) ?(.*)$")


def wechatmsg_txt(path: Path, owner: str, acct: Account) -> list[Unit]:
    """Blocks ``<YYYY-MM-DD HH:MM:SS> <name>\\n<content…>\\n\\n``. The TXT names people by
    display name only: a sender is ``name:<display name>``; with ``--owner`` the owner's
    messages are those under the owner's name."""
    text = read_export(path)
    acct.owner = owner or owner_from_path(path)
    if not acct.owner:
        raise ImportFileError(f"{path}: a TXT export names no account; pass --owner WXID")
    blocks: list[tuple[int, str, str, list[str]]] = []
    for n, line in enumerate(text.splitlines(), 1):
        m = TXT_HEAD.match(line)
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
            sent_ms = local_time_ms(when, "time")
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
            rendered_row(
                loc,
                raw,
                talker,
                sent_ms,
                base,
                0,
                is_self,
                sender,
                body,
                key=f"{sent_ms}:{row_digest(name, body)}",
            )
        )
    return [export_unit(path, "wechatmsg-txt", items)]


def wechatmsg_html(path: Path, owner: str, acct: Account) -> list[Unit]:
    """The page's script holds one object per message (JSON or a JS object literal)."""
    text = read_export(path)
    m = re.search(r"=\s*(\[\s*\{)", text)
    if not m:
        raise ImportFileError(f"{path}: no message array found in the page's script")
    try:
        objs, _ = parse_js(text, m.start(1))
    except ValueError as e:
        raise ImportFileError(f"{path}: malformed message array: {e}") from None
    if not isinstance(objs, list):
        raise ImportFileError(f"{path}: the page's message data is not an array")
    acct.owner = owner or owner_from_path(path)
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
            rendered_row(
                loc,
                raw,
                talk,
                sent_ms,
                base,
                sub,
                is_self,
                sender,
                body,
                key=f"{sent_ms}:{row_digest(name, base, sub, body)}",
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
    return [export_unit(path, "wechatmsg-html", items)]
