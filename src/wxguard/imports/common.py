"""What every WeChat importer shares: a decoded row, the account, the row → Message step.

Every client format (PC 3.x, 4.x, Android, iOS) and every tool export reduces its rows to
a :class:`Row`; :func:`to_message` then applies one set of rules (spec §8 "unified
field mapping"):

* identity: ``source = "wechat"``, ``source_msg_id = "<owner>:<server id>"`` so the same
  message from the same account dedupes across shards, devices and re-exports; rows
  without a server id (local/system lines) use ``<owner>:<talker>:<local key>``;
* conversation: a ``…@chatroom`` talker is a group (its id), anything else is a direct
  chat ``direct:A|B`` between the owner and the talker;
* sender: the owner when the row is the owner's, else the group sender, else the talker.
"""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from ..model import (
    AnyPayload,
    Attachment,
    ChatType,
    Conversation,
    Emotion,
    File,
    Flag,
    Image,
    Message,
    Participant,
    ParticipantKind,
    Payload,
    Revoke,
    RosterEntry,
    Unknown,
    Video,
    Voice,
    direct_conversation_id,
)
from ..seal import Sealer
from .appmsg import BodyError, Extras, payload_of
from .silk import VoiceError, is_silk, to_wav
from .sqlitedb import open_plaintext

SOURCE = "wechat"
_RAW = msgspec.msgpack.Encoder()


@dataclass(slots=True)
class Row:
    locator: str  # names the file, table and row for errors and quarantine
    talker: str  # conversation username (wxid_…, …@chatroom, gh_…)
    server_id: int
    local_key: str  # identity when server_id is 0
    sent_ms: int
    base: int
    sub: int
    is_self: bool
    sender: str
    content: str
    raw: bytes
    extras: Extras = field(default_factory=Extras)
    voice: bytes | None = None
    files: list[Path] = field(default_factory=list)  # plaintext media beside the database
    # True when ``files`` are named by this very message (Android ImgInfo2, iOS per-message
    # paths): a plaintext image/video there is attached even if the client's md5 differs.
    bound: bool = False
    payload: AnyPayload | None = None  # set by exports that already rendered the message
    flags: list[str] = field(default_factory=list)


def as_int(v: object) -> int:
    """A column that should hold an integer (clients store some as text); 0 when empty."""
    if v is None or v == "" or v == b"":
        return 0
    if isinstance(v, int):
        return v
    if isinstance(v, str | bytes | float):
        return int(v)
    raise TypeError(f"expected an integer, got {type(v).__name__}")


def as_text(v: object) -> str:
    """A text column; BLOB-typed text is decoded (invalid UTF-8 replaced, never fatal)."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def raw_of(cols: dict[str, object]) -> bytes:
    """The row as stored by the client (every column, BLOBs included), for evidence."""
    return _RAW.encode(cols)


def split_sender(content: str) -> tuple[str, str]:
    """Received group content is ``sender:\\ncontent`` (Android, iOS, 4.x)."""
    head, sep, rest = content.partition(":\n")
    if sep and 0 < len(head) <= 64 and " " not in head and "<" not in head:
        return head, rest
    return "", content


@dataclass
class Employee:
    name: str = ""
    department: str = ""
    title: str = ""


class EmployeeError(ValueError):
    pass


def read_employees(path: Path) -> dict[str, Employee]:
    """Employee directory CSV: ``account`` (WeChat id or 微信号), ``name``, ``department``,
    ``title``. Accounts listed here are internal; everyone else an import sees is external."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise EmployeeError(f"{path}: not UTF-8 (byte {e.start}); save the CSV as UTF-8") from None
    except OSError as e:
        raise EmployeeError(f"{path}: cannot read: {e.strerror or e}") from None
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "account" not in [f.strip() for f in reader.fieldnames]:
        raise EmployeeError(f"{path}: header must include 'account' (and name, department, title)")
    out: dict[str, Employee] = {}
    for i, rec in enumerate(reader, start=2):
        rec = {(k or "").strip(): (v or "").strip() for k, v in rec.items()}
        acct = rec.get("account", "")
        if not acct:
            raise EmployeeError(f"{path}: line {i}: empty account")
        out[acct] = Employee(rec.get("name", ""), rec.get("department", ""), rec.get("title", ""))
    return out


@dataclass
class Account:
    """The device owner and the directory the client kept."""

    owner: str = ""
    owner_name: str = ""
    names: dict[str, str] = field(default_factory=dict)  # username → display name
    aliases: dict[str, str] = field(default_factory=dict)  # username → 微信号
    rooms: dict[str, Conversation] = field(default_factory=dict)
    employees: dict[str, Employee] = field(default_factory=dict)

    def kind_of(self, username: str) -> ParticipantKind:
        if username.startswith("gh_") or username.endswith("@app"):
            return ParticipantKind.BOT
        if username == self.owner or self.employee(username) is not None:
            return ParticipantKind.INTERNAL
        return ParticipantKind.EXTERNAL

    def employee(self, username: str) -> Employee | None:
        e = self.employees.get(username)
        if e is None and username in self.aliases:
            e = self.employees.get(self.aliases[username])
        return e

    def participant(self, username: str) -> Participant:
        e = self.employee(username)
        name = self.names.get(username, "") or (e.name if e else "")
        if username == self.owner and self.owner_name:
            name = self.owner_name
        p = Participant(id=username, kind=self.kind_of(username), name=name)
        if e is not None:
            p.department, p.title = e.department, e.title
            p.name = e.name or p.name
        return p

    def directory(self) -> tuple[list[Participant], list[Conversation]]:
        people = {u for u in self.names if not u.endswith("@chatroom")}
        if self.owner:
            people.add(self.owner)
        for room in self.rooms.values():
            people.update(r.participant for r in room.roster)
        return [self.participant(u) for u in sorted(people)], list(self.rooms.values())

    def contact(self, user: str, alias: str, remark: str, nickname: str) -> None:
        """One contact row: display name = remark, else nickname (spec §1.7)."""
        if user:
            self.names[user] = remark or nickname or ""
            if alias:
                self.aliases[user] = alias

    def room(self, name: str, members: list[str], owner: str = "") -> None:
        title = self.names.get(name, "")
        roster = [RosterEntry(participant=m) for m in dict.fromkeys(members) if m]
        self.rooms[name] = Conversation(
            id=name, type=ChatType.GROUP, name=title, owner=owner, roster=roster
        )


def message_key(owner: str, server_id: int, talker: str, local_key: str) -> str:
    if server_id:
        return f"{owner}:{server_id}"
    return f"{owner}:{talker}:{local_key}"


def to_message(row: Row, acct: Account, sealer: Sealer | None) -> Message:
    """Raises :class:`BodyError` / :class:`VoiceError` for the caller to quarantine."""
    payload = (
        row.payload
        if row.payload is not None
        else payload_of(row.base, row.sub, row.content, row.extras)
    )
    owner = acct.owner
    group = row.talker.endswith("@chatroom")
    sender = owner if row.is_self else (row.sender or ("" if group else row.talker))
    if group:
        conv, chat, recipients = row.talker, ChatType.GROUP, []
    else:
        conv, chat = direct_conversation_id(owner, row.talker), ChatType.DIRECT
        recipients = [row.talker if row.is_self else owner]
    if isinstance(payload, Revoke):
        payload = Revoke(pre_msgid=f"{owner}:{payload.pre_msgid}")
    flags: list[str] = list(row.flags)
    if isinstance(payload, Unknown):
        flags.append(Flag.UNKNOWN_MSGTYPE)
    if sealer is not None:
        _attach(payload, row, sealer)
    mid = message_key(owner, row.server_id, row.talker, row.local_key)
    return Message(
        id=f"{SOURCE}:{mid}",
        source=SOURCE,
        source_msg_id=mid,
        sender=sender,
        recipients=recipients,
        conversation=conv,
        chat=chat,
        sent_at=max(0, row.sent_ms),
        payload=payload,
        flags=flags,
    )


MAX_MEDIA = 256 << 20  # bytes of one attached file read beside a database


def _attach(payload: Payload, row: Row, sealer: Sealer) -> None:
    """Store the media a row carries or names. Everything is checked before the first blob
    is written, so a row that fails (and is quarantined) leaves no blob behind."""
    if isinstance(payload, Voice) and row.voice:
        if not is_silk(row.voice) and row.voice[:5] != b"#!AMR":
            raise VoiceError("voice data is neither SILK v3 nor AMR")
        wav_bytes = to_wav(row.voice) if is_silk(row.voice) else None
        payload.attachment = _merge(payload.attachment, sealer.put_blob(row.voice, row.sent_ms))
        if wav_bytes is not None:
            wav = sealer.put_blob(wav_bytes, row.sent_ms)
            wav.mime, wav.ext = "audio/wav", "wav"
            payload.wav = wav
        return
    if not isinstance(payload, Image | Video | Emotion | File) or not row.files:
        return
    att = payload.attachment
    for f in row.files:
        try:
            if not f.is_file() or f.stat().st_size > MAX_MEDIA:
                continue
            data = f.read_bytes()
        except OSError:
            continue
        if not _belongs(data, att, payload, row.bound):
            continue
        payload.attachment = _merge(att, sealer.put_blob(data, row.sent_ms))
        return


def _belongs(data: bytes, att: Attachment, payload: Payload, bound: bool) -> bool:
    """Is this file the message's media? Its md5 matches the one the message names; or the
    path was named by this very message and the bytes are a plaintext image/video; or,
    with no md5 to go by, the size the message states matches. An obfuscated ``.dat``
    copy fails all three and is never attached."""
    if bound and plaintext_media(data, payload):
        return True
    if att.md5:
        return hashlib.md5(data, usedforsecurity=False).hexdigest() == att.md5.lower()
    return not bound and (att.size is None or len(data) == att.size)


_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def plaintext_media(data: bytes, payload: Payload) -> bool:
    """Bytes that are an ordinary image or video file (not an obfuscated or WXGF copy)."""
    if isinstance(payload, Image | Emotion):
        return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")
    if isinstance(payload, Video):
        return data[4:8] == b"ftyp"
    return False


def _merge(meta: Attachment, stored: Attachment) -> Attachment:
    return Attachment(
        sdkfileid=meta.sdkfileid,
        md5=stored.md5,
        size=stored.size,
        name=meta.name,
        ext=meta.ext,
        blob_id=stored.blob_id,
        sha256=stored.sha256,
        mime=meta.mime,
    )


# --------------------------------------------------------------------------- units


@dataclass
class Quarantined:
    locator: str
    reason: str
    raw: bytes


Item = Row | Quarantined
RowReader = Callable[[int], Iterator[tuple[int, Item]]]  # start position → (position, item)


@dataclass
class Unit:
    """One resumable stream of rows (a table of one database, one export file)."""

    path: Path
    stream: str  # cursor key
    label: str
    total: int | None
    rows: RowReader
    head: str = ""  # digest of the file's start: a cursor is only valid for the same file


class VoiceStore:
    """Voice BLOBs by server id across a client's media databases, opened on first use."""

    def __init__(self, paths: list[Path], query: str) -> None:
        self.paths, self.query = paths, query
        self.conns: list[sqlite3.Connection] | None = None

    def get(self, svr: int) -> bytes | None:
        if self.conns is None:
            self.conns = [open_plaintext(p) for p in self.paths]
        for c in self.conns:
            row = c.execute(self.query, (svr,)).fetchone()
            if row and row[0]:
                return bytes(row[0])
        return None


def file_head(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.sha256(f.read(4096)).hexdigest()[:16]


__all__ = [
    "Account",
    "BodyError",
    "Item",
    "Quarantined",
    "Row",
    "Unit",
    "VoiceError",
    "message_key",
    "raw_of",
    "to_message",
]
