"""WeChat PC 3.x plaintext databases (spec §1).

Layout: ``<account>/Msg/Multi/MSG0.db … MSGn.db`` (table ``MSG``), ``<account>/Msg/
MicroMsg.db`` (``Contact``, ``ChatRoom``), ``<account>/Msg/Multi/MediaMSGn.db`` (voice
``Media.Buf`` keyed by ``Reserved0 = MsgSvrID``). The account folder's name is the
owner's username (§1.1). Group senders come from ``BytesExtra`` item type 1 (§1.9);
``Type=49`` XML sits LZ4-block-compressed in ``CompressContent`` (§1.10).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import lz4.block

from . import protowire
from .appmsg import Extras
from .common import (
    Account,
    Item,
    Quarantined,
    Row,
    RowReader,
    Unit,
    VoiceStore,
    as_int,
    as_text,
    file_head,
    raw_of,
)
from .sqlitedb import ImportFileError, open_plaintext, require_columns, table_rows, tables

_SHARD = re.compile(r"^MSG(\d+)\.db$", re.I)
_MEDIA = re.compile(r"^MediaMSG(\d+)\.db$", re.I)
MSG_COLUMNS = (
    "localId",
    "MsgSvrID",
    "Type",
    "SubType",
    "IsSender",
    "CreateTime",
    "StrTalker",
    "StrContent",
)


def lz4_text(data: bytes) -> str:
    """Raw LZ4 block without a size header: grow the output guess until it fits."""
    size = max(len(data) * 256, 64 << 10)
    for _ in range(4):
        try:
            out: bytes = lz4.block.decompress(data, uncompressed_size=size)
            return out.rstrip(b"\x00").decode("utf-8", "replace")
        except lz4.block.LZ4BlockError:
            size *= 4
            if size > 64 << 20:
                break
    raise ValueError("CompressContent is not an LZ4 block")


def _shard_number(p: Path) -> int:
    m = _SHARD.match(p.name)
    return int(m.group(1)) if m else 0


def find(root: Path) -> tuple[Path, list[Path], Path | None, list[Path]]:
    """(account dir, MSG shards, MicroMsg.db, MediaMSG shards) under ``root``."""
    if root.is_file():
        msg_dir = root.parent
        shards = [root]
    else:
        candidates = [root / "Msg" / "Multi", root / "Multi", root]
        msg_dir = next((c for c in candidates if any(_SHARD.match(p.name) for p in _ls(c))), root)
        shards = sorted((p for p in _ls(msg_dir) if _SHARD.match(p.name)), key=_shard_number)
    micro = next(
        (
            d / "MicroMsg.db"
            for d in (msg_dir, msg_dir.parent, msg_dir.parent / "Msg")
            if (d / "MicroMsg.db").is_file()
        ),
        None,
    )
    media = sorted(p for p in _ls(msg_dir) if _MEDIA.match(p.name))
    account = msg_dir.parent.parent if msg_dir.name == "Multi" else msg_dir.parent
    return account, shards, micro, media


def _ls(d: Path) -> list[Path]:
    try:
        return [p for p in d.iterdir() if p.is_file()]
    except OSError:
        return []


def detect(path: Path) -> bool:
    if path.is_dir():
        return bool(find(path)[1])
    return bool(_SHARD.match(path.name)) or path.name == "MicroMsg.db"


def load_account(micro: Path | None, owner: str, acct: Account) -> None:
    acct.owner = owner
    if micro is None:
        return
    conn = open_plaintext(micro)
    try:
        have = tables(conn)
        if "Contact" in have:
            require_columns(conn, micro, "Contact", ("UserName", "NickName", "Remark"))
            for user, alias, remark, nick in conn.execute(
                "SELECT UserName, Alias, Remark, NickName FROM Contact"
            ):
                acct.contact(user, alias, remark, nick)
        if "ChatRoom" in have:
            cols = require_columns(conn, micro, "ChatRoom", ("ChatRoomName", "UserNameList"))
            extra = ", RoomData" if "RoomData" in cols else ", NULL"
            owner_col = ", Reserved2" if "Reserved2" in cols else ", ''"
            for name, members, room_data, room_owner in conn.execute(
                f"SELECT ChatRoomName, UserNameList{extra}{owner_col} FROM ChatRoom"
            ):
                users = _members(members or "")
                if room_data:
                    users = users or protowire.room_members(room_data)
                acct.room(name, users, room_owner or "")
    finally:
        conn.close()
    acct.owner_name = acct.names.get(owner, "")


def _members(text: str) -> list[str]:
    """``UserNameList`` joins usernames with ``^G`` (maybe a literal or \\x07, §9 item 2)."""
    return [u for u in re.split(r"\^G|\x07", text) if u]


def _extra_items(blob: bytes | None) -> dict[int, str]:
    if not blob:
        return {}
    out: dict[int, str] = {}
    for n, _, v in protowire.fields(blob):
        if n == 3 and isinstance(v, bytes):
            sub = protowire.fields(v)
            t = protowire.first(sub, 1)
            if isinstance(t, int) and t not in out:
                out[t] = protowire.text(protowire.first(sub, 2))
    return out


def units(root: Path, owner: str, acct: Account) -> list[Unit]:
    account_dir, shards, micro, media = find(root)
    if not shards:
        raise ImportFileError(f"{root}: no MSG*.db shard found (WeChat PC 3.x layout)")
    owner = owner or account_dir.name
    if not owner or owner in (".", "Msg"):
        raise ImportFileError(f"{root}: cannot tell the account owner; pass --owner WXID")
    load_account(micro, owner, acct)
    voices = VoiceStore(media, "SELECT Buf FROM Media WHERE Reserved0 = ?")
    out = []
    # Chats with WeCom users from this personal account (OpenIMMsg.db ``ChatCRMsg``, the
    # same columns as MSG, §1.1) matter to a business archive as much as MSG itself.
    openim = account_dir / "Msg" / "OpenIMMsg.db"
    extra = [(openim, "ChatCRMsg")] if openim.is_file() and not root.is_file() else []
    for shard, table in [(s, "MSG") for s in shards] + extra:
        conn = open_plaintext(shard)
        if table not in tables(conn):
            conn.close()
            raise ImportFileError(
                f"{shard}: no {table} table: not a WeChat PC 3.x message database"
            )
        cols = require_columns(conn, shard, table, MSG_COLUMNS)
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        suffix = "" if table == "MSG" else f"#{table}"
        out.append(
            Unit(
                path=shard,
                stream=f"wechat-pc3:{shard.resolve()}{suffix}",
                label=shard.name,
                total=total,
                rows=_reader(conn, shard, table, cols, account_dir, voices),
                head=file_head(shard),
            )
        )
    return out


def _reader(
    conn: sqlite3.Connection,
    shard: Path,
    table: str,
    cols: list[str],
    account_dir: Path,
    voices: VoiceStore,
) -> RowReader:
    names = {}
    if "Name2ID" in tables(conn):
        names = {i: n for i, (n,) in enumerate(conn.execute("SELECT UsrName FROM Name2ID"), 1)}

    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for rowid, rec in table_rows(conn, table, cols, start):
            yield rowid, _row(rec, f"{shard.name} {table}", names, account_dir, voices)

    return rows


def _row(
    rec: dict[str, object], where: str, names: dict[int, str], account_dir: Path, voices: VoiceStore
) -> Item:
    loc = f"{where} localId {as_text(rec['localId'])}"
    raw = raw_of(rec)
    try:
        base, sub = as_int(rec["Type"]), as_int(rec.get("SubType"))
        talker = as_text(rec["StrTalker"]) or names.get(as_int(rec.get("TalkerId")), "")
        content = as_text(rec["StrContent"])
        blob = rec.get("CompressContent")
        if base == 49 and isinstance(blob, bytes) and blob and content.lstrip()[:1] != "<":
            content = lz4_text(blob)
        extra = rec.get("BytesExtra")
        items = _extra_items(extra if isinstance(extra, bytes) else None)
        svr, is_self = as_int(rec["MsgSvrID"]), as_int(rec["IsSender"]) == 1
        sent_ms = as_int(rec["CreateTime"]) * 1000
    except (ValueError, TypeError) as e:
        return Quarantined(loc, f"unreadable row: {e}", raw)
    if not talker:
        return Quarantined(loc, "row names no conversation (StrTalker and TalkerId empty)", raw)
    ex = Extras()
    if base == 50:
        ex.call_kind = items.get(3, "")
        ex.call_seconds = int(items[4]) if items.get(4, "").isdigit() else 0
    files = []
    for t in (4, 3):
        p = items.get(t, "")
        if p and base != 50:
            rel = Path(*p.replace("\\", "/").split("/")[1:])
            files.append(account_dir / rel)
    sender = "" if is_self else items.get(1, "")
    if "publisher-id" in sender:
        sender = ""
    return Row(
        locator=loc,
        talker=talker,
        server_id=svr,
        local_key=f"{where}:{as_text(rec['localId'])}",
        sent_ms=sent_ms,
        base=base,
        sub=sub,
        is_self=is_self,
        sender=sender,
        content=content,
        raw=raw,
        extras=ex,
        voice=voices.get(svr) if base == 34 and svr else None,
        files=files,
    )
