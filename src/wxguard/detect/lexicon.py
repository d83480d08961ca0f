"""Admin-managed lexicons: thousands of terms matched in one pass, with proximity rules.

The file format and its loader are :mod:`.lexiconfile`. Terms are normalised like
message text (full-width, traditional, case), English terms match on word boundaries,
Chinese terms anywhere. The ``lexicon`` detector's version includes a digest of every
loaded lexicon, so editing one makes ``wxguard scan`` rescan with it.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import hyperscan

from .api import DetectConfig, Detector, Explanation, Hit, ScanBatch, ends_of, text_start
from .lexiconfile import LexiconError, builtin_lexicon_files, lexicon_files, load_lexicon
from .textnorm import normalise_term

# ASCII letters and digits ("_" separates words in file names, so it is a boundary).
_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass(frozen=True, slots=True)
class _Term:
    lexicon: int
    term: str  # as the admin wrote it (for the explanation)
    length: int  # characters of the normalised term
    nbytes: int  # UTF-8 bytes of the normalised term
    wordy: bool  # ASCII word: needs word boundaries
    role: str  # "term", "unless", "a:<rule>", "b:<rule>"


class LexiconDetector(Detector):
    id = "lexicon"
    version = "1"
    entities: tuple[str, ...] = ()  # type: ignore[misc]  # set per instance from the lexicons
    description = "Admin lexicons (terms, regexes, proximity rules) matched in one pass"

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        files = builtin_lexicon_files() if config.builtin_lexicons else []
        for path in config.lexicon_paths:
            try:
                files += lexicon_files([path])
            except LexiconError as e:
                self.load_problems.append(f"{e} — the other lexicons are in use")
        # A bad file is left out and reported; the other lexicons stay in force (one typo
        # in a codename list must not switch off insider-trading terms). Leaving it out
        # changes the version, so the fixed file makes the next scan look again.
        self.lexicons = []
        seen: dict[str, str] = {}
        for f in files:
            try:
                lex = load_lexicon(f)
                if lex.id in seen:
                    raise LexiconError(
                        f"{lex.source}: id {lex.id!r} is also used by {seen[lex.id]}"
                    )
            except LexiconError as e:
                self.load_problems.append(f"{e} — this file is skipped, the others are in use")
                continue
            seen[lex.id] = lex.source
            self.lexicons.append(lex)
        digest = hashlib.sha256("".join(x.digest for x in self.lexicons).encode()).hexdigest()
        self.version = f"1+{digest[:10]}"  # type: ignore[misc]
        kinds = {x.entity for x in self.lexicons}
        kinds |= {r.entity for x in self.lexicons for r in x.near}
        self.entities = tuple(sorted(kinds))
        entries: list[tuple[str, _Term]] = []
        for li, lex in enumerate(self.lexicons):
            for t in lex.terms:
                self._add(entries, li, t, "term")
            for t in lex.unless:
                self._add(entries, li, t, "unless")
            for ri, rule in enumerate(lex.near):
                for t in rule.a:
                    self._add(entries, li, t, f"a:{ri}")
                for t in rule.b:
                    self._add(entries, li, t, f"b:{ri}")
        # Every term is one literal of a Hyperscan database, matched ASCII-caselessly on
        # the normalised text (≈0.05 µs per message for 5,000 terms).
        self._terms = [t for _, t in entries]
        self._wordy = [t.wordy for t in self._terms]
        self._nbytes = [t.nbytes for t in self._terms]
        # What a match can do alone: 0 fires (a term); -1 nothing (an `unless` term); 2r+1
        # or 2r+2, one side of proximity rule r (fires only beside the other side).
        rules: dict[tuple[int, str], int] = {}
        self._code = [
            0 if t.role == "term" else -1 if t.role == "unless"
            else 2 * rules.setdefault((t.lexicon, t.role[2:]), len(rules))
            + (1 if t.role[0] == "a" else 2)
            for t in self._terms
        ]  # fmt: skip
        self._db: hyperscan.Database | None = None
        if entries:
            self._db = hyperscan.Database()
            self._db.compile(
                expressions=[k.encode("utf-8") for k, _ in entries],
                ids=list(range(len(entries))),
                elements=len(entries),
                flags=hyperscan.HS_FLAG_CASELESS,
                literal=True,
            )
        self._regexes = [(lex, rx) for lex in self.lexicons for rx in lex.patterns]
        self._prefilter, self._prefiltered = _prefilter_db([rx for _, rx in self._regexes])

    @staticmethod
    def _add(entries: list[tuple[str, _Term]], li: int, term: str, role: str) -> None:
        key = normalise_term(term)
        wordy = key.isascii() and any(c.isalpha() for c in key)
        entries.append((key, _Term(li, term, len(key), len(key.encode()), wordy, role)))

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        texts = batch.texts
        if not texts:
            return
        if self._db is not None:
            data, ends = batch.joined_utf8()
            wordy, nbytes = self._wordy, self._nbytes
            per_msg: dict[int, list[tuple[int, int]]] = {}

            def on_match(eid: int, _f: int, to: int, _fl: int, _c: object) -> None:
                if wordy[eid] and not _bounded(data, to - nbytes[eid], to):
                    return
                per_msg.setdefault(bisect_right(ends, to - 1), []).append((eid, to))

            self._db.scan(data, match_event_handler=on_match)
            terms, code = self._terms, self._code
            for i, raw in per_msg.items():
                codes = {code[eid] for eid, _ in raw}
                if 0 not in codes and not any(c & 1 and c + 1 in codes for c in codes if c > 0):
                    continue  # only `unless` terms or one side of a rule: nothing can fire
                msg_start = text_start(ends, i)
                hits = []
                for eid, to in raw:
                    t = terms[eid]
                    s = len(data[msg_start : to - t.nbytes].decode("utf-8"))
                    hits.append((s, s + t.length, t))
                yield from self._emit(i, hits)
        if self._regexes:
            yield from self._regex_hits(batch)

    def _regex_hits(self, batch: ScanBatch) -> Iterator[Hit]:
        """Lexicon regexes: each only in the messages its Hyperscan pre-filter flagged;
        one Hyperscan cannot take runs over the batch's joined texts, or over each message
        when it anchors on the start or end of the text."""
        texts = batch.texts
        flagged: dict[int, set[int]] = {k: set() for k in self._prefiltered}
        if self._prefilter is not None:
            data, ends = batch.joined_utf8()

            def on_match(eid: int, _f: int, to: int, _fl: int, _c: object) -> None:
                flagged[eid].add(bisect_right(ends, to - 1))

            self._prefilter.scan(data, match_event_handler=on_match)
        joined = ""
        starts: list[int] = []
        for k, (lex, rx) in enumerate(self._regexes):
            spans: Iterable[tuple[int, re.Match[str], int]]  # (message, match, its offset)
            if k in flagged:
                spans = ((i, m, 0) for i in sorted(flagged[k]) for m in rx.finditer(texts[i]))
            elif _anchored(rx):
                spans = ((i, m, 0) for i, t in enumerate(texts) for m in rx.finditer(t))
            else:
                if not starts:
                    joined = "\x00".join(texts)
                    starts = [0, *ends_of(texts)]
                spans = _joined_matches(rx, joined, starts, texts)
            for i, m, off in spans:
                expl = Explanation(pattern=f"lexicon:{lex.id} regex:{rx.pattern}",
                                   base_score=lex.score)  # fmt: skip
                s, e = m.start() - off, m.end() - off
                yield Hit(i, s, e, lex.entity, lex.score, m.group().lower(), expl)

    def _emit(self, i: int, hits: list[tuple[int, int, _Term]]) -> Iterator[Hit]:
        sides: dict[tuple[int, int], tuple[list[tuple[int, int, _Term]], ...]] = {}
        unless = [(s, e, t) for s, e, t in hits if t.role == "unless"]

        def suppressed(li: int, s: int, e: int) -> str:
            w = self.lexicons[li].unless_within
            for us, ue, ut in unless:
                if ut.lexicon == li and us < e + w and s - w < ue and not (us < e and s < ue):
                    return ut.term
            return ""

        for s, e, t in hits:
            lex = self.lexicons[t.lexicon]
            if t.role == "unless":
                continue
            if t.role == "term":
                if suppressed(t.lexicon, s, e):
                    continue
                expl = Explanation(
                    pattern=f"lexicon:{lex.id} term:{t.term}",
                    base_score=lex.score,
                    suppressions=[f"unless {lex.unless_within} chars: clear"] if lex.unless else [],
                )
                yield Hit(i, s, e, lex.entity, lex.score, t.term.lower(), expl)
            else:
                side, rule_no = t.role.split(":")
                pair = sides.setdefault((t.lexicon, int(rule_no)), ([], []))
                pair[0 if side == "a" else 1].append((s, e, t))
        for (li, ri), (a_hits, b_hits) in sides.items():
            rule = self.lexicons[li].near[ri]
            best = _closest(a_hits, b_hits, rule.within)
            if best is None:
                continue
            (s1, e1, t1), (s2, e2, t2) = best
            s, e = min(s1, s2), max(e1, e2)
            if suppressed(li, s, e):
                continue
            expl = Explanation(
                pattern=f"lexicon:{self.lexicons[li].id} near[{ri}]",
                context=[t1.term, t2.term],
                note=f"within {rule.within} characters",
                base_score=rule.score,
            )
            yield Hit(i, s, e, rule.entity, rule.score, f"{t1.term}~{t2.term}".lower(), expl)


def _joined_matches(
    rx: re.Pattern[str], joined: str, starts: list[int], texts: Sequence[str]
) -> Iterator[tuple[int, re.Match[str], int]]:
    """Matches of ``rx`` over the batch's texts joined by NUL, each with its message and
    that message's offset in ``joined``; a match crossing into the next message is dropped."""
    for m in rx.finditer(joined):
        i = bisect_right(starts, m.start()) - 1
        if m.end() - starts[i] <= len(texts[i]):
            yield i, m, starts[i]


def _closest(
    a: Sequence[tuple[int, int, _Term]], b: Sequence[tuple[int, int, _Term]], within: int
) -> tuple[tuple[int, int, _Term], tuple[int, int, _Term]] | None:
    best = None
    best_gap = within + 1
    for x in a:
        for y in b:
            if x[0] < y[1] and y[0] < x[1]:
                continue  # the same characters cannot be both sides
            gap = max(y[0] - x[1], x[0] - y[1], 0)
            if gap < best_gap:
                best, best_gap = (x, y), gap
    return best


# Python's \uXXXX / \UXXXXXXXX escapes (not after an escaped backslash), which Hyperscan
# lacks: written as the characters themselves.
_PY_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8}))")
_PREFILTER = (
    hyperscan.HS_FLAG_UTF8 | hyperscan.HS_FLAG_UCP | hyperscan.HS_FLAG_CASELESS
    | hyperscan.HS_FLAG_PREFILTER
)  # fmt: skip


def _unescape(m: re.Match[str]) -> str:
    return m.group(1) + re.escape(chr(int(m.group(2) or m.group(3), 16)))


def _anchored(rx: re.Pattern[str]) -> bool:
    """Whether a regex anchors on the start or end of the text (``^``, ``$``, ``\\A``,
    ``\\Z``), which the batch's joined buffer would not respect."""
    plain = re.sub(r"\\[^AZz]|\[\^", "", rx.pattern)
    return any(c in plain for c in ("^", "$", "\\A", "\\Z", "\\z"))


def _prefilter_db(regexes: Sequence[re.Pattern[str]]) -> tuple[hyperscan.Database | None, set[int]]:
    """A Hyperscan database pre-filtering the regexes it can take (``HS_FLAG_PREFILTER``
    reports a superset of a regex's matches, look-arounds included; ids are the regexes'
    positions), and those positions."""
    ok: list[int] = []
    exprs: list[bytes] = []
    for k, rx in enumerate(regexes):
        if _anchored(rx):
            continue
        expr = _PY_ESCAPE.sub(_unescape, rx.pattern).encode()
        try:
            probe = hyperscan.Database()
            probe.compile(expressions=[expr], ids=[k], elements=1, flags=[_PREFILTER])
        except hyperscan.error:
            continue  # Python-only syntax: run by Python
        ok.append(k)
        exprs.append(expr)
    if not ok:
        return None, set()
    db = hyperscan.Database()
    db.compile(expressions=exprs, ids=ok, elements=len(ok), flags=[_PREFILTER] * len(ok))
    return db, set(ok)


def _bounded(data: bytes, s: int, e: int) -> bool:
    return (s == 0 or data[s - 1] not in _WORD) and (e >= len(data) or data[e] not in _WORD)
