"""chatlog exports (spec §6.3): a saved ``/api/v1/chatlog?format=json`` array or webhook
body, or pulled from a running chatlog's HTTP API. No server id: a message is keyed by
conversation, chatlog's ``seq`` and a digest of sender + text, so re-imports dedupe."""

from __future__ import annotations

import urllib.parse
import urllib.request
from datetime import datetime
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
    MAX_EXPORT,
    export_unit,
    read_export,
    rendered_row,
    row_digest,
    rows_of,
)
from .sqlitedb import ImportFileError


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
                key=f"seq{seq}:{row_digest(sender, base, sub, text)}",
                contents=contents,
            )
        )
    return out


def chatlog_file(path: Path, owner: str, acct: Account) -> list[Unit]:
    try:
        objs = orjson.loads(read_export(path))
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
    return [export_unit(path, "chatlog", items)]


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
                rows=rows_of(items),
                head="url",
            )
        )
    if not acct.owner:
        raise ImportFileError(f"{base}: cannot tell the account owner; pass --owner WXID")
    return units
