"""What a policy can know about a message: the message's facts and the directory.

:class:`Event` is one message reduced to what conditions test (kind, amount,
attachments, third parties, findings); :class:`Directory` answers who is who (the
participants and group rosters sealed in the archive, the allowlists and the
third-party inventory's approval states). Both are plain data so the evaluator can
be tested without an archive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..detect.linear import registrable_domain
from ..model import (
    ChatType,
    Conversation,
    ExternalRedPacket,
    Link,
    Message,
    News,
    Participant,
    ParticipantKind,
    RedPacket,
    Transfer,
    Weapp,
    classify_participant,
)
from ..textview import attachments_of

# Allowlists an administrator keeps (``wxguard allowlist``); persisted names.
LISTS: dict[str, str] = {
    "external-group": "group chats with external members that are approved",
    "marketing-account": "accounts whose messages are never flagged (official marketing)",
    "privileged-conversation": "conversations under privilege (e.g. with counsel): alerts are "
    "restricted, carry no detail in deliveries, and never nudge",
}
EXECUTIVE_TITLES: tuple[str, ...] = (
    "总经理", "总裁", "总监", "董事", "首席", "CEO", "CFO", "CTO", "COO", "President", "Director",
    "VP",
)  # fmt: skip
_URL = re.compile(r"https?://[^\s\"'<>，。；、）)]+", re.IGNORECASE)


@dataclass
class FindingFact:
    detector: str
    version: str
    entity: str
    start: int
    end: int
    score: float
    value_fp: str
    explanation: dict[str, Any]

    def evidence(self) -> dict[str, Any]:
        return {
            "detector": self.detector, "version": self.version, "entity": self.entity,
            "span": [self.start, self.end], "score": round(self.score, 3),
            "value_fp": self.value_fp, "explanation": self.explanation,
        }  # fmt: skip


@dataclass
class ThirdParty:
    kind: str  # miniprogram | bot | app | domain
    ident: str
    name: str = ""


@dataclass
class Event:
    seq: int
    message_id: str
    sent_at: int
    kind: str
    sender: str
    recipients: list[str]
    conversation: str
    chat: str
    amount_fen: int = 0
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (name, ext)
    third_parties: list[ThirdParty] = field(default_factory=list)
    findings: list[FindingFact] = field(default_factory=list)
    # Computed once per message by Directory (several policies ask the same question).
    cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


def event_of(
    seq: int, m: Message, text: str, findings: list[FindingFact], sender_kind: str = ""
) -> Event:
    """Reduce a message (and its text view, for link domains) to its facts. ``sender_kind``
    is the directory's word on the sender (else a guess from the id)."""
    p = m.payload
    ev = Event(
        seq=seq, message_id=m.id, sent_at=m.sent_at, kind=m.kind, sender=m.sender,
        recipients=list(m.recipients), conversation=m.conversation, chat=str(m.chat),
        findings=findings,
    )  # fmt: skip
    if isinstance(p, RedPacket | ExternalRedPacket):
        ev.amount_fen = p.total_amount_fen
    elif isinstance(p, Transfer):
        ev.amount_fen = p.amount_fen
    for a in attachments_of(p):
        ext = (a.ext or (a.name.rpartition(".")[2] if "." in a.name else "")).lower()
        ev.attachments.append((a.name, ext))
    if isinstance(p, Weapp) and (p.username or p.appid):
        name = p.displayname or p.title
        ev.third_parties.append(ThirdParty("miniprogram", p.username or p.appid, name))
    if isinstance(p, Link) and p.app_id:
        ev.third_parties.append(ThirdParty("app", p.app_id, p.app_name))
    if (sender_kind or classify_participant(m.sender)) == ParticipantKind.BOT:
        ev.third_parties.append(ThirdParty("bot", m.sender))
    urls = [p.url] if isinstance(p, Link) and p.url else []
    if isinstance(p, News):
        urls += [i.url for i in p.items if i.url]
    urls += _URL.findall(text)
    seen: set[str] = set()
    for u in urls:
        host = u.split("://", 1)[-1].split("/", 1)[0].split("?", 1)[0].split(":", 1)[0].lower()
        dom = registrable_domain(host) if host else ""
        if dom and dom not in seen:
            seen.add(dom)
            ev.third_parties.append(ThirdParty("domain", dom))
    return ev


def _resolve(value: str, known: Mapping[str, Participant | Conversation]) -> list[str]:
    if value in known:
        return [value]
    low = value.casefold()
    return sorted(i for i, x in known.items() if x.name and x.name.casefold() == low)


@dataclass
class Directory:
    people: dict[str, Participant] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    allow: dict[str, set[str]] = field(default_factory=dict)
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    executive_titles: tuple[str, ...] = EXECUTIVE_TITLES
    _internal_names: dict[str, set[str]] = field(default_factory=dict)
    _exec_names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self._internal_names.clear()
        self._exec_names.clear()
        for p in self.people.values():
            if p.kind == ParticipantKind.INTERNAL and p.name:
                self._internal_names.setdefault(p.name, set()).add(p.id)
                if any(t in p.title for t in self.executive_titles):
                    self._exec_names.add(p.name)

    def add_people(self, people: Iterable[Participant]) -> None:
        for p in people:
            self.people[p.id] = p
        self.reindex()

    def person_ids(self, value: str) -> list[str]:
        """Who ``value`` names: a participant id (exactly that one), else everyone whose
        display name equals it ignoring case. Search filters, holds and exports all resolve
        people this way."""
        return _resolve(value, self.people)

    def conversation_ids(self, value: str) -> list[str]:
        """Which conversations ``value`` names: an id, else groups with that name."""
        return _resolve(value, self.conversations)

    def kind_of(self, pid: str) -> str:
        p = self.people.get(pid)
        return str(p.kind) if p is not None else str(classify_participant(pid))

    def person(self, pid: str) -> Participant:
        return self.people.get(pid) or Participant(id=pid, kind=classify_participant(pid))

    def allowed(self, list_name: str, ident: str) -> bool:
        return ident in self.allow.get(list_name, ())

    def status_of(self, kind: str, ident: str) -> str:
        return self.status.get((kind, ident), "new")

    def participants(self, ev: Event) -> set[str]:
        """Everyone in the conversation when the message was sent."""
        cached: set[str] | None = ev.cache.get("participants")
        if cached is not None:
            return cached
        out = {ev.sender, *ev.recipients}
        conv = self.conversations.get(ev.conversation)
        if conv is not None and ev.chat == ChatType.GROUP:
            for e in conv.roster:
                joined_ok = e.joined_at is None or e.joined_at <= ev.sent_at
                if joined_ok and (e.left_at is None or e.left_at > ev.sent_at):
                    out.add(e.participant)
        out.discard("")
        ev.cache["participants"] = out
        return out

    def externals(self, ev: Event) -> list[Participant]:
        cached: list[Participant] | None = ev.cache.get("externals")
        if cached is None:
            cached = ev.cache["externals"] = [
                self.person(pid)
                for pid in sorted(self.participants(ev))
                if self.kind_of(pid) == ParticipantKind.EXTERNAL
            ]
        return cached

    def involved_employees(self, ev: Event) -> list[str]:
        """The employees a policy is about: the sender if internal, else internal recipients."""
        cached: list[str] | None = ev.cache.get("employees")
        if cached is not None:
            return cached
        if self.kind_of(ev.sender) == ParticipantKind.INTERNAL:
            out = [ev.sender]
        else:
            out = sorted(
                p for p in self.participants(ev) - {ev.sender}
                if self.kind_of(p) == ParticipantKind.INTERNAL
            )  # fmt: skip
        ev.cache["employees"] = out
        return out

    def impersonates(self, pid: str, scope: str) -> bool:
        """A non-internal account showing an internal person's (or executive's) name."""
        if self.kind_of(pid) == ParticipantKind.INTERNAL:
            return False
        name = self.person(pid).name
        if not name:
            return False
        if scope == "executive":
            return name in self._exec_names
        return pid not in self._internal_names.get(name, {pid})
