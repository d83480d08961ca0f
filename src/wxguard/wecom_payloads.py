"""How each WeCom msgtype's payload maps to the canonical model (specs/wecom-archive.md §2.2).

One small mapper per msgtype, in ``BUILDERS``, built on typed field access whose errors
name the field path (``redpacket.totalamount must be a number``) and never its value.
Record-level parsing and dispatch live in :mod:`wxguard.wecom`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .model import (
    Agree,
    AnyPayload,
    Attachment,
    Calendar,
    Card,
    ChatRecord,
    ChatRecordItem,
    Collect,
    CollectDetail,
    DemoFile,
    Disagree,
    DocMsg,
    Emotion,
    ExternalRedPacket,
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
    NewsItem,
    QyDiskFile,
    RedPacket,
    Revoke,
    ScreenShare,
    SphFeed,
    Text,
    Todo,
    Video,
    Voice,
    VoipDocShare,
    VoipText,
    Vote,
    Weapp,
)
from .wecom_fields import (
    JsonObj,
    NormaliseError,
    get_float,
    get_int,
    get_list,
    get_nonneg,
    get_str,
)


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
        sdkfileid=get_str(p, "sdkfileid", path),
        md5=get_str(p, "md5sum", path).lower(),
        size=get_nonneg(p, size_key, path) if size is not None else None,
        name=get_str(p, "filename", path),
        ext=get_str(p, "fileext", path).lstrip("."),
    )


# --------------------------------------------------------------------------- payloads

_QUOTE_PREFIXES = ("这是一条引用/回复消息：", "This is a quote/reply:")


def _text(p: JsonObj, path: str) -> Text:
    content = get_str(p, "content", path)
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
        duration_s=get_nonneg(p, "play_length", path),
    )


def _video(p: JsonObj, path: str) -> Video:
    return Video(attachment=_attachment(p, path), duration_s=get_nonneg(p, "play_length", path))


def _emotion(p: JsonObj, path: str) -> Emotion:
    fmt = {1: "gif", 2: "png"}.get(get_int(p, "type", path), "")
    return Emotion(
        attachment=_attachment(p, path, "imagesize"),
        format=fmt,
        width=get_nonneg(p, "width", path),
        height=get_nonneg(p, "height", path),
    )


def _file(p: JsonObj, path: str) -> File:
    return File(attachment=_attachment(p, path))


def _link(p: JsonObj, path: str) -> Link:
    return Link(
        title=get_str(p, "title", path),
        description=get_str(p, "description", path),
        url=get_str(p, "link_url", path),
        image_url=get_str(p, "image_url", path),
    )


def _weapp(p: JsonObj, path: str) -> Weapp:
    return Weapp(
        title=get_str(p, "title", path),
        description=get_str(p, "description", path),
        username=get_str(p, "username", path),
        displayname=get_str(p, "displayname", path),
    )


def _redpacket(p: JsonObj, path: str) -> RedPacket:
    return RedPacket(
        packet_type=get_int(p, "type", path),
        wish=get_str(p, "wish", path),
        total_count=get_nonneg(p, "totalcnt", path),
        total_amount_fen=get_nonneg(p, "totalamount", path),
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
        longitude=get_float(p, "longitude", path),
        latitude=get_float(p, "latitude", path),
        address=get_str(p, "address", path),
        title=get_str(p, "title", path),
        zoom=get_int(p, "zoom", path),
    )


def _card(p: JsonObj, path: str) -> Card:
    return Card(corpname=get_str(p, "corpname", path), userid=get_str(p, "userid", path))


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
    item_type = get_str(item, "type", path)
    msgtype = type_map.get(item_type, "") if type_map is not None else item_type
    content = item.get("content")
    sent_at = _ms_or_s(get_int(item, "msgtime", path)) if "msgtime" in item else None
    from_room = bool(item.get("from_chatroom", False))
    raw = content if isinstance(content, str) else ""
    body: AnyPayload | None = None
    inner: Any = content
    if isinstance(content, str):
        try:
            inner = json.loads(content, strict=False)
        except json.JSONDecodeError:
            inner = None
    builder = BUILDERS.get(msgtype)
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
        for i, it in enumerate(get_list(p, "item", path))
    ]
    return ChatRecord(title=get_str(p, "title", path), items=items)


def _mixed(p: JsonObj, path: str) -> Mixed:
    items = [
        _nested_item(it, f"{path}.item[{i}]", None)
        for i, it in enumerate(get_list(p, "item", path))
    ]
    return Mixed(items=items)


def _revoke(p: JsonObj, path: str) -> Revoke:
    pre = get_str(p, "pre_msgid", path)
    if not pre:
        raise NormaliseError(f"{path}.pre_msgid is missing")
    return Revoke(pre_msgid=pre)


def _agree(p: JsonObj, path: str) -> Agree:
    return Agree(userid=get_str(p, "userid", path), at=get_nonneg(p, "agree_time", path))


def _disagree(p: JsonObj, path: str) -> Disagree:
    return Disagree(userid=get_str(p, "userid", path), at=get_nonneg(p, "disagree_time", path))


def _meeting(p: JsonObj, path: str) -> Meeting:
    return Meeting(
        topic=get_str(p, "topic", path),
        start=_sec_to_ms(get_int(p, "starttime", path)),
        end=_sec_to_ms(get_int(p, "endtime", path)),
        address=get_str(p, "address", path),
        remarks=get_str(p, "remarks", path),
        meeting_type=get_int(p, "meetingtype", path),
        meeting_id=get_int(p, "meetingid", path),
        status=get_int(p, "status", path),
    )


def _meeting_notification(p: JsonObj, path: str) -> MeetingNotification:
    return MeetingNotification(
        content=get_str(p, "content", path),
        meeting_id=get_int(p, "meeting_id", path),
        notification_type=get_int(p, "notification_type", path),
    )


def _docmsg(p: JsonObj, path: str) -> DocMsg:
    return DocMsg(
        title=get_str(p, "title", path),
        creator=get_str(p, "doc_creator", path),
        url=get_str(p, "link_url", path),
    )


def _markdown(p: JsonObj, path: str) -> Markdown:
    return Markdown(content=get_str(p, "content", path))


def _news(p: JsonObj, path: str) -> News:
    raw_items = get_list(p, "item", path)
    if not raw_items and any(k in p for k in ("title", "url", "description")):
        raw_items = [p]  # older single-item shape (§2.2.23)
    items = []
    for i, it in enumerate(raw_items):
        ip = f"{path}.item[{i}]"
        if not isinstance(it, dict):
            raise NormaliseError(f"{ip} must be an object")
        items.append(
            NewsItem(
                title=get_str(it, "title", ip),
                description=get_str(it, "description", ip),
                url=get_str(it, "url", ip),
                picurl=get_str(it, "picurl", ip),
            )
        )
    return News(items=items)


def _calendar(p: JsonObj, path: str) -> Calendar:
    return Calendar(
        title=get_str(p, "title", path),
        creator_name=get_str(p, "creatorname", path),
        attendees=[str(a) for a in get_list(p, "attendeename", path)],
        start=_sec_to_ms(get_int(p, "starttime", path)),
        end=_sec_to_ms(get_int(p, "endtime", path)),
        place=get_str(p, "place", path),
        remarks=get_str(p, "remarks", path),
    )


def _voiptext(p: JsonObj, path: str) -> VoipText:
    return VoipText(
        call_duration_s=get_nonneg(p, "callduration", path),
        invite_type=get_int(p, "invitetype", path),
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
            filename=get_str(d, "filename", path),
            operator=get_str(d, "demooperator", path),
            start=_sec_to_ms(get_int(d, "starttime", path)),
            end=_sec_to_ms(get_int(d, "endtime", path)),
        )
        for d in _span_list(get_list(p, "demofiledata", path), f"{path}.demofiledata")
    ]
    shares = [
        ScreenShare(
            sharer=get_str(s, "share", path),
            start=_sec_to_ms(get_int(s, "starttime", path)),
            end=_sec_to_ms(get_int(s, "endtime", path)),
        )
        for s in _span_list(get_list(p, "sharescreendata", path), f"{path}.sharescreendata")
    ]
    return MeetingVoiceCall(
        end=_sec_to_ms(get_int(p, "endtime", path)),
        attachment=_attachment(p, path),
        demo_files=demos,
        screen_shares=shares,
    )


def _voip_doc_share(p: JsonObj, path: str) -> VoipDocShare:
    return VoipDocShare(attachment=_attachment(p, path))


def _sphfeed(p: JsonObj, path: str) -> SphFeed:
    return SphFeed(
        feed_type=get_int(p, "feed_type", path),
        channel_name=get_str(p, "sph_name", path),
        description=get_str(p, "feed_desc", path),
    )


def _qydiskfile(p: JsonObj, path: str) -> QyDiskFile:
    return QyDiskFile(filename=get_str(p, "filename", path))


def _todo(p: JsonObj, path: str) -> Todo:
    return Todo(title=get_str(p, "title", path), content=get_str(p, "content", path))


def _vote(p: JsonObj, path: str) -> Vote:
    return Vote(
        title=get_str(p, "votetitle", path),
        options=[str(o) for o in get_list(p, "voteitem", path)],
        vote_type=get_int(p, "votetype", path),
        vote_id=get_str(p, "voteid", path),
    )


def _collect(p: JsonObj, path: str) -> Collect:
    details = [
        CollectDetail(
            id=get_int(d, "id", path),
            question=get_str(d, "ques", path),
            type=get_str(d, "type", path),
        )
        for d in _span_list(get_list(p, "details", path), f"{path}.details")
    ]
    return Collect(
        room_name=get_str(p, "room_name", path),
        creator=get_str(p, "creator", path),
        create_time=get_str(p, "create_time", path),
        title=get_str(p, "title", path),
        details=details,
    )


Builder = Callable[[JsonObj, str], AnyPayload]

BUILDERS: dict[str, Builder] = {
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
