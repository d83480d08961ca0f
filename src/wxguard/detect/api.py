"""The detector API: what a detector declares, what it returns, what a finding holds.

A detector is a small class with a stable ``id`` (``pii.cn.resident_id``), a
``version`` stamped on every finding, the entity types it reports, and one batch
method, :meth:`Detector.scan`. Built-ins and third-party detectors register the same
way: an entry point in the ``wxguard.detectors`` group (see :mod:`.registry`).

Detectors see *normalised* text (:mod:`.textnorm`) and report spans in it; the
engine maps them back to the original text and replaces the matched value with a
keyed fingerprint. A finding never holds the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence, Sized
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add
from pathlib import Path
from typing import ClassVar

import msgspec


class Explanation(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Why a finding fired: what matched, what validated it, what raised or lowered it."""

    pattern: str = ""  # the pattern or lexicon term's name (never the matched value)
    validator: str = ""  # e.g. "ok UnionPay", "check digit mismatch"
    context: list[str] = []  # context words seen near the match that raised the score
    suppressions: list[str] = []  # suppressions checked: "order-number context: clear"
    base_score: float = 0.0
    note: str = ""


class Finding(msgspec.Struct, kw_only=True):
    """One detection, as stored and printed. ``value_fp`` is an HMAC, not the value."""

    message_id: str
    detector: str
    version: str
    entity: str
    start: int  # code points into the message's original text view
    end: int
    score: float
    value_fp: str
    explanation: Explanation


@dataclass(slots=True)
class Hit:
    """What a detector returns: a span of the *normalised* text of message ``index``."""

    index: int
    start: int
    end: int
    entity: str
    score: float
    value: str  # canonical value (digits only, lower case...): fingerprinted, then dropped
    explanation: Explanation


@dataclass(frozen=True, slots=True)
class Anchor:
    """A cheap pattern that makes a message a candidate for a detector.

    The pattern must mean the same to Python's ``re`` and to Hyperscan: no
    look-arounds, no back-references, no ``\\b``. It is run over every message of a
    batch at once, so keep it short and specific. In that buffer each text follows a
    NUL and is followed by the next text's NUL or the end, so a pattern may begin with a
    "not a digit" character and end with a "not alphanumeric" one or ``$`` to bound a
    whole token (``pii.cn.hmt_id`` does: waybills holding an ID's shape are not candidates).

    ``utf8=False`` matches the pattern against the UTF-8 *bytes* (write a non-ASCII
    character as its bytes, ``\\xC2\\xB7`` for ``·``): Hyperscan's UTF-8 mode makes long
    bounded repeats and negated classes several times slower. The engine already uses
    byte mode for ASCII patterns without ``.``, negated classes or ``\\D\\S\\W``, which
    mean the same either way.
    """

    pattern: str
    caseless: bool = False
    utf8: bool = True


@dataclass
class DetectConfig:
    """Settings shared by detectors (one validated object, handed to constructors)."""

    lexicon_paths: list[Path] = field(default_factory=list)  # extra *.toml lexicons/dirs
    own_domains: list[str] = field(default_factory=list)  # the company's domains
    builtin_lexicons: bool = True
    data_dir: Path | None = None  # the archive's folder (edm/, fingerprints/), if any
    # HMAC with the archive's fingerprint key: how registered data is matched (None: no archive)
    keyed_hash: Callable[[bytes], bytes] | None = None
    # model name -> a user-provided model file replacing the shipped one (detect.toml [models])
    models: dict[str, Path] = field(default_factory=dict)
    # url.suspicious reports its model's score alone from here (None: the default; 0: never,
    # only beside a cue in the link). detect.toml ``url_model_alone``.
    url_model_alone: float | None = None


# Separators people put inside numbers, to read them or to dodge filters (``138 0013-8000``).
NUMBER_SEPARATORS = " -.\u00b7_"
# A maximal run: digits with single separators between them (two separators end it). Not
# ``[0-9][0-9 -.]{5,}`` plus splitting: that takes the space after nearly every number in
# Chinese chat ("订单 2026… 已发货") and sends it down a slow path (3.6 → 1.3 µs for such a text).
_RUN = re.compile("[0-9]+(?:[ \\-.\u00b7_][0-9]+)*")
_DROP_SEPS = {ord(c): None for c in NUMBER_SEPARATORS}
MIN_RUN = 6


def digit_runs(text: str) -> list[tuple[int, int, str]]:
    """The maximal runs of ASCII digits in ``text`` with at most one separator between
    two digits, as ``(start, end, digits)``: what a number pattern bounded by
    ``NO_DIGIT_BEFORE``/``NO_DIGIT_AFTER`` can match, found with one fast regex. Runs of
    fewer than :data:`MIN_RUN` digits are left out (dates, counts, prices)."""
    out: list[tuple[int, int, str]] = []
    for m in _RUN.finditer(text):
        run = m.group()
        if len(run) < MIN_RUN:
            continue  # the common case (11月, 3楼): too short even with separators
        digits = run if run.isdigit() else run.translate(_DROP_SEPS)
        if len(digits) >= MIN_RUN:
            out.append((m.start(), m.end(), digits))
    return out


def join_utf8(texts: Sequence[str]) -> tuple[bytes, list[int]]:
    """The texts as one UTF-8 buffer, each preceded by a NUL (so a pattern may begin with
    "a character that is not a digit" even at the start of the first text), and ``ends``:
    ``ends[i]`` is the offset of the NUL after text ``i``, so text ``i`` spans
    ``ends[i-1] + 1 .. ends[i]`` (``bisect_right(ends, offset)`` finds the text of a byte)."""
    data = ("\x00" + "\x00".join(texts)).encode("utf-8")
    return data, ends_of(data[1:].split(b"\x00"))


def text_start(ends: Sequence[int], i: int) -> int:
    """Where text ``i`` begins in a :func:`join_utf8` buffer (after its NUL)."""
    return ends[i - 1] + 1 if i else 1


def ends_of(parts: Iterable[Sized]) -> list[int]:
    """``ends`` of parts joined with one separator after each (no Python-level loop)."""
    return list(accumulate(map(add, map(len, parts), repeat(1))))


@dataclass(slots=True)
class TextCache:
    """Values derived from a batch's texts, computed once and shared by every detector."""

    lower: dict[int, str] = field(default_factory=dict)
    runs: dict[int, list[tuple[int, int, str]]] = field(default_factory=dict)
    # id(candidates) -> (candidates, their (message, digits) runs in message order)
    flat_runs: dict[int, tuple[Collection[int], list[tuple[int, str]]]] = field(
        default_factory=dict
    )


@dataclass(slots=True)
class ScanBatch:
    """The input to :meth:`Detector.scan`: normalised texts and this detector's candidates."""

    texts: Sequence[str]
    candidates: Sequence[int]
    md5s: Sequence[Sequence[str]] | None = None  # attachment md5s per message, when known
    # anchor pattern -> messages it matched (this detector's anchors only); a detector with
    # several patterns can run each only where its own anchor hit
    anchored: dict[str, set[int]] = field(default_factory=dict)
    # ``join_utf8(texts)``, when the engine already has it (saves building it again)
    utf8: tuple[bytes, list[int]] | None = None
    cache: TextCache = field(default_factory=TextCache)  # the engine shares one per batch

    def digit_runs(self, i: int) -> list[tuple[int, int, str]]:
        """:func:`digit_runs` of text ``i``, computed once for every number detector."""
        runs = self.cache.runs.get(i)
        if runs is None:
            runs = self.cache.runs[i] = digit_runs(self.texts[i])
        return runs

    def messages_with_run(self, where: Collection[int], test: Callable[[str], bool]) -> list[int]:
        """The messages of ``where`` (sorted) with a digit run that passes ``test``. The
        runs of a candidate set are listed once per batch: the number detectors share one
        anchor, so each of their tests is a plain loop over the same runs."""
        known = self.cache.flat_runs.get(id(where))
        if known is None or known[0] is not where:
            flat = [(i, d) for i in sorted(where) for _, _, d in self.digit_runs(i)]
            known = self.cache.flat_runs[id(where)] = (where, flat)
        return list(dict.fromkeys([i for i, d in known[1] if test(d)]))

    def joined_utf8(self) -> tuple[bytes, list[int]]:
        if self.utf8 is None:
            self.utf8 = join_utf8(self.texts)
        return self.utf8

    def lower(self, i: int) -> str:
        low = self.cache.lower.get(i)
        if low is None:
            t = self.texts[i]
            low = t.lower()
            if len(low) != len(t):  # a few characters lower-case to two; keep offsets
                low = "".join(c if len(c.lower()) != 1 else c.lower() for c in t)
            self.cache.lower[i] = low
        return low


class DetectorError(Exception):
    """A detector cannot be built or run (bad lexicon, missing model...)."""


class Detector:
    """Base class for detectors. Subclasses set the class attributes and ``scan``."""

    id: ClassVar[str]
    version: ClassVar[str]
    entities: ClassVar[tuple[str, ...]]
    languages: ClassVar[tuple[str, ...]] = ("zh", "en")
    description: ClassVar[str] = ""
    # "cheap" detectors run on every message; "expensive" ones where policy asks.
    cost: ClassVar[str] = "cheap"

    def __init__(self, config: DetectConfig) -> None:
        self.config = config
        # Parts that could not be loaded while the rest works (a bad lexicon file among
        # good ones): reported with the registry's problems, marked partial.
        self.load_problems: list[str] = []

    @property
    def active(self) -> bool:
        """False when the detector has nothing to look for (e.g. no registered data)."""
        return True

    def anchors(self) -> Sequence[Anchor]:
        """Candidate patterns; empty means the detector looks at every message."""
        return ()

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        raise NotImplementedError
