"""Decrypted WeCom session-archive JSON (the output of ``DecryptData``) → canonical model.

References are to ``shared/specs/wecom-archive.md``. Pitfalls handled (§2.5):
raw control characters in the JSON (lenient parse, flagged), JSON-encoded strings
nested in ``chatrecord``/``mixed`` items, payload keys that differ from ``msgtype``
(§2 intro), absent ``roomid``, the ``switch`` shape (§2.2.22), ``vote`` fields
either nested or top level (§2.2.15), ``external_redpacket`` under either key
(§2.2.28), and ``chatrecord`` item times in seconds or milliseconds (§2.3).
Unknown msgtypes become :class:`~wxguard.model.Unknown` and are flagged, never dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import orjson

from .model import (
    Agree,
    AnyPayload,
    Attachment,
    Calendar,
    Card,
    ChatRecord,
    ChatRecordItem,
    ChatType,
    Collect,
    CollectDetail,
    DemoFile,
    Disagree,
    DocMsg,
    Emotion,
    ExternalRedPacket,
    File,
    Flag,
    Image,
    Link,
    Location,
    Markdown,
    Meeting,
    MeetingNotification,
    MeetingVoiceCall,
    Message,
    Mixed,
    News,
    NewsItem,
    QyDiskFile,
    RedPacket,
    Revoke,
    ScreenShare,
    SphFeed,
    Switch,
    Text,
    Todo,
    Unknown,
    Video,
    Voice,
    VoipDocShare,
    VoipText,
    Vote,
    Weapp,
    direct_conversation_id,
    message_id,
)

JsonObj = dict[str, Any]


class NormaliseError(ValueError):
    """A record that cannot be mapped. The text names fields, never their values."""


# --------------------------------------------------------------------------- parsing

_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def parse_record(raw: bytes) -> tuple[JsonObj, list[str]]:
    """Parse one decrypted record; returns the object and any parse flags."""
    flags: list[str] = []
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise NormaliseError(f"not valid UTF-8 (byte {e.start})") from None
        try:
            # §2.5: raw control characters inside strings; keep them, flag the record.
            obj = json.loads(text, strict=False)
        except json.JSONDecodeError as e:
            raise NormaliseError(f"malformed JSON: {e.msg} at column {e.colno}") from None
        flags.append(Flag.LENIENT_JSON)
        if _CONTROL.search(raw):
            flags.append(Flag.CONTROL_CHARS)
    if not isinstance(obj, dict):
        raise NormaliseError(f"record is a JSON {type(obj).__name__}, expected an object")
    return obj, flags


# --------------------------------------------------------------------------- field access


def _str(d: JsonObj, key: str, path: str) -> str:
    v = d.get(key)
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    raise NormaliseError(f"{path}.{key} must be a string, got {type(v).__name__}")


def _int(d: JsonObj, key: str, path: str) -> int:
    v = d.get(key)
    if v is None or v == "":
        return 0
    if isinstance(v, bool):
        raise NormaliseError(f"{path}.{key} must be a number, got bool")
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return int(v)
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v)
    raise NormaliseError(f"{path}.{key} must be a number, got {type(v).__name__}")


def _nonneg(d: JsonObj, key: str, path: str) -> int:
    v = _int(d, key, path)
    if v < 0:
        raise NormaliseError(f"{path}.{key} must not be negative")
    return v


def _float(d: JsonObj, key: str, path: str) -> float:
    v = d.get(key)
    if v is None or v == "":
        return 0.0
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    raise NormaliseError(f"{path}.{key} must be a number, got {type(v).__name__}")


def _obj(d: JsonObj, key: str, path: str) -> JsonObj:
    v = d.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise NormaliseError(f"{path}.{key} must be an object, got {type(v).__name__}")
    return v


def _list(d: JsonObj, key: str, path: str) -> list[Any]:
    v = d.get(key)
    if v is None:
        return []
    if not isinstance(v, list):
        raise NormaliseError(f"{path}.{key} must be a list, got {type(v).__name__}")
    return v


def _sec_to_ms(v: int) -> int | None:
    return v * 1000 if v > 0 else None


def _ms_or_s(v: int) -> int | None:
    """chatrecord item times are documented ms but sent as seconds (§2.3 CONFLICT)."""
    if v <= 0:
        return None
    return v if v >= 100_000_000_000 else v * 1000


def _attachment(p: JsonObj, path: str, size_key: str = "filesize") -> Attachment:
    size = p.get(size_key)
    return Attachment(
        sdkfileid=_str(p, "sdkfileid", path),
        md5=_str(p, "md5sum", path).lower(),
        size=_nonneg(p, size_key, path) if size is not None else None,
        name=_str(p, "filename", path),
        ext=_str(p, "fileext", path).lstrip("."),
    )


# --------------------------------------------------------------------------- payloads

_QUOTE_PREFIXES = ("这是一条引用/回复消息：", "This is a quote/reply:")


def _text(p: JsonObj, path: str) -> Text:
    content = _str(p, "content", path)
    for prefix in _QUOTE_PREFIXES:
        if content.startswith(prefix):
            # §2.2.1: PREFIX\n"USER:\nQUOTE"\n------\nREPLY
            body = content[len(prefix) :].lstrip("\n")
            quoted, sep, reply = body.partition("\n------\n")
            if not sep:
                break
            quoted = quoted.strip().strip('"')
            author, colon, qtext = quoted.partition(":\n")
            if not colon:
                author, qtext = "", quoted
            return Text(content=content, quote_author=author, quote_text=qtext, reply=reply)
    return Text(content=content)


def _media_image(p: JsonObj, path: str) -> Image:
    return Image(attachment=_attachment(p, path))


def _voice(p: JsonObj, path: str) -> Voice:
    return Voice(
        attachment=_attachment(p, path, "voice_size"),
        duration_s=_nonneg(p, "play_length", path),
    )


def _video(p: JsonObj, path: str) -> Video:
    return Video(attachment=_attachment(p, path), duration_s=_nonneg(p, "play_length", path))


def _emotion(p: JsonObj, path: str) -> Emotion:
    fmt = {1: "gif", 2: "png"}.get(_int(p, "type", path), "")
    return Emotion(
        attachment=_attachment(p, path, "imagesize"),
        format=fmt,
        width=_nonneg(p, "width", path),
        height=_nonneg(p, "height", path),
    )


def _file(p: JsonObj, path: str) -> File:
    return File(attachment=_attachment(p, path))


def _link(p: JsonObj, path: str) -> Link:
    return Link(
        title=_str(p, "title", path),
        description=_str(p, "description", path),
        url=_str(p, "link_url", path),
        image_url=_str(p, "image_url", path),
    )


def _weapp(p: JsonObj, path: str) -> Weapp:
    return Weapp(
        title=_str(p, "title", path),
        description=_str(p, "description", path),
        username=_str(p, "username", path),
        displayname=_str(p, "displayname", path),
    )


def _redpacket(p: JsonObj, path: str) -> RedPacket:
    return RedPacket(
        packet_type=_int(p, "type", path),
        wish=_str(p, "wish", path),
        total_count=_nonneg(p, "totalcnt", path),
        total_amount_fen=_nonneg(p, "totalamount", path),
    )


def _external_redpacket(p: JsonObj, path: str) -> ExternalRedPacket:
    r = _redpacket(p, path)
    return ExternalRedPacket(
        packet_type=r.packet_type,
        wish=r.wish,
        total_count=r.total_count,
        total_amount_fen=r.total_amount_fen,
    )


def _location(p: JsonObj, path: str) -> Location:
    return Location(
        longitude=_float(p, "longitude", path),
        latitude=_float(p, "latitude", path),
        address=_str(p, "address", path),
        title=_str(p, "title", path),
        zoom=_int(p, "zoom", path),
    )


def _card(p: JsonObj, path: str) -> Card:
    return Card(corpname=_str(p, "corpname", path), userid=_str(p, "userid", path))


# chatrecord item types (§2.2.13) → plain msgtype whose payload shape the content has.
_CHATRECORD_TYPES = {
    "ChatRecordText": "text",
    "ChatRecordImage": "image",
    "ChatRecordVoice": "voice",
    "ChatRecordVideo": "video",
    "ChatRecordFile": "file",
    "ChatRecordLink": "link",
    "ChatRecordLocation": "location",
    "ChatRecordCard": "card",
    "ChatRecordEmotion": "emotion",
    "ChatRecordWeapp": "weapp",
    "ChatRecordMixed": "mixed",
    "chatrecord": "chatrecord",
    "ChatRecord": "chatrecord",
}


def _nested_item(item: Any, path: str, type_map: dict[str, str] | None) -> ChatRecordItem:
    if not isinstance(item, dict):
        raise NormaliseError(f"{path} must be an object, got {type(item).__name__}")
    item_type = _str(item, "type", path)
    msgtype = type_map.get(item_type, "") if type_map is not None else item_type
    content = item.get("content")
    sent_at = _ms_or_s(_int(item, "msgtime", path)) if "msgtime" in item else None
    from_room = bool(item.get("from_chatroom", False))
    raw = content if isinstance(content, str) else ""
    body: AnyPayload | None = None
    inner: Any = content
    if isinstance(content, str):
        try:
            inner = json.loads(content, strict=False)
        except json.JSONDecodeError:
            inner = None
    builder = _BUILDERS.get(msgtype)
    if builder is not None and isinstance(inner, dict):
        try:
            body = builder(inner, f"{path}.content")
            raw = ""
        except NormaliseError:
            body = None
    return ChatRecordItem(
        item_type=item_type, sent_at=sent_at, from_chatroom=from_room, body=body, raw=raw
    )


def _chatrecord(p: JsonObj, path: str) -> ChatRecord:
    items = [
        _nested_item(it, f"{path}.item[{i}]", _CHATRECORD_TYPES)
        for i, it in enumerate(_list(p, "item", path))
    ]
    return ChatRecord(title=_str(p, "title", path), items=items)


def _mixed(p: JsonObj, path: str) -> Mixed:
    items = [
        _nested_item(it, f"{path}.item[{i}]", None) for i, it in enumerate(_list(p, "item", path))
    ]
    return Mixed(items=items)


def _revoke(p: JsonObj, path: str) -> Revoke:
    pre = _str(p, "pre_msgid", path)
    if not pre:
        raise NormaliseError(f"{path}.pre_msgid is missing")
    return Revoke(pre_msgid=pre)


def _agree(p: JsonObj, path: str) -> Agree:
    return Agree(userid=_str(p, "userid", path), at=_nonneg(p, "agree_time", path))


def _disagree(p: JsonObj, path: str) -> Disagree:
    return Disagree(userid=_str(p, "userid", path), at=_nonneg(p, "disagree_time", path))


def _meeting(p: JsonObj, path: str) -> Meeting:
    return Meeting(
        topic=_str(p, "topic", path),
        start=_sec_to_ms(_int(p, "starttime", path)),
        end=_sec_to_ms(_int(p, "endtime", path)),
        address=_str(p, "address", path),
        remarks=_str(p, "remarks", path),
        meeting_type=_int(p, "meetingtype", path),
        meeting_id=_int(p, "meetingid", path),
        status=_int(p, "status", path),
    )


def _meeting_notification(p: JsonObj, path: str) -> MeetingNotification:
    return MeetingNotification(
        content=_str(p, "content", path),
        meeting_id=_int(p, "meeting_id", path),
        notification_type=_int(p, "notification_type", path),
    )


def _docmsg(p: JsonObj, path: str) -> DocMsg:
    return DocMsg(
        title=_str(p, "title", path),
        creator=_str(p, "doc_creator", path),
        url=_str(p, "link_url", path),
    )


def _markdown(p: JsonObj, path: str) -> Markdown:
    return Markdown(content=_str(p, "content", path))


def _news(p: JsonObj, path: str) -> News:
    raw_items = _list(p, "item", path)
    if not raw_items and any(k in p for k in ("title", "url", "description")):
        raw_items = [p]  # older single-item shape (§2.2.23)
    items = []
    for i, it in enumerate(raw_items):
        ip = f"{path}.item[{i}]"
        if not isinstance(it, dict):
            raise NormaliseError(f"{ip} must be an object")
        items.append(
            NewsItem(
                title=_str(it, "title", ip),
                description=_str(it, "description", ip),
                url=_str(it, "url", ip),
                picurl=_str(it, "picurl", ip),
            )
        )
    return News(items=items)


def _calendar(p: JsonObj, path: str) -> Calendar:
    return Calendar(
        title=_str(p, "title", path),
        creator_name=_str(p, "creatorname", path),
        attendees=[str(a) for a in _list(p, "attendeename", path)],
        start=_sec_to_ms(_int(p, "starttime", path)),
        end=_sec_to_ms(_int(p, "endtime", path)),
        place=_str(p, "place", path),
        remarks=_str(p, "remarks", path),
    )


def _voiptext(p: JsonObj, path: str) -> VoipText:
    return VoipText(
        call_duration_s=_nonneg(p, "callduration", path),
        invite_type=_int(p, "invitetype", path),
    )


def _span_list(items: list[Any], path: str) -> list[JsonObj]:
    out = []
    for i, it in enumerate(items):
        if not isinstance(it, dict):
            raise NormaliseError(f"{path}[{i}] must be an object")
        out.append(it)
    return out


def _meeting_voice_call(p: JsonObj, path: str) -> MeetingVoiceCall:
    demos = [
        DemoFile(
            filename=_str(d, "filename", path),
            operator=_str(d, "demooperator", path),
            start=_sec_to_ms(_int(d, "starttime", path)),
            end=_sec_to_ms(_int(d, "endtime", path)),
        )
        for d in _span_list(_list(p, "demofiledata", path), f"{path}.demofiledata")
    ]
    shares = [
        ScreenShare(
            sharer=_str(s, "share", path),
            start=_sec_to_ms(_int(s, "starttime", path)),
            end=_sec_to_ms(_int(s, "endtime", path)),
        )
        for s in _span_list(_list(p, "sharescreendata", path), f"{path}.sharescreendata")
    ]
    return MeetingVoiceCall(
        end=_sec_to_ms(_int(p, "endtime", path)),
        attachment=_attachment(p, path),
        demo_files=demos,
        screen_shares=shares,
    )


def _voip_doc_share(p: JsonObj, path: str) -> VoipDocShare:
    return VoipDocShare(attachment=_attachment(p, path))


def _sphfeed(p: JsonObj, path: str) -> SphFeed:
    return SphFeed(
        feed_type=_int(p, "feed_type", path),
        channel_name=_str(p, "sph_name", path),
        description=_str(p, "feed_desc", path),
    )


def _qydiskfile(p: JsonObj, path: str) -> QyDiskFile:
    return QyDiskFile(filename=_str(p, "filename", path))


def _todo(p: JsonObj, path: str) -> Todo:
    return Todo(title=_str(p, "title", path), content=_str(p, "content", path))


def _vote(p: JsonObj, path: str) -> Vote:
    return Vote(
        title=_str(p, "votetitle", path),
        options=[str(o) for o in _list(p, "voteitem", path)],
        vote_type=_int(p, "votetype", path),
        vote_id=_str(p, "voteid", path),
    )


def _collect(p: JsonObj, path: str) -> Collect:
    details = [
        CollectDetail(
            id=_int(d, "id", path), question=_str(d, "ques", path), type=_str(d, "type", path)
        )
        for d in _span_list(_list(p, "details", path), f"{path}.details")
    ]
    return Collect(
        room_name=_str(p, "room_name", path),
        creator=_str(p, "creator", path),
        create_time=_str(p, "create_time", path),
        title=_str(p, "title", path),
        details=details,
    )


Builder = Callable[[JsonObj, str], AnyPayload]

_BUILDERS: dict[str, Builder] = {
    "text": _text,
    "image": _media_image,
    "voice": _voice,
    "video": _video,
    "emotion": _emotion,
    "file": _file,
    "link": _link,
    "weapp": _weapp,
    "redpacket": _redpacket,
    "external_redpacket": _external_redpacket,
    "location": _location,
    "card": _card,
    "chatrecord": _chatrecord,
    "revoke": _revoke,
    "agree": _agree,
    "disagree": _disagree,
    "meeting": _meeting,
    "meeting_notification": _meeting_notification,
    "docmsg": _docmsg,
    "markdown": _markdown,
    "news": _news,
    "calendar": _calendar,
    "mixed": _mixed,
    "voiptext": _voiptext,
    "meeting_voice_call": _meeting_voice_call,
    "voip_doc_share": _voip_doc_share,
    "sphfeed": _sphfeed,
    "qydiskfile": _qydiskfile,
    "todo": _todo,
    "vote": _vote,
    "collect": _collect,
}

# Payload key when it is not the msgtype (§2 intro, §2.2.28 accepts either key).
_PAYLOAD_KEYS: dict[str, tuple[str, ...]] = {
    "docmsg": ("doc", "docmsg"),
    "markdown": ("info", "markdown"),
    "news": ("info", "news"),
    "voiptext": ("info", "voiptext"),
    "qydiskfile": ("info", "qydiskfile"),
    "meeting_notification": ("info", "meeting_notification"),
    "external_redpacket": ("redpacket", "external_redpacket"),
}

WECOM_MSGTYPES: frozenset[str] = frozenset(_BUILDERS)


def _payload_obj(rec: JsonObj, msgtype: str) -> JsonObj:
    for key in _PAYLOAD_KEYS.get(msgtype, (msgtype,)):
        if key in rec:
            return _obj(rec, key, key)
    if msgtype == "vote":
        return rec  # Go SDKs put vote fields at top level (§2.2.15)
    return {}


def normalise(rec: JsonObj, source: str = "wecom", flags: list[str] | None = None) -> Message:
    """Map one decrypted WeCom record to a :class:`Message`."""
    flags = list(flags or [])
    msgid = rec.get("msgid")
    if not isinstance(msgid, str | int) or isinstance(msgid, bool) or msgid == "":
        raise NormaliseError("msgid is missing or not a string")
    msgid = str(msgid)
    action = _str(rec, "action", "record") or "send"
    mid = message_id(source, msgid)

    if action == "switch":  # §2.2.22: not a chat message, different shape
        user = _str(rec, "user", "record")
        at = _nonneg(rec, "time", "record")
        return Message(
            id=mid,
            source=source,
            source_msg_id=msgid,
            action=action,
            sender=user,
            conversation=f"switch:{user}",
            sent_at=at,
            payload=Switch(user=user),
            flags=flags,
        )

    msgtype = _str(rec, "msgtype", "record")
    sender = _str(rec, "from", "record")
    recipients = [str(r) for r in _list(rec, "tolist", "record")]
    roomid = _str(rec, "roomid", "record")
    sent_at = _nonneg(rec, "msgtime", "record")
    if sent_at == 0:
        flags.append(Flag.MSGTIME_ZERO)

    builder = _BUILDERS.get(msgtype)
    payload: AnyPayload
    if builder is None:
        flags.append(Flag.UNKNOWN_MSGTYPE)
        payload = Unknown(msgtype=msgtype)
    else:
        payload = builder(_payload_obj(rec, msgtype), msgtype)
        if isinstance(payload, MeetingVoiceCall):
            payload.voice_id = _str(rec, "voiceid", "record")
        elif isinstance(payload, VoipDocShare):
            payload.voip_id = _str(rec, "voipid", "record")
        if isinstance(payload, ChatRecord | Mixed) and any(
            i.body is None and i.raw for i in payload.items
        ):
            flags.append(Flag.NESTED_PARSE_ERROR)

    if roomid:
        chat, conversation = ChatType.GROUP, roomid
    else:
        peer = recipients[0] if recipients else sender
        chat, conversation = ChatType.DIRECT, direct_conversation_id(sender, peer)
    return Message(
        id=mid,
        source=source,
        source_msg_id=msgid,
        action=action,
        sender=sender,
        recipients=recipients,
        conversation=conversation,
        chat=chat,
        sent_at=sent_at,
        payload=payload,
        flags=flags,
    )


def normalise_bytes(raw: bytes, source: str = "wecom") -> Message:
    obj, flags = parse_record(raw)
    return normalise(obj, source, flags)
