"""Views derived from a message's payload for later stages.

``text_view`` is what detectors scan — one line per textual part of any kind (a file's
name; a link's title, description and URL; every item of a forwarded chat record…).
``attachments_of`` lists every attachment a payload carries, nested ones included.
"""

from __future__ import annotations

from .model import (
    Attachment,
    Calendar,
    Card,
    ChatRecord,
    ChatRecordItem,
    Collect,
    DocMsg,
    Emotion,
    File,
    Image,
    Link,
    Location,
    Markdown,
    Meeting,
    MeetingNotification,
    MeetingVoiceCall,
    Mixed,
    News,
    Payload,
    QyDiskFile,
    RedPacket,
    SphFeed,
    System,
    Text,
    Todo,
    Transfer,
    Video,
    Voice,
    VoipDocShare,
    Vote,
    Weapp,
)


def _attachment_text(a: Attachment) -> list[str]:
    return [a.name] if a.name else []


def text_view(payload: Payload) -> str:
    """The text detectors scan, derived for every kind (one line per part)."""
    parts = _text_parts(payload)
    return "\n".join(p for p in parts if p)


def _text_parts(p: Payload) -> list[str]:
    match p:
        case Text():
            return [p.content]
        case Markdown():
            return [p.content]
        case Voice():
            return [*_attachment_text(p.attachment), p.transcript]
        case Image() | Video() | Emotion():
            return _attachment_text(p.attachment)
        case File():
            return _attachment_text(p.attachment)
        case Link():
            return [p.title, p.description, p.url]
        case Weapp():
            return [p.displayname, p.title, p.description, p.username]
        case RedPacket():  # the amount is in the view so money detectors see it
            amount = f"红包 ¥{p.total_amount_fen / 100:.2f}" if p.total_amount_fen else ""
            return [p.wish, amount]
        case Location():
            return [p.title, p.address]
        case Card():
            return [p.name, p.corpname, p.userid]
        case Transfer():  # the amount is in the view so money detectors see it
            amount = f"转账 ¥{p.amount_fen / 100:.2f}" if p.amount_fen else ""
            return [amount, p.memo]
        case System():
            return [p.content]
        case ChatRecord():
            return [p.title, *(_item_text(i) for i in p.items)]
        case Mixed():
            return [_item_text(i) for i in p.items]
        case Meeting():
            return [p.topic, p.address, p.remarks]
        case MeetingNotification():
            return [p.content]
        case DocMsg():
            return [p.title, p.url]
        case News():
            return [s for it in p.items for s in (it.title, it.description, it.url)]
        case Calendar():
            return [p.title, p.place, p.remarks]
        case MeetingVoiceCall():
            return [d.filename for d in p.demo_files]
        case VoipDocShare():
            return _attachment_text(p.attachment)
        case SphFeed():
            return [p.channel_name, p.description]
        case QyDiskFile():
            return [p.filename]
        case Todo():
            return [p.title, p.content]
        case Vote():
            return [p.title, *p.options]
        case Collect():
            return [p.title, *(d.question for d in p.details)]
        case _:
            return []


def _item_text(item: ChatRecordItem) -> str:
    if item.body is not None:
        return text_view(item.body)
    return item.raw


def attachments_of(payload: Payload) -> list[Attachment]:
    """Every attachment a payload carries, nested ones included."""
    match payload:
        case Voice():
            return [payload.attachment, payload.wav] if payload.wav else [payload.attachment]
        case Image() | Video() | Emotion() | File():
            return [payload.attachment]
        case MeetingVoiceCall() | VoipDocShare():
            return [payload.attachment] if payload.attachment.sdkfileid else []
        case ChatRecord() | Mixed():
            out: list[Attachment] = []
            for item in payload.items:
                if item.body is not None:
                    out.extend(attachments_of(item.body))
            return out
        case _:
            return []
