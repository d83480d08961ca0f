"""What every tool-export importer shares (spec §6): reading an export whole, a tool's
rendering of a message → our payload, and rows keyed without a server id.

Exports carry a *rendering* of each message, not the client's XML: we keep the tool's text
and map its type to our kinds (:func:`rendered_payload`). Each file is read and checked
whole (size limit, encoding, structure) before anything is committed; a bad row is
quarantined with its line or item number. Importers: :mod:`.chatlog`, :mod:`.pywxdump`,
:mod:`.wechatmsg`.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

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
    Item,
    Row,
    RowReader,
    Unit,
    as_text,
    file_head,
)
from .sqlitedb import ImportFileError

MAX_EXPORT = 512 << 20  # bytes of one export file (they are parsed whole)
CHINA = timezone(timedelta(hours=8))  # tools write local time without a zone; WeChat is UTC+8


def read_export(path: Path) -> str:
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


def row_digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:20]


def local_time_ms(text: str, where: str) -> int:
    try:
        return int(
            datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).timestamp()
            * 1000
        )
    except ValueError:
        raise ValueError(f"{where}: bad time {text!r} (expected YYYY-MM-DD HH:MM:SS)") from None


def rows_of(items: list[Item]) -> RowReader:
    """Rows of a file read whole; the position is the 1-based item number."""

    def rows(start: int) -> Iterator[tuple[int, Item]]:
        for i in range(start, len(items)):
            yield i + 1, items[i]

    return rows


def rendered_row(
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


def export_unit(path: Path, fmt: str, items: list[Item]) -> Unit:
    return Unit(
        path=path,
        stream=f"{fmt}:{path.resolve()}",
        label=path.name,
        total=len(items),
        rows=rows_of(items),
        head=file_head(path),
    )


def owner_from_path(path: Path) -> str:
    return next((p for p in reversed(path.resolve().parts) if p.startswith("wxid_")), "")


def read_csv(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    text = read_export(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in needed if c not in (reader.fieldnames or [])]
    if missing:
        raise ImportFileError(f"{path}: CSV header lacks {', '.join(missing)}")
    try:
        return list(reader)
    except csv.Error as e:
        raise ImportFileError(f"{path}: malformed CSV at line {reader.line_num}: {e}") from None
