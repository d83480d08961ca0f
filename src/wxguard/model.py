"""The canonical model every source maps to and every later stage reads.

Message kinds mirror the WeCom session-archive ``msgtype`` inventory
(``shared/specs/wecom-archive.md`` §2.2). Units are normalised here once so no later
stage has to remember them: every instant is epoch **milliseconds** UTC, every
duration **seconds**, every amount **fen** (0.01 CNY), every size **bytes**.

Payloads are a tagged union (``kind`` is the tag); the serialised form of these
structs *is* the interchange schema documented in ``docs/formats.md``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta, Struct, field

Millis = Annotated[int, Meta(ge=0)]
NonNeg = Annotated[int, Meta(ge=0)]


class ParticipantKind(StrEnum):
    INTERNAL = "internal"
    EXTERNAL = "external"
    BOT = "bot"


class ChatType(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class Flag(StrEnum):
    """Why a record deserves a second look. Persisted: never rename a value."""

    UNKNOWN_MSGTYPE = "unknown-msgtype"
    MSGTIME_ZERO = "msgtime-zero"
    LENIENT_JSON = "lenient-json"
    NESTED_PARSE_ERROR = "nested-parse-error"
    CONTROL_CHARS = "control-chars"
    RECOVERED_RECALL = "recovered-recall"  # a recalled message's content kept by the client


# --------------------------------------------------------------------------- parts


class Attachment(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    """A media object. ``blob_id`` is set once its bytes are in the blob store."""

    sdkfileid: str = ""
    md5: str = ""
    size: NonNeg | None = None
    name: str = ""
    ext: str = ""
    blob_id: str = ""
    sha256: str = ""
    mime: str = ""


class Participant(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    kind: ParticipantKind
    name: str = ""
    org: str = ""
    department: str = ""
    title: str = ""


class RosterEntry(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    participant: str
    joined_at: Millis | None = None
    left_at: Millis | None = None


class Conversation(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    id: str
    type: ChatType
    name: str = ""
    owner: str = ""
    roster: list[RosterEntry] = field(default_factory=list)


# --------------------------------------------------------------------------- payloads


class Payload(
    Struct, tag_field="kind", omit_defaults=True, kw_only=True, forbid_unknown_fields=True
):
    """Base of every kind-specific body."""


class Text(Payload, tag="text"):
    content: str
    quote_author: str = ""
    quote_text: str = ""
    reply: str = ""


class Image(Payload, tag="image"):
    attachment: Attachment


class Voice(Payload, tag="voice"):
    attachment: Attachment
    duration_s: NonNeg = 0
    transcript: str = ""  # the client's speech-to-text, when the source kept it
    wav: Attachment | None = None  # a WAV decoded from a SILK original, stored beside it


class Video(Payload, tag="video"):
    attachment: Attachment
    duration_s: NonNeg = 0


class Emotion(Payload, tag="emotion"):
    attachment: Attachment
    format: str = ""  # gif | png (§2.2.9 type 1/2)
    width: NonNeg = 0
    height: NonNeg = 0


class File(Payload, tag="file"):
    attachment: Attachment


class Link(Payload, tag="link"):
    title: str = ""
    description: str = ""
    url: str = ""
    image_url: str = ""
    app_id: str = ""  # the third-party app that shared it (WeChat ``appmsg@appid``)
    app_name: str = ""


class Weapp(Payload, tag="weapp"):
    title: str = ""
    description: str = ""
    username: str = ""  # mini-program user name, e.g. ``gh_xxx@app`` / ``xxx@app``
    displayname: str = ""
    appid: str = ""  # WeChat mini-program app id (``wx`` + 16 hex), when the source has it


class RedPacket(Payload, tag="redpacket"):
    packet_type: int = 0  # 1 normal, 2 lucky group, 3 incentive group
    wish: str = ""
    total_count: NonNeg = 0
    total_amount_fen: NonNeg = 0


class ExternalRedPacket(RedPacket, tag="external_redpacket"):
    pass


class Location(Payload, tag="location"):
    longitude: float = 0.0
    latitude: float = 0.0
    address: str = ""
    title: str = ""
    zoom: int = 0


class Card(Payload, tag="card"):
    corpname: str = ""
    userid: str = ""
    name: str = ""  # the shared contact's display name (WeChat cards carry it)


class ChatRecordItem(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    item_type: str
    sent_at: int | None = None
    from_chatroom: bool = False
    body: AnyPayload | None = None
    raw: str = ""  # the item's content string when it could not be parsed


class ChatRecord(Payload, tag="chatrecord"):
    title: str = ""
    items: list[ChatRecordItem] = field(default_factory=list)


class Revoke(Payload, tag="revoke"):
    pre_msgid: str


class Agree(Payload, tag="agree"):
    userid: str = ""
    at: int = 0


class Disagree(Payload, tag="disagree"):
    userid: str = ""
    at: int = 0


class Meeting(Payload, tag="meeting"):
    topic: str = ""
    start: int | None = None
    end: int | None = None
    address: str = ""
    remarks: str = ""
    meeting_type: int = 0  # 101 invite, 102 handle invite
    meeting_id: int = 0
    status: int = 0


class MeetingNotification(Payload, tag="meeting_notification"):
    content: str = ""
    meeting_id: int = 0
    notification_type: int = 0  # 1 someone joined, 2 meeting ended


class DocMsg(Payload, tag="docmsg"):
    title: str = ""
    creator: str = ""
    url: str = ""


class Markdown(Payload, tag="markdown"):
    content: str = ""


class NewsItem(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    title: str = ""
    description: str = ""
    url: str = ""
    picurl: str = ""


class News(Payload, tag="news"):
    items: list[NewsItem] = field(default_factory=list)


class Calendar(Payload, tag="calendar"):
    title: str = ""
    creator_name: str = ""
    attendees: list[str] = field(default_factory=list)
    start: int | None = None
    end: int | None = None
    place: str = ""
    remarks: str = ""


class Mixed(Payload, tag="mixed"):
    items: list[ChatRecordItem] = field(default_factory=list)


class VoipText(Payload, tag="voiptext"):
    call_duration_s: NonNeg = 0
    invite_type: int = 0  # 1 video, 2 voice, 3 multi video, 4 multi voice


class DemoFile(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    filename: str = ""
    operator: str = ""
    start: int | None = None
    end: int | None = None


class ScreenShare(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    sharer: str = ""
    start: int | None = None
    end: int | None = None


class MeetingVoiceCall(Payload, tag="meeting_voice_call"):
    voice_id: str = ""
    end: int | None = None
    attachment: Attachment = field(default_factory=Attachment)
    demo_files: list[DemoFile] = field(default_factory=list)
    screen_shares: list[ScreenShare] = field(default_factory=list)


class VoipDocShare(Payload, tag="voip_doc_share"):
    voip_id: str = ""
    attachment: Attachment = field(default_factory=Attachment)


class SphFeed(Payload, tag="sphfeed"):
    feed_type: int = 0  # 2 image, 4 video, 9 live
    channel_name: str = ""
    description: str = ""


class QyDiskFile(Payload, tag="qydiskfile"):
    filename: str = ""


class Todo(Payload, tag="todo"):
    title: str = ""
    content: str = ""


class Vote(Payload, tag="vote"):
    title: str = ""
    options: list[str] = field(default_factory=list)
    vote_type: int = 0  # 101 start, 102 cast
    vote_id: str = ""


class CollectDetail(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True):
    id: int = 0
    question: str = ""
    type: str = ""


class Collect(Payload, tag="collect"):
    room_name: str = ""
    creator: str = ""
    create_time: str = ""  # as sent: "YYYY-MM-DD HH:MM:SS", zone unstated by WeCom
    title: str = ""
    details: list[CollectDetail] = field(default_factory=list)


class Switch(Payload, tag="switch"):
    user: str = ""


class Transfer(Payload, tag="transfer"):
    """A WeChat Pay transfer (personal WeChat app message type 49/2000)."""

    amount_fen: NonNeg = 0
    status: str = ""  # sent | received | refunded | pending | unknown
    memo: str = ""
    payer: str = ""
    receiver: str = ""
    transfer_id: str = ""


class System(Payload, tag="system"):
    """A client-side system line: joins, pats, call summaries, friend requests…"""

    content: str = ""
    event: str = ""  # e.g. ``pat``, ``invite``, ``friend-request``, ``location-share``


class Unknown(Payload, tag="unknown"):
    """A msgtype this version does not understand; the raw record is kept."""

    msgtype: str = ""


AnyPayload = (
    Text
    | Image
    | Voice
    | Video
    | Emotion
    | File
    | Link
    | Weapp
    | RedPacket
    | ExternalRedPacket
    | Location
    | Card
    | ChatRecord
    | Revoke
    | Agree
    | Disagree
    | Meeting
    | MeetingNotification
    | DocMsg
    | Markdown
    | News
    | Calendar
    | Mixed
    | VoipText
    | MeetingVoiceCall
    | VoipDocShare
    | SphFeed
    | QyDiskFile
    | Todo
    | Vote
    | Collect
    | Switch
    | Transfer
    | System
    | Unknown
)

PAYLOAD_TYPES: tuple[type[Payload], ...] = AnyPayload.__args__
KINDS: tuple[str, ...] = tuple(str(t.__struct_config__.tag) for t in PAYLOAD_TYPES)


# gc=False: the cyclic collector never tracks a message (its fields are strings, numbers,
# lists of strings and payload structs, none of which can point back at it, so no cycle can
# form through one). Reading an archive decodes millions: ~3-5% faster untracked.
class Message(Struct, omit_defaults=True, kw_only=True, forbid_unknown_fields=True, gc=False):
    """One archived message.

    ``id`` is ``"{source}:{source_msg_id}"`` and is the dedupe key. ``sent_at`` is
    epoch ms UTC. ``conversation`` is a room id for groups or ``direct:A|B`` (ids
    sorted) for one-to-one chats.
    """

    id: str
    source: str
    source_msg_id: str
    action: str = "send"
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    conversation: str = ""
    chat: ChatType = ChatType.DIRECT
    sent_at: Millis = 0
    payload: AnyPayload
    flags: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return kind_of(self.payload)


def kind_of(payload: Payload) -> str:
    return str(type(payload).__struct_config__.tag)


def message_id(source: str, source_msg_id: str) -> str:
    return f"{source}:{source_msg_id}"


def direct_conversation_id(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"direct:{x}|{y}"


def classify_participant(uid: str) -> ParticipantKind:
    """Best guess from a WeCom id alone (specs §2.1 identifier conventions).

    External ids start with ``wo``/``wm``, bots with ``wb``; official samples are 32
    characters long. Internal userids are arbitrary strings (``wolfgang`` is a
    valid one), so a length floor keeps short internal ids internal. The directory
    (WeCom APIs or an employee CSV) overrides this guess.
    """
    if len(uid) >= 24 and uid[:2] in ("wo", "wm", "wb"):
        return ParticipantKind.BOT if uid[:2] == "wb" else ParticipantKind.EXTERNAL
    return ParticipantKind.INTERNAL


# Built once: canonical JSON is both the sealed body's message form and the interchange form.
JSON_ENCODER = msgspec.json.Encoder()
