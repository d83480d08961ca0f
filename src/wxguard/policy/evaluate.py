"""Evaluate policies over a stream of events, in time order.

Pure: no database. :meth:`PolicyEngine.feed` takes one :class:`Event` and returns
the :class:`Hit` s it completes. A ``when`` policy fires on one message (or, with a
``window``, when enough matching messages gather in one conversation or from one
sender); a ``sequence`` policy fires when its steps match later and later messages
within its ``within``. A hit carries every message that made it and, for each, the
findings that supported it: the alert's evidence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..model import ChatType, Participant
from .facts import Directory, Event, FindingFact
from .spec import AppliesTo, Condition, FindingCond, Policy, seconds

Evidence = list[tuple[Event, list[FindingFact]]]
MAX_CHAINS = 32  # partial sequences kept per conversation (oldest dropped)


@dataclass
class Hit:
    policy: Policy
    conversation: str
    evidence: Evidence
    subjects: list[str]

    @property
    def at(self) -> int:
        return max(ev.sent_at for ev, _ in self.evidence)


def _finding_ok(c: FindingCond, f: FindingFact) -> bool:
    if f.score < c.min_score:
        return False
    if c.entities and f.entity not in c.entities:
        return False
    if c.detectors:
        return any(
            f.detector.startswith(d[:-1]) if d.endswith("*") else f.detector == d
            for d in c.detectors
        )
    return True


def _matching(c: FindingCond, ev: Event) -> list[int]:
    return [i for i, f in enumerate(ev.findings) if _finding_ok(c, f)]


class Matcher:
    """Tests one condition against one event; returns supporting finding indices or None."""

    def __init__(self, directory: Directory) -> None:
        self.d = directory

    def test(self, c: Condition, ev: Event) -> list[int] | None:
        if c.findings is not None:
            idx = _matching(c.findings, ev)
            return idx if len(idx) >= c.findings.min_count else None
        if c.all is not None:
            out: list[int] = []
            for sub in c.all:
                r = self.test(sub, ev)
                if r is None:
                    return None
                out += r
            return sorted(set(out))
        if c.any is not None:
            hits = [r for r in (self.test(sub, ev) for sub in c.any) if r is not None]
            return sorted({i for r in hits for i in r}) if hits else None
        if c.not_ is not None:
            return [] if self.test(c.not_, ev) is None else None
        if c.near is not None:
            return self._near(c, ev)
        return [] if self._leaf(c, ev) else None

    def _near(self, c: Condition, ev: Event) -> list[int] | None:
        assert c.near is not None
        a, b = _matching(c.near.a, ev), _matching(c.near.b, ev)
        out: set[int] = set()
        for i in a:
            fa = ev.findings[i]
            for j in b:
                fb = ev.findings[j]
                gap = max(fa.start, fb.start) - min(fa.end, fb.end)
                if i != j and gap <= c.near.within:
                    out.update((i, j))
        return sorted(out) if out else None

    def _leaf(self, c: Condition, ev: Event) -> bool:
        d = self.d
        if c.message is not None:
            m = c.message
            if m.kinds and ev.kind not in m.kinds:
                return False
            if m.min_amount_yuan is not None and ev.amount_fen < round(m.min_amount_yuan * 100):
                return False
            if m.has_attachment is not None and bool(ev.attachments) != m.has_attachment:
                return False
            wanted = {t.lower().lstrip(".") for t in m.file_types}
            return not wanted or any(ext in wanted for _, ext in ev.attachments)
        if c.conversation is not None:
            cc = c.conversation
            ext = d.externals(ev)
            if cc.external is not None and bool(ext) != cc.external:
                return False
            if cc.chat is not None and ev.chat != cc.chat:
                return False
            if cc.approved_group is not None:
                if ev.chat != ChatType.GROUP:
                    return False
                if d.allowed("external-group", ev.conversation) != cc.approved_group:
                    return False
            return not cc.external_orgs or any(p.org in cc.external_orgs for p in ext)
        if c.sender is not None:
            s = c.sender
            if s.kinds and d.kind_of(ev.sender) not in s.kinds:
                return False
            if s.departments and d.person(ev.sender).department not in s.departments:
                return False
            return s.impersonates is None or d.impersonates(ev.sender, s.impersonates)
        if c.third_party is not None:
            t = c.third_party
            return any(
                tp.kind in t.kinds and d.status_of(tp.kind, tp.ident) in t.status
                for tp in ev.third_parties
            )
        return False


@dataclass
class _Chain:
    start: int
    step: int
    evidence: Evidence


@dataclass
class _State:
    window: dict[str, deque[tuple[Event, list[FindingFact]]]] = field(default_factory=dict)
    chains: dict[str, list[_Chain]] = field(default_factory=dict)


def needs_findings(c: Condition) -> bool:
    """True when the condition can only hold on a message with findings."""
    if c.findings is not None or c.near is not None:
        return True
    if c.all is not None:
        return any(needs_findings(s) for s in c.all)
    if c.any is not None:
        return all(needs_findings(s) for s in c.any)
    return False


def _needs_findings(p: Policy) -> bool:
    if p.sequence is not None:
        return all(needs_findings(s) for s in p.sequence.steps)
    return p.when is not None and needs_findings(p.when)


class PolicyEngine:
    def __init__(self, policies: Sequence[Policy], directory: Directory) -> None:
        self.policies = [p for p in policies if p.enabled]
        self.directory = directory
        self.matcher = Matcher(directory)
        self._state = {p.id: _State() for p in self.policies}
        # A message without findings cannot satisfy these: skip them cheaply.
        self._findings_only = {p.id for p in self.policies if _needs_findings(p)}

    def feed(self, ev: Event, emit_for: set[str] | None = None) -> list[Hit]:
        """Evaluate one event (in time order) with every policy, so windows and sequences
        stay warm; return the hits of the policies in ``emit_for`` (all when None)."""
        if self.directory.allowed("marketing-account", ev.sender):
            return []
        hits: list[Hit] = []
        for p in self.policies:
            if not ev.findings and p.id in self._findings_only:
                continue
            subjects = self._subjects(p, ev)
            if subjects is None:
                continue
            found = self._sequence(p, ev) if p.sequence else self._when(p, ev)
            if emit_for is None or p.id in emit_for:
                hits.extend(Hit(p, ev.conversation, evidence, subjects) for evidence in found)
        return hits

    def _subjects(self, p: Policy, ev: Event) -> list[str] | None:
        employees = self.directory.involved_employees(ev)
        if p.applies_to is None:
            return employees
        d = self.directory
        kept = [pid for pid in employees if applies(p.applies_to, d.person(pid))]
        return kept or None

    def _key(self, per: str, ev: Event) -> str:
        return ev.sender if per == "sender" else ev.conversation

    def _when(self, p: Policy, ev: Event) -> list[Evidence]:
        assert p.when is not None
        idx = self.matcher.test(p.when, ev)
        w = p.window
        if w is None:
            return [] if idx is None else [[(ev, [ev.findings[i] for i in idx])]]
        q = self._state[p.id].window.setdefault(self._key(w.per, ev), deque())
        horizon = ev.sent_at - seconds(w.within) * 1000
        while q and q[0][0].sent_at < horizon:
            q.popleft()
        if idx is None:
            return []
        q.append((ev, [ev.findings[i] for i in idx]))
        if len(q) < w.min_messages:
            return []
        if w.min_findings is not None and sum(len(f) for _, f in q) < w.min_findings:
            return []
        return [list(q)]

    def _sequence(self, p: Policy, ev: Event) -> list[Evidence]:
        s = p.sequence
        assert s is not None
        chains = self._state[p.id].chains.setdefault(self._key(s.per, ev), [])
        horizon = ev.sent_at - seconds(s.within) * 1000
        chains[:] = [c for c in chains if c.start >= horizon]
        done: list[Evidence] = []
        grown: list[_Chain] = []
        for c in chains:
            idx = self.matcher.test(s.steps[c.step], ev)
            if idx is None:
                continue
            evidence = [*c.evidence, (ev, [ev.findings[i] for i in idx])]
            if c.step + 1 == len(s.steps):
                done.append(evidence)
            else:
                grown.append(_Chain(c.start, c.step + 1, evidence))
        first = self.matcher.test(s.steps[0], ev)
        if first is not None:
            grown.append(_Chain(ev.sent_at, 1, [(ev, [ev.findings[i] for i in first])]))
        chains.extend(grown)
        del chains[:-MAX_CHAINS]
        return done[:1]


def applies(a: AppliesTo | None, person: Participant) -> bool:
    """Whether a policy's ``applies_to`` covers this employee (exceptions win)."""
    if a is None:
        return True
    if (
        person.id in a.except_people
        or person.department in a.except_departments
        or any(t and t in person.title for t in a.except_titles)
    ):
        return False
    return not (a.departments or a.titles or a.people) or (
        person.id in a.people
        or person.department in a.departments
        or any(t and t in person.title for t in a.titles)
    )
