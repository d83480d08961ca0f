"""Export formats. Each writer takes the conversations' messages (already decrypted,
oldest first) and writes files under the package folder, returning their relative paths."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import orjson

from ..model import (
    JSON_ENCODER,
    Agree,
    ChatType,
    Disagree,
    Message,
    RedPacket,
    Revoke,
    Transfer,
)
from ..textview import text_view

PLATFORM = "WeCom"
PLATFORMS = {"wechat": "WeChat"}  # message source → RSMF platform (default WeCom)


def platform_of(items: list[Item]) -> str:
    """The application a conversation's messages came from (imports are personal WeChat)."""
    sources = {it.message.source for it in items}
    return PLATFORMS.get(sources.pop(), PLATFORM) if len(sources) == 1 else PLATFORM


RSMF_VERSION = "2.0.0"
FORMATS = ("rsmf", "eml", "pdf", "csv", "jsonl")


@dataclass
class Item:
    seq: int
    message: Message
    sender: str  # display name
    recalled: bool = False
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (package path, name, size)


@dataclass
class Thread:
    """One conversation's exported messages."""

    id: str
    name: str
    type: ChatType
    people: dict[str, str]  # participant id -> display name
    items: list[Item] = field(default_factory=list)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def safe_name(s: str, limit: int = 60) -> str:
    return re.sub(r"[^\w.-]+", "_", s, flags=re.ASCII).strip("._")[:limit] or "x"


def _by_day(t: Thread) -> dict[str, list[Item]]:
    out: dict[str, list[Item]] = {}
    for it in t.items:
        out.setdefault(_day(it.message.sent_at), []).append(it)
    return out


def _line(it: Item) -> str:
    m = it.message
    when = datetime.fromtimestamp(m.sent_at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
    text = text_view(m.payload) or f"[{m.kind}]"
    tag = " (recalled)" if it.recalled else ""
    return f"[{when} UTC] {it.sender}{tag}: {text}"


def transcript(t: Thread, items: list[Item]) -> str:
    return f"{t.name}\n\n" + "\n".join(_line(it) for it in items) + "\n"


# --------------------------------------------------------------------------- JSONL, CSV


def write_jsonl(root: Path, threads: list[Thread]) -> list[str]:
    with open(root / "messages.jsonl", "wb") as f:
        for t in threads:
            for it in t.items:
                f.write(
                    b'{"v":1,"type":"message","message":' + JSON_ENCODER.encode(it.message) + b"}\n"
                )
    return ["messages.jsonl"]


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: str) -> str:
    """Text that a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + v if v.startswith(_FORMULA) else v


def write_csv(root: Path, threads: list[Thread]) -> list[str]:
    cols = [
        "message_id",
        "seq",
        "sent_at_utc",
        "conversation_id",
        "conversation",
        "sender_id",
        "sender",
        "recipients",
        "kind",
        "text",
        "recalled",
        "attachments",
    ]
    with open(root / "messages.csv", "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for t in threads:
            for it in t.items:
                m = it.message
                w.writerow(
                    [
                        _cell(str(v))
                        for v in (
                            m.id,
                            it.seq,
                            _iso(m.sent_at),
                            t.id,
                            t.name,
                            m.sender,
                            it.sender,
                            ";".join(m.recipients),
                            m.kind,
                            text_view(m.payload),
                            "yes" if it.recalled else "",
                            ";".join(p for p, _, _ in it.files),
                        )
                    ]
                )
    return ["messages.csv"]


# --------------------------------------------------------------------------- EML


def _addr(pid: str, name: str) -> str:
    local = safe_name(pid, 64)
    return formataddr((name or pid, f"{local}@participants.wxguard.invalid"))


def _email(t: Thread, day: str, items: list[Item], root: Path) -> EmailMessage:
    msg = EmailMessage()
    first = items[0].message
    msg["From"] = _addr(first.sender, t.people.get(first.sender, ""))
    others = sorted(p for p in t.people if p != first.sender)
    if others:
        msg["To"] = ", ".join(_addr(p, t.people[p]) for p in others)
    msg["Subject"] = f"{t.name} — {day}"
    msg["Date"] = format_datetime(datetime.fromtimestamp(first.sent_at / 1000, UTC))
    msg["X-Wxguard-Conversation"] = t.id
    msg["X-Wxguard-Messages"] = str(len(items))
    msg.set_content(transcript(t, items))
    for it in items:
        for path, name, _size in it.files:
            msg.add_attachment(
                (root / path).read_bytes(),
                maintype="application",
                subtype="octet-stream",
                filename=name,
            )
    return msg


def write_eml(root: Path, threads: list[Thread]) -> list[str]:
    out = []
    for t in threads:
        for day, items in _by_day(t).items():
            rel = f"eml/{safe_name(t.id)}/{day}.eml"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(bytes(_email(t, day, items, root)))
            out.append(rel)
    return out


# --------------------------------------------------------------------------- RSMF


def _custom(**kv: Any) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in kv.items() if v not in (None, "")]


def rsmf_manifest(t: Thread, items: list[Item], custodian: str | None) -> dict[str, Any]:
    people = {it.message.sender for it in items} | set(t.people)
    participants = [
        {"id": p, "display": t.people.get(p) or p, "account_id": p} for p in sorted(people) if p
    ]
    conv: dict[str, Any] = {
        "id": t.id,
        "platform": platform_of(items),
        "participants": [p["id"] for p in participants],
        "display": t.name,
        "type": "channel" if t.type == ChatType.GROUP else "direct",
    }
    if custodian and custodian in people:
        conv["custodian"] = custodian
    events = []
    for it in items:
        m = it.message
        p = m.payload
        ev: dict[str, Any] = {
            "type": "disclaimer" if isinstance(p, Agree | Disagree) else "message",
            "id": m.id,
            "participant": m.sender,
            "conversation": t.id,
            "timestamp": _iso(m.sent_at),
            "body": text_view(p) or f"[{m.kind}]",
        }
        if custodian and m.sender:
            ev["direction"] = "outgoing" if m.sender == custodian else "incoming"
        if it.recalled:
            ev["deleted"] = True
        if isinstance(p, Revoke):
            ev["parent"] = f"{m.source}:{p.pre_msgid}"
        custom = _custom(kind=m.kind, seq=it.seq)
        if isinstance(p, RedPacket):
            custom += _custom(amount_fen=p.total_amount_fen, currency="CNY")
        elif isinstance(p, Transfer):
            custom += _custom(amount_fen=p.amount_fen, currency="CNY")
        ev["custom"] = custom
        if it.files:
            ev["attachments"] = [
                {"id": path.rsplit("/", 1)[-1], "display": name, "size": size}
                for path, name, size in it.files
            ]
        events.append(ev)
    return {
        "version": RSMF_VERSION,
        "participants": participants,
        "conversations": [conv],
        "events": events,
        "eventcollectionid": t.id,
    }


def write_rsmf(root: Path, threads: list[Thread], custodian: str | None = None) -> list[str]:
    """One RSMF file per conversation per day (Relativity's guidance: ≤ 10,000 events)."""
    out = []
    for t in threads:
        for day, items in _by_day(t).items():
            for part in range(0, len(items), 10_000):
                chunk = items[part : part + 10_000]
                manifest = rsmf_manifest(t, chunk, custodian)
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                    z.writestr(
                        "rsmf_manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2)
                    )
                    for it in chunk:
                        for path, _name, _size in it.files:
                            z.write(root / path, path.rsplit("/", 1)[-1])
                msg = EmailMessage()
                first = chunk[0].message
                msg["From"] = _addr(first.sender, t.people.get(first.sender, ""))
                msg["Subject"] = f"{t.name} — {day}"
                msg["X-RSMF-Version"] = RSMF_VERSION
                msg["X-RSMF-Generator"] = "wxguard"
                msg["X-RSMF-Application"] = platform_of(chunk)
                msg["X-RSMF-BeginDate"] = _iso(first.sent_at)
                msg["X-RSMF-EndDate"] = _iso(chunk[-1].message.sent_at)
                msg["X-RSMF-EventCount"] = str(len(chunk))
                msg["X-RSMF-EventCollectionID"] = t.id
                msg["X-RSMF-Participants"] = str(len(manifest["participants"]))
                msg["X-RSMF-AttachmentCount"] = str(sum(len(it.files) for it in chunk))
                if custodian:
                    msg["X-RSMF-Custodian"] = custodian
                msg.set_content(transcript(t, chunk))
                msg.add_attachment(
                    buf.getvalue(), maintype="application", subtype="zip", filename="rsmf.zip"
                )
                suffix = f"-{part // 10_000 + 1}" if len(items) > 10_000 else ""
                rel = f"rsmf/{safe_name(t.id)}-{day}{suffix}.rsmf"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(bytes(msg))
                out.append(rel)
    return out


# --------------------------------------------------------------------------- PDF


def write_pdf(
    root: Path,
    threads: list[Thread],
    title: str,
    font: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """A readable transcript. Chinese needs a CJK font: ``font`` embeds a TrueType file;
    without one the PDF names Adobe's standard Song font (STSong-Light, not embedded),
    which every PDF reader with Asian font support renders and ``pdftotext`` extracts."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer

    if font is not None:
        name = "WxgExportFont"
        pdfmetrics.registerFont(TTFont(name, str(font)))
    else:
        name = "STSong-Light"
        pdfmetrics.registerFont(UnicodeCIDFont(name))
    body = ParagraphStyle("b", fontName=name, fontSize=9, leading=13, wordWrap="CJK")
    head = ParagraphStyle("h", fontName=name, fontSize=13, leading=18, spaceAfter=6)
    small = ParagraphStyle("s", fontName=name, fontSize=7, leading=9, textColor="#555555")
    story: list[Any] = [Paragraph(escape(title), head)]
    n = 0
    for i, t in enumerate(threads):
        if i:
            story.append(PageBreak())
        story.append(Paragraph(escape(f"{t.name}  ({t.id})"), head))
        for it in t.items:
            text = escape(_line(it)[:20_000]).replace("\n", "<br/>")
            story.append(Paragraph(text, body))
            story.append(Paragraph(escape(f"{it.message.id} · seq {it.seq}"), small))
            story.append(Spacer(1, 2 * mm))
            n += 1
            if progress and n % 1000 == 0:
                progress(n)
    doc = SimpleDocTemplate(
        str(root / "transcript.pdf"),
        pagesize=A4,
        title=title,
        author="wxguard",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
    )
    doc.build(story)
    return ["transcript.pdf"]
