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
