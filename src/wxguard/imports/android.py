"""Android ``EnMicroMsg.db`` exported in plaintext (spec §3).

``message``: ``createTime`` in **milliseconds**, ``isSend = 1`` for the owner, received
group content ``sender:\\ncontent``. App messages carry a tag in the top byte of ``type``
with the low 16 bits = 49 (§4.4): the sub-type is read from ``<appmsg><type>``.
``rcontact`` (names), ``chatroom`` (``memberlist`` split on ``;``), ``userinfo`` (id 2 =
own username, id 4 = own nickname).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

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
    raw_of,
    split_sender,
)
from .sqlitedb import (
    ImportFileError,
    columns,
    open_plaintext,
    require_columns,
    table_rows,
    tables,
)

MSG_COLUMNS = ("msgId", "msgSvrId", "type", "isSend", "createTime", "talker", "content")
# Android-only type numbers (wechat-dump constants, §4.4) → (base, sub).
SPECIAL = {
    1048625: (47, 0),
    16777265: (49, 0),
    419430449: (49, 2000),
    436207665: (49, 2001),
    822083633: (49, 57),
    1090519089: (49, 6),
    1040187441: (49, 3),
    -1879048186: (49, 17),
}


def detect(path: Path) -> bool:
    if path.is_dir():
        return (path / "EnMicroMsg.db").is_file()
    return path.name == "EnMicroMsg.db"


def units(root: Path, owner: str, acct: Account) -> list[Unit]:
    db = root / "EnMicroMsg.db" if root.is_dir() else root
    conn = open_plaintext(db)
    have = tables(conn)
    if "message" not in have:
        conn.close()
        raise ImportFileError(f"{db}: no message table: not an Android WeChat EnMicroMsg.db")
    cols = require_columns(conn, db, "message", MSG_COLUMNS)
    if "userinfo" in have:
        info = dict(conn.execute("SELECT id, value FROM userinfo WHERE id IN (2, 4)").fetchall())
        owner = owner or as_text(info.get(2))
        acct.owner_name = as_text(info.get(4))
    if not owner:
        conn.close()
        raise ImportFileError(f"{db}: userinfo does not name the owner; pass --owner WXID")
    acct.owner = owner
    if "rcontact" in have:
        require_columns(conn, db, "rcontact", ("username", "nickname", "conRemark"))
        for user, alias, remark, nick in conn.execute(
            "SELECT username, alias, conRemark, nickname FROM rcontact"
        ):
            acct.contact(user, alias, remark, nick)
    if "chatroom" in have:
        for name, members, room_owner in conn.execute(
            "SELECT chatroomname, memberlist, roomowner FROM chatroom"
        ):
            acct.room(name, [m for m in as_text(members).split(";") if m], room_owner or "")
    acct.owner_name = acct.owner_name or acct.names.get(owner, "")
    big: dict[int, str] = {}
    if "ImgInfo2" in have and {"msgSvrId", "bigImgPath"} <= set(columns(conn, "ImgInfo2")):
        for svr, path in conn.execute("SELECT msgSvrId, bigImgPath FROM ImgInfo2"):
            if path and not str(path).startswith("SERVERID://"):
                big[as_int(svr)] = as_text(path)
    total = conn.execute("SELECT count(*) FROM message").fetchone()[0]
    return [
        Unit(
            path=db,
            stream=f"wechat-android:{db.resolve()}",
            label=db.name,
            total=total,
            rows=_reader(conn, db, cols, big),
            head=file_head(db),
        )
    ]


def _reader(conn: sqlite3.Connection, db: Path, cols: list[str], big: dict[int, str]) -> RowReader:
    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for rowid, rec in table_rows(conn, "message", cols, start):
            yield rowid, _row(rec, db, big)

    return rows


MAX_VOICE_FILE = 16 << 20


def _voice_file(root: Path, stem: str) -> bytes | None:
    """``voice2/<h[0:2]>/<h[2:4]>/msg_<imgPath>.amr`` with ``h = md5(imgPath)`` (§3.2),
    looked for beside the database (copy the device's ``voice2`` folder there)."""
    if not stem or "/" in stem or "\\" in stem or ".." in stem:
        return None
    h = hashlib.md5(stem.encode(), usedforsecurity=False).hexdigest()
    f = root / "voice2" / h[:2] / h[2:4] / f"msg_{stem}.amr"
    try:
        if f.is_file() and f.stat().st_size <= MAX_VOICE_FILE:
            return f.read_bytes()
    except OSError:
        return None
    return None


def _media(root: Path, base: int, svr: int, img: str, big: dict[int, str]) -> list[Path]:
    """Where a message's own media lies beside the database (§3.2, §5.4): an HD image
    ``image2/<p[0:2]>/<p[2:4]>/<ImgInfo2.bigImgPath>``, a video ``video/<imgPath>.mp4``."""
    name = big.get(svr, "") if base == 3 else f"{img}.mp4" if base in (43, 62) and img else ""
    if not name or "/" in name or "\\" in name or ".." in name:
        return []
    if base == 3:
        return [root / "image2" / name[:2] / name[2:4] / name]
    return [root / "video" / name]


def _row(rec: dict[str, object], db: Path, big: dict[int, str]) -> Item:
    loc = f"{db.name} message msgId {as_text(rec['msgId'])}"
    raw = raw_of(rec)
    try:
        typ = as_int(rec["type"])
        base, sub = SPECIAL.get(typ, (typ & 0xFFFF if typ & 0xFFFF == 49 else typ, 0))
        talker, content = as_text(rec["talker"]), as_text(rec["content"])
        svr, is_self = as_int(rec["msgSvrId"]), as_int(rec["isSend"]) == 1
        sent_ms = as_int(rec["createTime"])
    except (ValueError, TypeError) as e:
        return Quarantined(loc, f"unreadable row: {e}", raw)
    if not talker:
        return Quarantined(loc, "row names no conversation (talker empty)", raw)
    sender = ""
    if talker.endswith("@chatroom") and not is_self and base not in (10000, 10002):
        sender, content = split_sender(content)
    img = as_text(rec.get("imgPath"))
    return Row(
        voice=_voice_file(db.parent, img) if base == 34 else None,
        files=_media(db.parent, base, svr, img, big),
        bound=True,
        locator=loc,
        talker=talker,
        server_id=svr,
        local_key=f"msgId:{as_text(rec['msgId'])}",
        sent_ms=sent_ms,
        base=base,
        sub=sub,
        is_self=is_self,
        sender=sender,
        content=content,
        raw=raw,
    )
