"""Pattern detectors are mostly data: a regex, a validator, context and suppression words.

Context is measured in *characters* either side of the match (Chinese has no word
boundaries), on the normalised text with whitespace removed, so ``身 份 证 号`` and
``身份证号`` count alike. Number patterns use digit look-arounds instead of ``\\b``:
``手机13800138000请回电`` must match although no word boundary touches the digits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from .api import Anchor, DetectConfig, Detector, Explanation, Hit, ScanBatch
from .validators import OK

# Separators people put inside numbers, to read them or to dodge filters.
SEP = "[ \\-.\u00b7_]"  # = api.NUMBER_SEPARATORS
NO_DIGIT_BEFORE = f"(?<!\\d)(?<!\\d{SEP})"
NO_DIGIT_AFTER = f"(?!{SEP}?\\d)"


def digit_run(n: int) -> Anchor:
    """Anchor: ``n`` digits (the separators of :data:`SEP` allowed) after a non-digit.

    Anchored on the byte before the run, it reports one match per run rather than one
    per end position, which keeps Hyperscan callbacks rare. Matched on bytes (``·`` is
    ``C2 B7``): in Hyperscan's UTF-8 mode the same anchor for 13 or 17 digits costs
    ~0.27 µs per chat message, on bytes ~0.04.
    """
    return Anchor(f"[^0-9][0-9](?:(?:[ \\-._]|\\xC2\\xB7)?[0-9]){{{n - 1}}}", utf8=False)


def context_anchor(words: tuple[str, ...]) -> str:
    """Anchor for a pattern that needs context: any of its context words."""
    return "|".join(re.escape(w) for w in words)


_NON_DIGIT = re.compile(r"[^0-9]")
_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def digits_of(s: str) -> str:
    return _NON_DIGIT.sub("", s)


def upper_alnum(s: str) -> str:
    return _NON_ALNUM.sub("", s).upper()


@dataclass(frozen=True)
class Pattern:
    """One pattern of a :class:`PatternDetector`."""

    name: str
    entity: str
    regex: str  # Python regex; a group named "v" is the value, else the whole match
    anchor: str | Anchor  # cheap candidate pattern (see Anchor); "" when requires_context,
    # which anchors on the context words instead
    score: float  # score when it validates (or has no validator)
    validate: Callable[[str], str] | None = None  # canonical value -> "ok..." or why not
    canon: Callable[[str], str] = str
    context: tuple[str, ...] = ()  # words near the match that raise the score
    context_score: float = 0.0
    requires_context: bool = False
    suppress: tuple[str, ...] = ()  # words near the match that lower it (order numbers...)
    suppressed_score: float = 0.2
    window: int = 16
    caseless: bool = False
    # For a pattern whose match is always one whole maximal digit run (bounded by
    # NO_DIGIT_BEFORE ... NO_DIGIT_AFTER): a cheap test of a run's digits that every run it
    # could match and validate passes. The regex then runs only on messages with such a
    # run (order and tracking numbers fail it without a regex pass).
    runs: Callable[[str], bool] | None = None


_SPACES = re.compile(r"\s+")


def _near(low: str, start: int, end: int, window: int) -> str:
    before = low[max(0, start - window) : start]
    after = low[end : end + window]
    return _SPACES.sub("", before) + "\x00" + _SPACES.sub("", after)


class PatternDetector(Detector):
    """A detector defined by a tuple of :class:`Pattern`; subclasses only set data."""

    patterns: ClassVar[tuple[Pattern, ...]]

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self._compiled = [
            (
                p,
                re.compile(p.regex, re.IGNORECASE if p.caseless else 0),
                tuple(w.lower() for w in p.context),
                tuple(w.lower() for w in p.suppress),
            )
            for p in self.patterns
        ]
        self._value_group = {p.name: "v" in rx.groupindex for p, rx, _, _ in self._compiled}
        self._anchor_keys = [self._anchor(p).pattern for p in self.patterns]

    @staticmethod
    def _anchor(p: Pattern) -> Anchor:
        if p.requires_context:  # no context word, no finding: anchor on the words
            return Anchor(context_anchor(p.context), True)
        if isinstance(p.anchor, Anchor):
            return p.anchor
        return Anchor(p.anchor, p.caseless)

    def anchors(self) -> Sequence[Anchor]:
        seen: dict[str, Anchor] = {}
        for p in self.patterns:
            a = self._anchor(p)
            seen.setdefault(a.pattern, a)
        return list(seen.values())

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        best: dict[tuple[int, int, int], Hit] = {}
        texts = batch.texts
        compiled = zip(self._compiled, self._anchor_keys, strict=True)
        for (p, rx, ctx_words, sup_words), own in compiled:
            # With the engine's per-anchor candidates, a pattern runs only where its own
            # anchor hit (none: skipped); without them, on every candidate.
            mine = batch.anchored.get(own, ()) if batch.anchored else batch.candidates
            has_v = self._value_group[p.name]
            if p.runs is not None:
                where: Sequence[int] = batch.messages_with_run(mine, p.runs)
            elif batch.anchored:
                where = sorted(mine)
            else:
                where = batch.candidates
            for i in where:
                for m in rx.finditer(texts[i]):
                    hit = self._judge(batch, i, m, p, ctx_words, sup_words, has_v)
                    if hit is None:
                        continue
                    key = (i, hit.start, hit.end)
                    if key not in best or best[key].score < hit.score:
                        best[key] = hit
        return best.values()

    @staticmethod
    def _judge(
        batch: ScanBatch,
        i: int,
        m: re.Match[str],
        p: Pattern,
        ctx_words: tuple[str, ...],
        sup_words: tuple[str, ...],
        has_v: bool,
    ) -> Hit | None:
        start, end = m.span("v") if has_v else m.span()
        value = p.canon(m.string[start:end])
        reason = ""
        if p.validate is not None:
            reason = p.validate(value)
            if not reason.startswith(OK):
                return None
        score = p.score
        expl = Explanation(pattern=p.name, validator=reason, base_score=p.score)
        if ctx_words or sup_words:
            near = _near(batch.lower(i), m.start(), m.end(), p.window)
            found = [w for w in ctx_words if w in near]
            if found:
                expl.context = found
                score = max(score, p.context_score)
            elif p.requires_context:
                return None
            for w in sup_words:
                if w in near:
                    expl.suppressions.append(f"{w}: present")
                    if not found:
                        score = min(score, p.suppressed_score)
            if sup_words and not expl.suppressions:
                expl.suppressions.append("suppression words: none near")
        return Hit(i, start, end, p.entity, round(score, 3), value, expl)
