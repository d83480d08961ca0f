"""WeChat message bodies → canonical payloads, parsing the XML safely.

One function, :func:`payload_of`, serves every client format: it takes the base type
(PC ``Type`` / 4.x ``local_type & 0xFFFFFFFF`` / Android & iOS ``type``), the app
sub-type (PC ``SubType`` / 4.x ``local_type >> 32``; re-read from ``<appmsg><type>``
when 0) and the content string (sender prefix already stripped).

XML safety: ``defusedxml`` refuses any DTD, entity declaration or external reference
(billion-laughs and XXE inputs fail, they are never expanded), documents over
:data:`MAX_XML` bytes are refused before parsing, and a nested document (a chat
record's ``recorditem``, a quote's ``refermsg/content``) gets the same treatment.
A body that cannot be parsed raises :class:`BodyError`; the importer quarantines the
record with that reason and goes on.

Type tables: ``shared/specs/wechat-client-data.md`` §4.1 (base types), §4.2 (app
sub-types), §4.5 (XML layouts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element, ParseError
from xml.etree.ElementTree import fromstring as fast_fromstring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..model import (
    AnyPayload,
    Attachment,
    Card,
    ChatRecord,
    ChatRecordItem,
    Emotion,
    File,
    Image,
    Link,
    Location,
    Payload,
    RedPacket,
    Revoke,
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

MAX_XML = 1 << 20  # bytes of one XML document (a real app message is a few KiB)
MAX_RECORD_ITEMS = 2000
MAX_RECORD_DEPTH = 4

_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.S)
_NUMREF = re.compile(r"&#(?:x[0-9a-fA-F]+|[0-9]+);")
_TAG = re.compile(r"<[^>]{0,500}>")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_DTD = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.I)


class BodyError(ValueError):
    """A message body that cannot be turned into a payload (named reason)."""


@dataclass
class Extras:
    """What a row carries beside its content (format-specific columns, already decoded)."""

    transcript: str = ""  # voice transcription from packed_info_data (4.x)
    call_kind: str = ""  # PC 3.x VoIP BytesExtra item 3: "1" voice, "0" video
    call_seconds: int = 0  # PC 3.x VoIP BytesExtra item 4
    paths: list[str] = field(default_factory=list)  # media paths the row names


def parse_xml(text: str, what: str = "app-message XML") -> Element:
    """Parse one XML document safely; lenient about what real exports contain.

    Entities can only be declared inside a DTD, so a document without ``<!DOCTYPE`` goes
    to the C parser (fast path); one with it goes through ``defusedxml``, which refuses
    the DTD (a ``<!DOCTYPE`` that only sits inside CDATA still parses there).
    """
    if len(text) > MAX_XML or len(text.encode("utf-8", "surrogatepass")) > MAX_XML:
        raise BodyError(f"{what} exceeds {MAX_XML >> 10} KiB")
    body = _XML_DECL.sub("", text, count=1).strip()
    start = body.find("<")
    if start < 0:
        raise BodyError(f"{what} is not XML")
    body = body[start:]
    last: Exception | None = None
    for attempt in (body, _CTRL.sub("", body), _NUMREF.sub("", _CTRL.sub("", body))):
        try:
            return _parse(attempt)
        except DefusedXmlException as e:
            raise BodyError(
                f"{what} declares a DTD or entities (refused, never expanded): {type(e).__name__}"
            ) from None
        except ParseError as e:
            last = e
            if "junk after document element" in str(e):
                break  # several roots: try the synthetic root at once
    try:  # a fragment with several roots (4.x VoIP) parses under a synthetic root
        return _parse(f"<root>{body}</root>")
    except (DefusedXmlException, ParseError):
        pass
    raise BodyError(f"malformed {what}: {last}")


def _parse(text: str) -> Element:
    if _DTD.search(text) is None:  # decided on the exact text parsed
        return fast_fromstring(text)
    return fromstring(text, forbid_dtd=True, forbid_entities=True)


def _t(el: Element | None, path: str) -> str:
    if el is None:
        return ""
    v = el.findtext(path)
    return v.strip() if v else ""


def _a(el: Element | None, name: str) -> str:
    if el is None:
        return ""
    return (el.get(name) or "").strip()


def _int(s: str) -> int:
    try:
        return max(0, int(float(s)))
    except (TypeError, ValueError):
        return 0


def _float(s: str) -> float:
    try:
        return float(s)
    except (TypeError, ValueError):
        return 0.0


def yuan_to_fen(text: str) -> int:
    """``￥150.00`` / ``150.00元`` / ``¥1,200`` → fen; 0 when no amount is present."""
    m = re.search(r"(\d[\d,]*(?:\.\d{1,2})?)", text or "")
    if not m:
        return 0
    try:
        return int(Decimal(m.group(1).replace(",", "")) * 100)
    except InvalidOperation:
        return 0


def strip_markup(text: str) -> str:
    """System lines embed ``<a href=…>重新编辑</a>`` and similar: keep the words."""
    text = re.sub(r"<a [^>]*>[^<]*</a>", "", text)
    return _TAG.sub("", text).strip()


def _appmsg(root: Element) -> Element:
    app = root.find("appmsg") if root.tag != "appmsg" else root
    if app is None:
        raise BodyError("app message without <appmsg>")
    return app


# --------------------------------------------------------------------------- main entry

_TRANSFER_STATUS = {1: "sent", 3: "received", 4: "refunded", 5: "received", 7: "pending"}
_RECORD_KINDS = {
    1: "text",
    2: "image",
    3: "voice",
    4: "video",
    5: "link",
    6: "location",
    8: "file",
    16: "card",
    17: "chatrecord",
    19: "weapp",
    22: "sphfeed",
    23: "sphfeed",
    26: "sphfeed",
    32: "link",
    37: "emotion",
}
_LINK_SUBTYPES = frozenset((3, 4, 5, 24, 40, 44, 68, 76, 92))
_TEXT_SUBTYPES = frozenset((1, 53, 87))


def payload_of(base: int, sub: int, content: str, extras: Extras | None = None) -> AnyPayload:
    """The canonical payload of one WeChat message. Raises :class:`BodyError`."""
    ex = extras or Extras()
    if base == 1:
        return Text(content=content)
    if base in (10000, 10002):
        return _system(content)
    if base == 50:
        return _voip(content, ex)
    if base in (37, 40):
        root = (
            parse_xml(content, "friend-request XML") if content.lstrip().startswith("<") else None
        )
        words = _a(root, "content") or _a(root, "fromnickname") or content
        return System(content=strip_markup(words), event="friend-request")
    if base not in (3, 34, 42, 43, 47, 48, 49, 62, 66):
        return Unknown(msgtype=f"wechat:{base}/{sub}" if sub else f"wechat:{base}")
    root = parse_xml(content)
    if base == 3:
        img = root.find("img")
        return Image(
            attachment=Attachment(md5=_a(img, "md5"), size=_int(_a(img, "length")) or None)
        )
    if base == 34:
        v = root.find("voicemsg")
        trans = _a(root.find("voicetrans"), "transtext") or ex.transcript
        return Voice(
            attachment=Attachment(size=_int(_a(v, "length")) or None, ext="silk"),
            duration_s=round(_int(_a(v, "voicelength")) / 1000),
            transcript=trans,
        )
    if base in (43, 62):
        v = root.find("videomsg")
        att = Attachment(md5=_a(v, "md5"), size=_int(_a(v, "length")) or None, ext="mp4")
        return Video(attachment=att, duration_s=_int(_a(v, "playlength")))
    if base == 47:
        e = root.find("emoji")
        return Emotion(
            attachment=Attachment(md5=_a(e, "md5"), size=_int(_a(e, "len")) or None),
            width=_int(_a(e, "width")),
            height=_int(_a(e, "height")),
        )
    if base == 48:
        loc = root.find("location")
        return Location(
            latitude=_float(_a(loc, "x")),
            longitude=_float(_a(loc, "y")),
            address=_a(loc, "label"),
            title=_a(loc, "poiname"),
            zoom=_int(_a(loc, "scale")),
        )
    if base in (42, 66):
        el = root if root.tag == "msg" else root.find("msg")
        return Card(
            userid=_a(el, "username"),
            name=_a(el, "nickname"),
            corpname=_a(el, "openimdesc"),
        )
    return _app(root, sub)


def _app(root: Element, sub: int, depth: int = 0) -> AnyPayload:
    app = _appmsg(root)
    sub = _int(_t(app, "type")) or sub
    title, des, url = _t(app, "title"), _t(app, "des"), _t(app, "url")
    if sub in _LINK_SUBTYPES:
        info = root.find("appinfo")
        return Link(
            title=title,
            description=des,
            url=url,
            image_url=_t(app, "thumburl"),
            app_id=_a(app, "appid"),
            app_name=_t(info, "appname"),
        )
    if sub in (6, 74):
        att = app.find("appattach")
        ext = _t(att, "fileext")
        return File(
            attachment=Attachment(
                name=title,
                ext=ext,
                md5=_t(app, "md5") or _t(att, "md5"),
                size=_int(_t(att, "totallen")) or None,
            )
        )
    if sub in (33, 36):
        wa = app.find("weappinfo")
        return Weapp(
            title=title,
            description=des,
            username=_t(wa, "username") or _t(app, "sourceusername"),
            displayname=_t(app, "sourcedisplayname") or _t(wa, "nickname"),
            appid=_t(wa, "appid") or _a(app, "appid"),
        )
    if sub == 57:
        ref = app.find("refermsg")
        quoted = _t(ref, "content")
        rtype = _int(_t(ref, "type"))
        if rtype != 1 and quoted.lstrip().startswith("<"):
            quoted = _quoted_summary(rtype, quoted)
        elif ":\n" in quoted[:80]:
            quoted = quoted.split(":\n", 1)[1]
        return Text(
            content=title,
            quote_author=_t(ref, "displayname") or _t(ref, "chatusr"),
            quote_text=quoted,
        )
    if sub == 19:
        return _record(app, title, depth)
    if sub == 2000:
        pay = app.find("wcpayinfo")
        kind = _int(_t(pay, "paysubtype"))
        return Transfer(
            amount_fen=yuan_to_fen(_t(pay, "feedesc")),
            status=_TRANSFER_STATUS.get(kind, "unknown"),
            memo=_t(pay, "pay_memo"),
            payer=_t(pay, "payer_username"),
            receiver=_t(pay, "receiver_username"),
            transfer_id=_t(pay, "transferid") or _t(pay, "transcationid"),
        )
    if sub in (2001, 2003):
        pay = app.find("wcpayinfo")
        wish = _t(pay, "receivertitle") or _t(pay, "sendertitle") or des or title
        return RedPacket(packet_type=1, wish=wish)  # the amount is not in the XML (spec §4.5)
    if sub in (50, 51, 63, 88):
        feed = app.find("finderFeed")
        if feed is None:
            feed = app.find("finderLive")
        if feed is None:
            feed = app.find("findernamecard")
        return SphFeed(
            feed_type=9 if sub in (63, 88) else _int(_t(feed, "feedType")),
            channel_name=_t(feed, "nickname"),
            description=_t(feed, "desc") or title,
        )
    if sub == 62:
        return System(content=title, event="pat")
    if sub in (8, 15):
        return Emotion(attachment=Attachment(md5=_t(app, "md5")))
    if sub == 2:
        return Image(attachment=Attachment(md5=_t(app, "md5")))
    if sub == 17:
        return System(content=title or "location sharing", event="location-share")
    if sub in _TEXT_SUBTYPES or title:
        return Text(content="\n".join(x for x in (title, des) if x))
    return Unknown(msgtype=f"wechat:49/{sub}")


def _quoted_summary(rtype: int, xml: str) -> str:
    try:
        p = payload_of(rtype, 0, xml)
    except BodyError:
        return ""
    from ..textview import text_view

    return text_view(p) or f"[{type(p).__struct_config__.tag}]"


def _record(app: Element, title: str, depth: int) -> ChatRecord:
    inner = _t(app, "recorditem")
    items: list[ChatRecordItem] = []
    if inner and depth < MAX_RECORD_DEPTH:
        info = parse_xml(inner, "chat-record XML")
        for di in info.iter("dataitem"):
            if len(items) >= MAX_RECORD_ITEMS:
                break
            items.append(_record_item(di, depth))
    return ChatRecord(title=title, items=items)


def _record_item(di: Element, depth: int) -> ChatRecordItem:
    dt = _int(di.get("datatype") or "")
    kind = _RECORD_KINDS.get(dt, f"datatype-{dt}")
    sent = _int(_t(di, "srcMsgCreateTime"))
    desc, dtitle = _t(di, "datadesc"), _t(di, "datatitle")
    body: Payload | None
    match kind:
        case "text":
            body = Text(content=desc)
        case "file":
            body = File(
                attachment=Attachment(
                    name=dtitle, size=_int(_t(di, "datasize")) or None, md5=_t(di, "fullmd5")
                )
            )
        case "image":
            body = Image(attachment=Attachment(md5=_t(di, "fullmd5")))
        case "video":
            body = Video(attachment=Attachment(md5=_t(di, "fullmd5")))
        case "voice":
            body = Voice(attachment=Attachment(), transcript=desc)
        case "link":
            body = Link(title=dtitle, description=desc, url=_t(di, "link") or _t(di, "dataurl"))
        case "location":
            loc = di.find("locitem")
            body = Location(title=_t(loc, "poiname"), address=_t(loc, "label") or desc)
        case "chatrecord":
            nested = _t(di, "recordxml")
            body = ChatRecord(title=dtitle or desc)
            if nested and depth + 1 < MAX_RECORD_DEPTH:
                try:
                    root = parse_xml(nested, "nested chat-record XML")
                    body = ChatRecord(
                        title=dtitle or desc,
                        items=[_record_item(x, depth + 1) for x in root.iter("dataitem")][
                            :MAX_RECORD_ITEMS
                        ],
                    )
                except BodyError:
                    pass
        case "weapp":
            body = Weapp(title=dtitle, description=desc)
        case _:
            body = (
                Text(content="\n".join(x for x in (dtitle, desc) if x)) if dtitle or desc else None
            )
    author = _t(di, "sourcename")
    if body is not None and isinstance(body, Text) and author:
        body = Text(content=body.content, quote_author=author)
    return ChatRecordItem(item_type=kind, sent_at=sent * 1000 if sent else None, body=body)


def _system(content: str) -> AnyPayload:
    text = content.strip()
    if not text.startswith("<"):
        return System(content=strip_markup(text))
    root = parse_xml(text, "system-message XML")
    sys = root if root.tag == "sysmsg" else root.find(".//sysmsg")
    if sys is None:
        return System(content=strip_markup("".join(root.itertext())))
    typ = sys.get("type") or ""
    if typ == "revokemsg":
        rv = sys.find("revokemsg")
        newid = _t(rv, "newmsgid")
        words = strip_markup(_t(rv, "replacemsg"))
        if newid.isdigit() and newid != "0":
            return Revoke(pre_msgid=newid)
        return System(content=words, event="recall")
    if typ == "sysmsgtemplate":
        tmpl = sys.find(".//content_template")
        words = _t(tmpl, "template")
        for link in tmpl.iter("link") if tmpl is not None else ():
            names = [_t(m, "nickname") or _t(m, "username") for m in link.iter("member")] or [
                _t(link, "title")
            ]
            words = words.replace(f"${link.get('name', '')}$", "、".join(n for n in names if n))
        return System(content=strip_markup(words), event=_a(tmpl, "type") or "template")
    if typ == "pat":
        return System(content=strip_markup(_t(sys, ".//template")), event="pat")
    words = _t(sys, ".//plain") or _t(sys, ".//text") or "".join(sys.itertext())
    return System(content=strip_markup(words), event=typ)


def _voip(content: str, ex: Extras) -> AnyPayload:
    text = content.strip()
    if text.startswith("<"):
        root = parse_xml(text, "call XML")
        words = _t(root, ".//msg") or _t(root, ".//diaplay_content")
        return VoipText(
            call_duration_s=_int(_t(root, ".//duration")), invite_type=1 if "视频" in words else 2
        )
    seconds = ex.call_seconds if text == "11" else 0
    return VoipText(call_duration_s=seconds, invite_type=1 if ex.call_kind == "0" else 2)
