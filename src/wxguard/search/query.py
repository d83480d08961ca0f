"""The search query language (docs/search.md "Query syntax").

    合同 "sign the contract" -草稿 from:zhangwei to:wmEXT001 in:wrGROUP kind:file
    after:2026-01-01 before:2026-02-01 has:attachment has:finding finding:CN_RESIDENT_ID
    behaviour:data_leak is:external

Bare words and quoted phrases are *terms* (all must match; ``-term`` must not). Field
filters narrow the result; the same field given twice means either value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .text import normalise, term_tokens

FIELDS = ("from", "to", "in", "kind", "after", "before", "on", "has", "finding", "behaviour", "is")
HAS = ("attachment", "finding", "alert")
IS = ("external", "internal", "group", "direct")
MAX_TERMS = 16
_PART = re.compile(r'\s*(-?)(?:([a-z]+):)?(?:"([^"]*)"?|(\S+))')


class QueryError(ValueError):
    pass


@dataclass
class Term:
    text: str  # normalised
    tokens: set[str]
    exact: bool
    negated: bool = False


@dataclass
class SearchQuery:
    source: str
    terms: list[Term] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)
    recipients: list[str] = field(default_factory=list)
    conversations: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    after_ms: int | None = None  # inclusive
    before_ms: int | None = None  # exclusive
    has: set[str] = field(default_factory=set)
    findings: list[str] = field(default_factory=list)
    behaviours: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    @property
    def exact(self) -> bool:
        """True when the index answers alone (no candidate needs checking against text)."""
        return all(t.exact for t in self.terms)

    @property
    def positive(self) -> list[Term]:
        return [t for t in self.terms if not t.negated]


def _date(value: str, name: str) -> datetime:
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"{name}: expects a date like 2026-01-31, got {value!r}") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _ms(d: datetime) -> int:
    return int(d.timestamp() * 1000)


def date_ms(value: str | None, name: str) -> int | None:
    """A date (or date-time; UTC unless it says otherwise) as epoch ms; None when empty."""
    return _ms(_date(value, name)) if value else None


def parse(text: str) -> SearchQuery:
    """Parse a query; errors name the part that is wrong."""
    q = SearchQuery(source=text)
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _PART.match(text, pos)
        if m is None or m.end() == pos:
            raise QueryError(f"cannot read the query from {text[pos:]!r}")
        pos = m.end()
        neg, name, quoted, bare = m.group(1) == "-", m.group(2), m.group(3), m.group(4)
        value = quoted if quoted is not None else bare or ""
        if name is not None and name not in FIELDS:
            # "http://…" or "10:30": not a field; the whole part is a term
            value, name = m.group(0).strip().lstrip("-"), None
        if name is None:
            _add_term(q, value, neg)
            continue
        if neg:
            raise QueryError(f"-{name}: only terms can be excluded")
        if not value:
            raise QueryError(f"{name}: needs a value")
        _add_filter(q, name, value)
    if not q.positive and not _has_filter(q):
        raise QueryError("give at least one term or filter")
    return q


def _add_term(q: SearchQuery, value: str, neg: bool) -> None:
    norm = normalise(value)
    if not norm:
        return
    toks, exact = term_tokens(norm)
    if not toks:
        raise QueryError(f"{value!r}: a term needs at least one letter, digit or CJK character")
    if len(q.terms) >= MAX_TERMS:
        raise QueryError(f"at most {MAX_TERMS} terms")
    q.terms.append(Term(norm, toks, exact, neg))


def _add_filter(q: SearchQuery, name: str, value: str) -> None:
    if name == "from":
        q.senders.append(value)
    elif name == "to":
        q.recipients.append(value)
    elif name == "in":
        q.conversations.append(value)
    elif name == "kind":
        q.kinds.append(value.lower())
    elif name in ("after", "on"):
        d = _date(value, name)
        q.after_ms = max(q.after_ms or 0, _ms(d)) if name == "after" else _ms(d)
        if name == "on":
            q.before_ms = _ms(d + timedelta(days=1))
    elif name == "before":
        b = _ms(_date(value, name))
        q.before_ms = b if q.before_ms is None else min(q.before_ms, b)
    elif name == "has":
        if value not in HAS:
            raise QueryError(f"has:{value}: expected one of {', '.join(HAS)}")
        q.has.add(value)
    elif name == "finding":
        q.findings.append(value)
    elif name == "behaviour":
        q.behaviours.append(value)
    elif name == "is":
        if value not in IS:
            raise QueryError(f"is:{value}: expected one of {', '.join(IS)}")
        q.flags.add(value)


def _has_filter(q: SearchQuery) -> bool:
    return bool(
        q.senders
        or q.recipients
        or q.conversations
        or q.kinds
        or q.after_ms is not None
        or q.before_ms is not None
        or q.has
        or q.findings
        or q.behaviours
        or q.flags
    )
