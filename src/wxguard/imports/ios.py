"""An unencrypted iTunes/Finder backup of an iPhone with WeChat (spec §7).

``Manifest.db`` ``Files(fileID, domain, relativePath)`` maps each app file to
``<backup>/<fileID[:2]>/<fileID>``. Under ``Documents/<md5(owner)>/DB/``:
``message_N.sqlite`` (and ``MM.sqlite``) hold one ``Chat_<md5(talker)>`` table per
conversation (``CreateTime`` seconds, ``Des = 0`` ⇒ sent by the owner, received group
content ``sender:\\n…``); ``WCDB_Contact.sqlite`` ``Friend`` holds names (protobuf
``dbContactRemark`` {1 nickname, 2 alias, 3 remark}) and group members (XML in
``dbContactChatRoom`` field 6). An encrypted backup's Manifest.db is not SQLite and is
refused like any encrypted database.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from . import protowire
from .appmsg import BodyError, parse_xml
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
from .sqlitedb import ImportFileError, open_plaintext, require_columns, table_rows, tables

DOMAINS = ("AppDomain-com.tencent.xin", "AppDomainGroup-group.com.tencent.xin")
# Per-message media (§5.4): Audio/<md5(talker)>/<MesLocalID>.aud, Img/…/<id>.pic(_hd),
# Video/…/<id>.mp4.
_MEDIA = re.compile(
    r"^Documents/([0-9a-f]{32})/(Audio|Img|Video)/([0-9a-f]{32})/(\d+)\.(aud|pic_hd|pic|mp4)$"
)
_DB = re.compile(
    r"^Documents/([0-9a-f]{32})/DB/(MM\.sqlite|message_\d{1,4}\.sqlite|"
    r"WCDB_Contact\.sqlite)$"
)
MSG_COLUMNS = ("MesLocalID", "MesSvrID", "CreateTime", "Message", "Type", "Des")


_DB_NAME = re.compile(r"^(MM|message_\d{1,4}|WCDB_Contact)\.sqlite$")


def detect(path: Path) -> bool:
    if not path.is_dir():
        return path.name == "Manifest.db" or bool(_DB_NAME.match(path.name))
    return (path / "Manifest.db").is_file() or bool(_db_dirs(path))


def _db_dirs(root: Path) -> list[Path]:
    """``DB`` folders of an app's ``Documents/<md5(owner)>/`` extracted from a device (a
    file-system or already-decoded backup): ``root`` may be ``Documents``, ``<md5>`` or
    ``DB`` itself."""
    out = []
    for cand in (root, root / "DB", *root.glob("*/DB")):
        named = cand.is_dir() and re.fullmatch(r"[0-9a-f]{32}", cand.parent.name)
        if named and any(_DB_NAME.match(p.name) for p in cand.iterdir()):
            out.append(cand)
    return sorted(set(out))


def _files_extracted(root: Path) -> dict[str, dict[str, Path]]:
    """The same map as :func:`_files`, from an extracted ``Documents`` tree."""
    dirs = _db_dirs(root.parent if root.is_file() else root)
    out: dict[str, dict[str, Path]] = {}
    for db in dirs:
        key = db.parent.name
        files = out.setdefault(key, {})
        for p in db.iterdir():
            if _DB_NAME.match(p.name):
                files[p.name] = p
        for folder, exts in (("Audio", ("aud",)), ("Img", ("pic_hd", "pic")), ("Video", ("mp4",))):
            for p in (db.parent / folder).glob("*/*"):
                stem, _, ext = p.name.partition(".")
                if ext in exts and stem.isdigit() and re.fullmatch(r"[0-9a-f]{32}", p.parent.name):
                    files[f"media/{p.parent.name}/{stem}.{ext}"] = p
    return out


def _files(backup: Path) -> dict[str, dict[str, Path]]:
    """md5(owner) → {db name, or ``media/<md5(talker)>/<MesLocalID>.<ext>`` → physical file}."""
    man = open_plaintext(backup / "Manifest.db")
    try:
        if "Files" not in tables(man):
            raise ImportFileError(f"{backup / 'Manifest.db'}: no Files table: not an iOS backup")
        out: dict[str, dict[str, Path]] = {}
        q = ",".join("?" * len(DOMAINS))
        for fid, rel in man.execute(
            f"SELECT fileID, relativePath FROM Files WHERE domain IN ({q})", DOMAINS
        ):
            m = _DB.match(rel or "")
            if m:
                out.setdefault(m.group(1), {})[m.group(2)] = backup / fid[:2] / fid
                continue
            a = _MEDIA.match(rel or "")
            if a:
                key = f"media/{a.group(3)}/{a.group(4)}.{a.group(5)}"
                out.setdefault(a.group(1), {})[key] = backup / fid[:2] / fid
        return out
    finally:
        man.close()


def units(root: Path, owner: str, acct: Account) -> list[Unit]:
    backup = root if root.is_dir() else root.parent
    manifest = (backup / "Manifest.db").is_file()
    accounts = _files(backup) if manifest else _files_extracted(root)
    if not accounts:
        raise ImportFileError(f"{backup}: the backup holds no WeChat message databases")
    if owner:
        key = hashlib.md5(owner.encode()).hexdigest()
        if key not in accounts:
            raise ImportFileError(f"{backup}: no WeChat data for account {owner} in this backup")
    elif len(accounts) > 1:
        raise ImportFileError(
            f"{backup}: the backup holds {len(accounts)} WeChat accounts; choose one with --owner"
        )
    else:
        key = next(iter(accounts))
    dbs = accounts[key]
    if root.is_file() and not manifest:  # one database named alone: that one (+ contacts)
        dbs = {k: v for k, v in dbs.items() if k in (root.name, "WCDB_Contact.sqlite")
               or k.startswith("media/")}  # fmt: skip
    contact = dbs.get("WCDB_Contact.sqlite")
    if contact is not None:
        _load_contacts(contact, acct)
    if not owner:
        owner = next((u for u in acct.names if hashlib.md5(u.encode()).hexdigest() == key), "")
    if not owner:
        raise ImportFileError(f"{backup}: cannot tell the account owner; pass --owner WXID")
    acct.owner, acct.owner_name = owner, acct.names.get(owner, "")
    by_md5 = {hashlib.md5(u.encode()).hexdigest(): u for u in [*acct.names, *acct.rooms]}
    out = []
    media = {k: v for k, v in dbs.items() if k.startswith("media/")}
    for name in sorted(n for n in dbs if n.endswith(".sqlite") and n != "WCDB_Contact.sqlite"):
        path = dbs[name]
        if not path.is_file():
            raise ImportFileError(f"{path}: listed as {name} but missing")
        conn = open_plaintext(path)
        head = file_head(path)  # one digest per file, shared by its tables' cursors
        for table in sorted(t for t in tables(conn) if t.startswith("Chat_")):
            cols = require_columns(conn, path, table, MSG_COLUMNS)
            total = conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
            out.append(
                Unit(
                    path=path,
                    stream=f"wechat-ios:{path.resolve()}#{table}",
                    label=f"{name}/{table[:13]}…",
                    total=total,
                    head=head,
                    rows=_reader(conn, name, table, cols, by_md5.get(table[5:].lower()), media),
                )
            )
    return out


def _load_contacts(path: Path, acct: Account) -> None:
    conn = open_plaintext(path)
    try:
        if "Friend" not in tables(conn):
            return
        cols = require_columns(conn, path, "Friend", ("userName",))
        remark = "dbContactRemark" if "dbContactRemark" in cols else "NULL"
        room = "dbContactChatRoom" if "dbContactChatRoom" in cols else "NULL"
        for user, rblob, cblob in conn.execute(f"SELECT userName, {remark}, {room} FROM Friend"):
            if not user:
                continue
            name = ""
            if isinstance(rblob, bytes):
                try:
                    f = protowire.fields(rblob)
                    name = protowire.text(protowire.first(f, 3)) or protowire.text(
                        protowire.first(f, 1)
                    )
                    alias = protowire.text(protowire.first(f, 2))
                    if alias:
                        acct.aliases[user] = alias
                except ValueError:
                    pass
            acct.names[user] = name
            if user.endswith("@chatroom") and isinstance(cblob, bytes):
                acct.room(user, _room_members(cblob))
    finally:
        conn.close()


def _room_members(blob: bytes) -> list[str]:
    try:
        xml = protowire.text(protowire.first(protowire.fields(blob), 6))
        if not xml:
            return []
        root = parse_xml(xml, "iOS RoomData XML")
    except (ValueError, BodyError):
        return []
    return [m.get("UserName", "") for m in root.iter("Member") if m.get("UserName")]


def _reader(
    conn: sqlite3.Connection,
    name: str,
    table: str,
    cols: list[str],
    talker: str | None,
    media: dict[str, Path],
) -> RowReader:
    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for rowid, rec in table_rows(conn, table, cols, start):
            loc = f"{name} {table} MesLocalID {as_text(rec['MesLocalID'])}"
            if talker is None:
                yield (
                    rowid,
                    Quarantined(
                        loc,
                        "conversation unknown: no contact hashes to this table",
                        raw_of(rec),
                    ),
                )
                continue
            row = _row(rec, loc, talker)
            if isinstance(row, Row):
                stem = f"media/{table[5:].lower()}/{as_text(rec['MesLocalID'])}"
                if row.base == 34:
                    f = media.get(f"{stem}.aud")
                    row.voice = _read_voice(f) if f is not None else None
                exts = {3: ("pic_hd", "pic"), 43: ("mp4",), 62: ("mp4",)}.get(row.base, ())
                row.files = [media[f"{stem}.{e}"] for e in exts if f"{stem}.{e}" in media]
                row.bound = True
            yield rowid, row

    return rows


def _read_voice(f: Path) -> bytes | None:
    try:
        return f.read_bytes() if f.is_file() and f.stat().st_size <= 16 << 20 else None
    except OSError:
        return None


def _row(rec: dict[str, object], loc: str, talker: str) -> Item:
    raw = raw_of(rec)
    try:
        base, content = as_int(rec["Type"]), as_text(rec["Message"])
        svr, is_self = as_int(rec["MesSvrID"]), as_int(rec["Des"]) == 0
        sent_ms = as_int(rec["CreateTime"]) * 1000
    except (ValueError, TypeError) as e:
        return Quarantined(loc, f"unreadable row: {e}", raw)
    sender = ""
    if talker.endswith("@chatroom") and not is_self and base not in (10000, 10002):
        sender, content = split_sender(content)
    return Row(
        locator=loc,
        talker=talker,
        server_id=svr,
        local_key=f"{loc}",
        sent_ms=sent_ms,
        base=base,
        sub=0,
        is_self=is_self,
        sender=sender,
        content=content,
        raw=raw,
    )
