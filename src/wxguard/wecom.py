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

import msgspec
import orjson

from .model import (
    AnyPayload,
    ChatRecord,
    ChatType,
    Flag,
    MeetingVoiceCall,
    Message,
    Mixed,
    Switch,
    Unknown,
    VoipDocShare,
    direct_conversation_id,
    message_id,
)
from .wecom_fields import (
    JsonObj,
    NormaliseError,
    get_list,
    get_nonneg,
    get_obj,
    get_str,
)
from .wecom_payloads import BUILDERS

__all__ = ["WECOM_MSGTYPES", "NormaliseError", "normalise", "normalise_bytes", "parse_record"]

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

WECOM_MSGTYPES: frozenset[str] = frozenset(BUILDERS)


def _payload_obj(rec: JsonObj, msgtype: str) -> JsonObj:
    for key in _PAYLOAD_KEYS.get(msgtype, (msgtype,)):
        if key in rec:
            return get_obj(rec, key, key)
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
    action = get_str(rec, "action", "record") or "send"
    mid = message_id(source, msgid)

    if action == "switch":  # §2.2.22: not a chat message, different shape
        user = get_str(rec, "user", "record")
        at = get_nonneg(rec, "time", "record")
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

    msgtype = get_str(rec, "msgtype", "record")
    sender = get_str(rec, "from", "record")
    recipients = [str(r) for r in get_list(rec, "tolist", "record")]
    roomid = get_str(rec, "roomid", "record")
    sent_at = get_nonneg(rec, "msgtime", "record")
    if sent_at == 0:
        flags.append(Flag.MSGTIME_ZERO)

    builder = BUILDERS.get(msgtype)
    payload: AnyPayload
    if builder is None:
        flags.append(Flag.UNKNOWN_MSGTYPE)
        payload = Unknown(msgtype=msgtype)
    else:
        payload = builder(_payload_obj(rec, msgtype), msgtype)
        if isinstance(payload, MeetingVoiceCall):
            payload.voice_id = get_str(rec, "voiceid", "record")
        elif isinstance(payload, VoipDocShare):
            payload.voip_id = get_str(rec, "voipid", "record")
        if isinstance(payload, ChatRecord | Mixed) and any(
            i.body is None and i.raw for i in payload.items
        ):
            flags.append(Flag.NESTED_PARSE_ERROR)

    chat, conversation = _conversation(sender, recipients, roomid)
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


def _conversation(sender: str, recipients: list[str], roomid: str) -> tuple[ChatType, str]:
    if roomid:
        return ChatType.GROUP, roomid
    peer = recipients[0] if recipients else sender
    return ChatType.DIRECT, direct_conversation_id(sender, peer)


# --------------------------------------------------------------------------- fast path
#
# Text messages are most of any archive. A well-formed one is decoded straight into typed
# structs (msgspec) instead of a dict read field by field (over the demo's mix, 80% text,
# parse + normalise went from 5.5 to 4.2 us per record; docs/performance.md). Any
# record the typed decoder rejects or that needs a rule of the general path — not
# ``"msgtype":"text"``, an empty id, a negative or non-integer time, numbers where strings
# belong, a null, lenient JSON, ``switch`` — goes through :func:`normalise`, which gives
# the same result or the precise error (a property test compares the two).


class _TextBody(msgspec.Struct, gc=False):
    content: str = ""


class _TextRecord(msgspec.Struct, gc=False):
    msgid: str = ""
    action: str = ""
    sender: str = msgspec.field(default="", name="from")
    tolist: list[str] = []
    roomid: str = ""
    msgtime: int = 0
    msgtype: str = ""
    text: _TextBody | None = None


_TEXT_RECORD = msgspec.json.Decoder(_TextRecord)
_TEXT_MARK = b'"msgtype":"text"'
_build_text = BUILDERS["text"]


def _fast_text(raw: bytes, source: str) -> Message | None:
    """The :class:`Message` of a well-formed text record, or None for the general path."""
    try:
        r = _TEXT_RECORD.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    if r.msgtype != "text" or r.text is None or not r.msgid or r.msgtime < 0:
        return None
    if r.action == "switch":
        return None
    chat, conversation = _conversation(r.sender, r.tolist, r.roomid)
    return Message(
        id=message_id(source, r.msgid),
        source=source,
        source_msg_id=r.msgid,
        action=r.action or "send",
        sender=r.sender,
        recipients=r.tolist,
        conversation=conversation,
        chat=chat,
        sent_at=r.msgtime,
        payload=_build_text({"content": r.text.content}, "text"),
        flags=[] if r.msgtime else [Flag.MSGTIME_ZERO],
    )


def normalise_bytes(raw: bytes, source: str = "wecom") -> Message:
    if _TEXT_MARK in raw:
        m = _fast_text(raw, source)
        if m is not None:
            return m
    obj, flags = parse_record(raw)
    return normalise(obj, source, flags)
