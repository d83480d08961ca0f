"""Messages turned into what a reviewer sees: display text cut into highlighted segments,
structured extras (amounts, files, links), recall marks. Pure functions over the model.

All of it is attacker-controlled text. Nothing here produces markup: templates escape
every value, and :func:`inert` makes bidirectional-override and other invisible format
characters visible, so a display name cannot reorder what a reviewer reads.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

from ..model import (
    ChatRecord,
    ExternalRedPacket,
    Message,
    Mixed,
    RedPacket,
    Revoke,
    Transfer,
    Weapp,
)
from ..textview import attachments_of, text_view

# Bidi embeddings/overrides/isolates and marks (Trojan-Source style reordering).
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def inert(text: str) -> str:
    """Text with bidi controls and other invisible format characters shown as ⟦U+XXXX⟧.

    Zero-width joiners inside emoji sequences are kept; everything else in category Cf
    and the C0/C1 controls except newline and tab become visible markers."""
    if text.isascii() and text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in _BIDI or (unicodedata.category(ch) in ("Cf", "Cc") and ch not in "\n\t\u200d"):
            out.append(f"⟦U+{ord(ch):04X}⟧")
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Segment:
    text: str
    mark: int = -1  # index into the message's findings, -1 = plain


@dataclass
class MessageView:
    seq: int
    id: str
    at: int
    kind: str
    sender: str  # display name (or pseudonym)
    sender_kind: str  # internal | external | bot
    outgoing: bool  # sent by an employee (rendered on the right)
    segments: list[Segment]
    length: int
    truncated: bool
    findings: list[dict[str, Any]] = field(default_factory=list)
    extras: list[tuple[str, str]] = field(default_factory=list)  # (label, value)
    files: list[dict[str, Any]] = field(default_factory=list)
    recalled: bool = False
    evidence: bool = False
    restricted: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "id": self.id,
            "at": self.at,
            "kind": self.kind,
            "sender": self.sender,
            "sender_kind": self.sender_kind,
            "outgoing": self.outgoing,
            "text": "".join(s.text for s in self.segments),
            "length": self.length,
            "truncated": self.truncated,
            "findings": self.findings,
            "highlights": [
                {"start": f["span"][0], "end": f["span"][1], "finding": i}
                for i, f in enumerate(self.findings)
            ],
            "extras": dict(self.extras),
            "files": self.files,
            "recalled": self.recalled,
            "evidence": self.evidence,
            "restricted": self.restricted,
        }


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def segments(
    text: str, spans: list[tuple[int, int, int]], limit: int
) -> tuple[list[Segment], bool]:
    """Cut ``text[:limit]`` into plain and marked pieces; overlapping spans keep the first."""
    shown = text[:limit]
    out: list[Segment] = []
    pos = 0
    for start, end, idx in sorted(spans):
        start, end = max(start, pos), min(end, len(shown))
        if start >= end:
            continue
        if start > pos:
            out.append(Segment(inert(shown[pos:start])))
        out.append(Segment(inert(shown[start:end]), idx))
        pos = end
    if pos < len(shown):
        out.append(Segment(inert(shown[pos:])))
    return out, len(text) > limit


def extras_of(m: Message) -> list[tuple[str, str]]:
    p = m.payload
    out: list[tuple[str, str]] = []
    if isinstance(p, RedPacket):
        label = "external red packet" if isinstance(p, ExternalRedPacket) else "red packet"
        out.append((label, f"{yuan(p.total_amount_fen)} in {p.total_count} packet(s)"))
    elif isinstance(p, Transfer):
        out.append(("transfer", f"{yuan(p.amount_fen)} ({p.status or 'unknown'})"))
    elif isinstance(p, Weapp):
        ident = p.username or p.appid
        out.append(("mini-program", inert(f"{p.displayname} ({ident})")))
    elif isinstance(p, Revoke):
        out.append(("recall", "recalled an earlier message"))
    elif isinstance(p, ChatRecord | Mixed):
        out.append(("items", str(len(p.items))))
    return out


def message_view(
    m: Message,
    seq: int,
    sender: str,
    sender_kind: str,
    findings: list[dict[str, Any]],
    limit: int,
) -> MessageView:
    text = text_view(m.payload)
    spans = [(int(f["span"][0]), int(f["span"][1]), i) for i, f in enumerate(findings)]
    segs, cut = segments(text, spans, limit)
    files = [
        {
            "name": inert(a.name or a.ext or "attachment"),
            "size": a.size,
            "blob_id": a.blob_id,
            "md5": a.md5,
        }
        for a in attachments_of(m.payload)
    ]
    return MessageView(
        seq=seq,
        id=m.id,
        at=m.sent_at,
        kind=m.kind,
        sender=inert(sender),
        sender_kind=sender_kind,
        outgoing=sender_kind == "internal",
        segments=segs,
        length=len(text),
        truncated=cut,
        findings=findings,
        extras=extras_of(m),
        files=files,
    )
