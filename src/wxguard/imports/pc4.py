"""WeChat 4.x (Windows/macOS, 2025) plaintext databases (spec §2).

``db_storage/message/message_N.db``: one ``Msg_<md5(username)>`` table per conversation
per shard, ``Name2Id`` (rowid → username) for ``real_sender_id``; ``local_type`` packs
the app sub-type in its high 32 bits; ``message_content`` may be a zstd frame; received
group content starts with ``sender:\\n``. ``contact/contact.db`` and
``session/session.db`` name the conversations (a table name is an md5, §2.3). Voice is
in ``message/media_N.db`` ``VoiceInfo`` by ``svr_id`` (§2.6); the owner is the account
directory's name without its ``_xxxx`` suffix, or the sender of ``status = 2`` rows.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import zstandard

from ..model import Flag
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
    split_sender,
)
from .sqlitedb import ImportFileError, open_plaintext, require_columns, table_rows, tables

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_CONTENT = 16 << 20
_SHARD = re.compile(r"^message_(\d+)\.db$")
_MEDIA = re.compile(r"^media_(\d+)\.db$")
MSG_COLUMNS = (
    "local_id",
    "server_id",
    "local_type",
    "real_sender_id",
    "create_time",
    "message_content",
)


def find(root: Path) -> tuple[Path, list[Path], list[Path], Path]:
    """(message dir, message shards, media shards, account dir)."""
    if root.is_file():
        msg_dir = root.parent
    else:
        cands = [root / "db_storage" / "message", root / "message", root]
        msg_dir = next(
            (c for c in cands if c.is_dir() and any(_SHARD.match(p.name) for p in c.iterdir())),
            root,
        )
    shards = sorted(
        (p for p in msg_dir.iterdir() if _SHARD.match(p.name)),
        key=lambda p: int(p.stem.split("_")[1]),
    )
    if root.is_file():
        shards = [root]
    media = sorted(p for p in msg_dir.iterdir() if _MEDIA.match(p.name))
    store = msg_dir.parent
    account = store.parent if store.name == "db_storage" else store
    return msg_dir, shards, media, account


def detect(path: Path) -> bool:
    try:
        if path.is_dir():
            return bool(find(path)[1])
    except OSError:
        return False
    return bool(_SHARD.match(path.name))


def load_account(store: Path, owner: str, acct: Account) -> None:
    acct.owner = owner
    contact = store / "contact" / "contact.db"
    if contact.is_file():
        conn = open_plaintext(contact)
        try:
            have = tables(conn)
            if "contact" in have:
                require_columns(conn, contact, "contact", ("username", "remark", "nick_name"))
                for user, alias, remark, nick in conn.execute(
                    "SELECT username, alias, remark, nick_name FROM contact"
                ):
                    acct.contact(user, alias, remark, nick)
            if "chat_room" in have:
                for name, room_owner, ext in conn.execute(
                    "SELECT username, owner, ext_buffer FROM chat_room"
                ):
                    acct.room(name, protowire.room_members(ext), room_owner or "")
        finally:
            conn.close()
    session = store / "session" / "session.db"
    if session.is_file():
        conn = open_plaintext(session)
        try:
            if "SessionTable" in tables(conn):
                for (user,) in conn.execute("SELECT username FROM SessionTable"):
                    acct.names.setdefault(user, "")
        finally:
            conn.close()
    acct.owner_name = acct.names.get(owner, "")


def _owner_from_dir(account: Path) -> str:
    name = account.name
    m = re.match(r"^(wxid_[0-9a-z]+)_[0-9a-f]{4}$", name)
    return m.group(1) if m else ""


def units(root: Path, owner: str, acct: Account) -> list[Unit]:
    msg_dir, shards, media, account = find(root)
    if not shards:
        raise ImportFileError(f"{root}: no message_N.db found (WeChat 4.x layout)")
    owner = owner or _owner_from_dir(account)
    if not owner:
        raise ImportFileError(
            f"{root}: cannot tell the account owner from the folder name; pass --owner WXID"
        )
    load_account(msg_dir.parent, owner, acct)
    by_md5 = {hashlib.md5(u.encode()).hexdigest(): u for u in acct.names}
    by_md5.update({hashlib.md5(u.encode()).hexdigest(): u for u in acct.rooms})
    links = Hardlinks(msg_dir.parent / "hardlink" / "hardlink.db", account)
    voices = VoiceStore(media, "SELECT voice_data FROM VoiceInfo WHERE svr_id = ?")
    out = []
    for shard in shards:
        conn = open_plaintext(shard)
        have = tables(conn)
        if "Name2Id" not in have:
            conn.close()
            raise ImportFileError(f"{shard}: no Name2Id table: not a WeChat 4.x message database")
        names = {r: u for r, u in conn.execute("SELECT rowid, user_name FROM Name2Id")}
        for u in names.values():
            by_md5.setdefault(hashlib.md5(u.encode()).hexdigest(), u)
        head = file_head(shard)  # one digest per file, shared by its tables' cursors
        for table in sorted(t for t in have if t.startswith("Msg_")):
            talker = by_md5.get(table[4:].lower())
            cols = require_columns(conn, shard, table, MSG_COLUMNS)
            total = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            out.append(
                Unit(
                    path=shard,
                    stream=f"wechat-pc4:{shard.resolve()}#{table}",
                    label=f"{shard.name}/{table[:12]}…",
                    total=total,
                    head=head,
                    rows=_reader(
                        conn, shard, table, cols, talker, names, owner, account, voices, links
                    ),
                )
            )
    revoked = msg_dir / "message_revoke.db"
    if revoked.is_file() and not root.is_file():
        out.extend(_revoked(revoked))
    return out


def _plain_name(part: str) -> bool:
    """One path component: never a way out of the account folder."""
    return part not in ("", ".", "..") and "/" not in part and "\\" not in part


class Hardlinks:
    """Where 4.x keeps a file or video by md5: ``hardlink/hardlink.db`` (§2.6)
    ``{file,video}_hardlink_info_v3``/``_v4`` rows ``(md5, file_name, dir1)`` with ``dir1``
    → ``dir2id.rowid``; paths ``msg/file/<dir>/<file_name>``, ``msg/video/<dir>/<file_name>``.
    Finds files renamed on a name clash that the title alone would miss."""

    def __init__(self, db: Path, account: Path) -> None:
        self.by_md5: dict[str, list[Path]] = {}
        if not db.is_file():
            return
        conn = open_plaintext(db)
        try:
            have = tables(conn)
            dirs = (
                {r: as_text(u) for r, u in conn.execute("SELECT rowid, username FROM dir2id")}
                if "dir2id" in have
                else {}
            )
            for kind in ("file", "video"):
                for version in ("v4", "v3"):
                    table = f"{kind}_hardlink_info_{version}"
                    if table not in have:
                        continue
                    for md5, name, dir1 in conn.execute(
                        f"SELECT md5, file_name, dir1 FROM {table}"
                    ):
                        d, n = dirs.get(as_int(dir1), ""), as_text(name)
                        if md5 and _plain_name(d) and _plain_name(n):
                            path = account / "msg" / kind / d / n
                            self.by_md5.setdefault(as_text(md5).lower(), []).append(path)
        finally:
            conn.close()

    def paths(self, md5: str) -> list[Path]:
        return self.by_md5.get(md5.lower(), [])


REVOKE_COLUMNS = ("to_user_name", "svr_id", "message_type", "revoke_time", "content")


def _revoked(path: Path) -> list[Unit]:
    """``message_revoke.db`` keeps the text of the owner's own recalled messages (§2.6):
    archived under the recalled message's own id, flagged ``recovered-recall``, so the
    recall notice (``revoke``) points at what was taken back."""
    conn = open_plaintext(path)
    if "revokemessage" not in tables(conn):
        conn.close()
        return []
    cols = require_columns(conn, path, "revokemessage", REVOKE_COLUMNS)
    total = conn.execute("SELECT count(*) FROM revokemessage").fetchone()[0]

    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for rowid, rec in table_rows(conn, "revokemessage", cols, start):
            loc = f"{path.name} revokemessage row {rowid}"
            raw = raw_of(rec)
            try:
                lt = as_int(rec["message_type"])
                row = Row(
                    locator=loc, talker=as_text(rec["to_user_name"]),
                    server_id=as_int(rec["svr_id"]), local_key=loc,
                    sent_ms=as_int(rec["revoke_time"]) * 1000, base=lt & 0xFFFFFFFF,
                    sub=lt >> 32, is_self=True, sender="", content=as_text(rec["content"]),
                    raw=raw, flags=[Flag.RECOVERED_RECALL],
                )  # fmt: skip
            except (ValueError, TypeError) as e:
                yield rowid, Quarantined(loc, f"unreadable row: {e}", raw)
                continue
            if not row.talker or not row.server_id:
                yield rowid, Quarantined(loc, "recalled message without conversation or id", raw)
                continue
            yield rowid, row

    return [Unit(path=path, stream=f"wechat-pc4:{path.resolve()}#revokemessage",
                 label=path.name, total=total, rows=rows, head=file_head(path))]  # fmt: skip


def _reader(
    conn: sqlite3.Connection,
    shard: Path,
    table: str,
    cols: list[str],
    talker: str | None,
    names: dict[int, str],
    owner: str,
    account: Path,
    voices: VoiceStore,
    links: Hardlinks,
) -> RowReader:
    dctx = zstandard.ZstdDecompressor()

    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for rowid, rec in table_rows(conn, table, cols, start):
            loc = f"{shard.name} {table} local_id {as_text(rec['local_id'])}"
            if talker is None:
                yield (
                    rowid,
                    Quarantined(
                        loc,
                        "conversation unknown: no contact or session name hashes to this "
                        "table (copy contact.db and session.db beside message/)",
                        raw_of(rec),
                    ),
                )
                continue
            yield rowid, _row(rec, loc, talker, names, owner, account, voices, dctx, links)

    return rows


def _row(
    rec: dict[str, object],
    loc: str,
    talker: str,
    names: dict[int, str],
    owner: str,
    account: Path,
    voices: VoiceStore,
    dctx: zstandard.ZstdDecompressor,
    links: Hardlinks,
) -> Item:
    raw = raw_of(rec)
    try:
        lt = as_int(rec["local_type"])
        base, sub = lt & 0xFFFFFFFF, lt >> 32
        data = rec["message_content"]
        if isinstance(data, bytes) and data[:4] == ZSTD_MAGIC:
            data = dctx.decompress(data, max_output_size=MAX_CONTENT)
        content = as_text(data)
        sender = names.get(as_int(rec["real_sender_id"]), "")
        svr, sent_ms = as_int(rec["server_id"]), as_int(rec["create_time"]) * 1000
    except (ValueError, TypeError, zstandard.ZstdError) as e:
        return Quarantined(loc, f"unreadable row: {e}", raw)
    group = talker.endswith("@chatroom")
    prefix, body = split_sender(content)
    if prefix and group and not (base == 49 and sub == 62):
        sender, content = prefix, body
    is_self = sender == owner
    if not group and not sender:
        is_self = as_int(rec.get("status")) == 2
    ex = Extras()
    packed = rec.get("packed_info_data")
    if isinstance(packed, bytes) and packed:
        try:
            audio = protowire.first(protowire.fields(packed), 5)
            if isinstance(audio, bytes):
                ex.transcript = protowire.text(protowire.first(protowire.fields(audio), 2))
        except ValueError:
            pass
    month = _month(sent_ms)
    files = []
    if base == 43:
        v = re.search(r'<videomsg[^>]*\bmd5="([0-9a-fA-F]{32})"', content)
        if v:
            files += links.paths(v.group(1))
            files.append(account / "msg" / "video" / month / f"{v.group(1).lower()}.mp4")
    if base == 49 and sub in (6, 74):
        h = re.search(r"<md5>(?:<!\[CDATA\[)?([0-9a-fA-F]{32})", content)
        if h:
            files += links.paths(h.group(1))
        m = re.search(r"<title>(?:<!\[CDATA\[)?([^<\]]{1,255})", content)
        if m and "/" not in m.group(1) and "\\" not in m.group(1):
            files.append(account / "msg" / "file" / month / m.group(1))
    return Row(
        locator=loc,
        talker=talker,
        server_id=svr,
        local_key=f"{loc}",
        sent_ms=sent_ms,
        base=base,
        sub=sub,
        is_self=is_self,
        sender="" if is_self else sender,
        content=content,
        raw=raw,
        extras=ex,
        voice=voices.get(svr) if base == 34 and svr else None,
        files=files,
    )


def _month(ms: int) -> str:
    from datetime import datetime, timedelta, timezone

    return datetime.fromtimestamp(ms / 1000, timezone(timedelta(hours=8))).strftime("%Y-%m")
