"""Plaintext imports of personal-WeChat client data and of common tools' exports.

``detect(path)`` names the format of a file or folder; ``open_source`` reads its
directory (owner, contacts, groups) and returns its resumable units; :class:`~.run.
Importer` seals them. Formats (``--input-format`` forces one):

================  =====================================================================
wechat-pc3        WeChat PC 3.x: account folder, ``Msg/``, or one ``MSGn.db``
wechat-pc4        WeChat 4.x: account folder, ``db_storage/``, or one ``message_N.db``
wechat-android    ``EnMicroMsg.db`` (or its folder)
wechat-ios        an unencrypted iTunes/Finder backup folder (``Manifest.db``)
chatlog           chatlog JSON (``/api/v1/chatlog?format=json`` saved) or ``http://host:port``
pywxdump-json     PyWxDump JSON export
pywxdump-csv      PyWxDump CSV export
wechatmsg-csv     WeChatMsg (留痕) CSV
wechatmsg-txt     WeChatMsg TXT
wechatmsg-html    WeChatMsg HTML
================  =====================================================================
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import android, chatlog, ios, pc3, pc4, pywxdump, wechatmsg
from .common import Account, Employee, EmployeeError, Unit, read_employees
from .sqlitedb import EncryptedDatabase, ImportFileError, is_sqlite, open_plaintext, tables

FORMATS = (
    "wechat-pc3",
    "wechat-pc4",
    "wechat-android",
    "wechat-ios",
    "chatlog",
    "pywxdump-json",
    "pywxdump-csv",
    "wechatmsg-csv",
    "wechatmsg-txt",
    "wechatmsg-html",
)

Opener = Callable[[Path, str, Account], list[Unit]]
_OPENERS: dict[str, Opener] = {
    "wechat-pc3": pc3.units,
    "wechat-pc4": pc4.units,
    "wechat-android": android.units,
    "wechat-ios": ios.units,
    "chatlog": chatlog.chatlog_file,
    "pywxdump-json": pywxdump.pywxdump_json,
    "pywxdump-csv": pywxdump.pywxdump_csv,
    "wechatmsg-csv": wechatmsg.wechatmsg_csv,
    "wechatmsg-txt": wechatmsg.wechatmsg_txt,
    "wechatmsg-html": wechatmsg.wechatmsg_html,
}
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass
class Source:
    path: Path | str
    format: str
    account: Account
    units: list[Unit]


def detect_dir(path: Path) -> str | None:
    """A folder that is one client layout as a whole."""
    if ios.detect(path):
        return "wechat-ios"
    if android.detect(path):
        return "wechat-android"
    if pc4.detect(path):
        return "wechat-pc4"
    if pc3.detect(path):
        return "wechat-pc3"
    return None


def detect_file(path: Path, head: bytes) -> str | None:
    """A single file's WeChat format, or None (then the other importers are asked)."""
    name = path.name
    if path.suffix.lower() in SQLITE_SUFFIXES or head[:16] == b"SQLite format 3\x00":
        if not is_sqlite(path):
            if path.suffix.lower() in SQLITE_SUFFIXES:
                open_plaintext(path)  # raises the clear "encrypted / not SQLite" error
            return None
        conn = open_plaintext(path, check=False)
        try:
            have = tables(conn)
        except sqlite3.DatabaseError as e:
            raise ImportFileError(f"{path}: corrupt or truncated SQLite database: {e}") from None
        finally:
            conn.close()
        if ("MSG" in have and "Name2ID" in have) or (name.startswith("MSG") and "MSG" in have):
            return "wechat-pc3"
        if "Name2Id" in have and any(t.startswith("Msg_") for t in have):
            return "wechat-pc4"
        if "message" in have and "rcontact" in have:
            return "wechat-android"
        if name == "Manifest.db" and "Files" in have:
            return "wechat-ios"
        if any(t.startswith("Chat_") for t in have) and ios.detect(path):
            return "wechat-ios"
        raise ImportFileError(
            f"{path}: a SQLite database with none of the WeChat message tables this version "
            f"knows (tables: {', '.join(sorted(have)[:8]) or 'none'}); an unknown client "
            "version, or not a message database (contacts, media and index databases are read "
            "beside the message databases, not alone)"
        )
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    suffix = path.suffix.lower()
    if suffix == ".json" and text[:1] == b"[":
        if b'"MsgSvrID"' in head and b'"type_name"' in head:
            return "pywxdump-json"
        if b'"seq"' in head and b'"talker"' in head:
            return "chatlog"
    if suffix == ".json" and text[:1] == b"{" and b'"messages"' in head and b'"talker"' in head:
        return "chatlog"
    if suffix == ".csv":
        first = text.split(b"\n", 1)[0]
        if b"MsgSvrID" in first and b"type_name" in first:
            return "pywxdump-csv"
        if b"StrContent" in first and b"IsSender" in first:
            return "wechatmsg-csv"
    if suffix in (".html", ".htm") and b"<html" in head.lower():
        return "wechatmsg-html"
    if suffix == ".txt" and wechatmsg.TXT_HEAD.match(
        text.split(b"\n", 1)[0].decode("utf-8", "replace")
    ):
        return "wechatmsg-txt"
    return None


def open_source(
    path: Path | str, fmt: str, owner: str = "", employees: dict[str, Employee] | None = None
) -> Source:
    acct = Account(employees=employees or {})
    if isinstance(path, str) or str(path).startswith(("http://", "https://")):
        if fmt != "chatlog":
            raise ImportFileError(
                f"{path}: a URL can only be a running chatlog (--input-format chatlog)"
            )
        return Source(str(path), fmt, acct, chatlog.chatlog_url(str(path), owner, acct))
    if fmt not in _OPENERS:
        raise ImportFileError(f"unknown WeChat format {fmt!r}; choose one of {', '.join(FORMATS)}")
    try:
        units = _OPENERS[fmt](path, owner, acct)
    except sqlite3.DatabaseError as e:
        raise ImportFileError(f"{path}: cannot read the {fmt} databases: {e}") from None
    return Source(path, fmt, acct, units)


__all__ = [
    "FORMATS",
    "Account",
    "EmployeeError",
    "EncryptedDatabase",
    "ImportFileError",
    "Source",
    "detect_dir",
    "detect_file",
    "open_source",
    "read_employees",
]
