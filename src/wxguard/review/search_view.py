"""The review app's search: permission, privileged conversations left out for users who
may not read them, labels (pseudonyms where configured), highlighted snippets, audit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..search.engine import SearchEngine

if TYPE_CHECKING:
    from .service import ReviewService, Viewer

SNIPPET = 400


def _snippet(text: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """(piece, highlighted) pairs around the first hit, cut to about SNIPPET characters."""
    start = max(0, spans[0][0] - SNIPPET // 3) if spans else 0
    end = min(len(text), start + SNIPPET)
    pieces: list[tuple[str, bool]] = [("…", False)] if start else []
    pos = start
    for s, e in spans:
        if e <= start or s >= end:
            continue
        s, e = max(s, start), min(e, end)
        if s > pos:
            pieces.append((text[pos:s], False))
        pieces.append((text[s:e], True))
        pos = e
    if pos < end:
        pieces.append((text[pos:end], False))
    if end < len(text):
        pieces.append(("…", False))
    return pieces


def search(
    svc: ReviewService, v: Viewer, query: str, page: int = 1, why: str = ""
) -> dict[str, Any]:
    svc.need(v, "message-search")
    svc.need(v, "message-read")
    engine = svc.search_engine
    if engine is None:
        engine = svc.search_engine = SearchEngine(svc.a)
    engine.set_directory(svc.directory())
    hidden: list[bytes] = []
    if not v.user.can("privileged-read"):
        of_id = svc.a.keys.fingerprints.of_id
        d = svc.directory()
        hidden = [of_id(c) for c in d.allow.get("privileged-conversation", ())]
    res = engine.search(
        query, page=page, limit=svc.settings.page_size, exclude_conversations=hidden
    )
    of_id = svc.a.keys.fingerprints.of_id
    hits = [
        {
            "seq": h.seq,
            "id": h.message.id,
            "at": h.message.sent_at,
            "kind": h.message.kind,
            "sender": svc.person_label(v, h.message.sender),
            "conversation": svc.conversation_label(v, of_id(h.message.conversation)),
            "conversation_key": of_id(h.message.conversation).hex(),
            "snippet": [{"text": t, "hit": hit} for t, hit in _snippet(h.text, h.spans)],
        }
        for h in res.hits
    ]
    svc._audit(
        v,
        "search",
        "search",
        {
            "query": query,
            "why": why,
            "page": page,
            "total": res.total,
            "shown": [h["seq"] for h in hits],
        },
    )
    return {
        "query": query,
        "total": res.total,
        "total_exact": res.total_exact,
        "page": page,
        "more": res.more,
        "took_ms": round(res.took_ms, 1),
        "index_behind": res.index_behind,
        "hits": hits,
    }
