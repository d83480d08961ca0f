"""The scan engine: one Hyperscan pass per batch, then detectors on their candidates only.

For a batch of messages:

1. the original texts are joined (NUL-separated) into one UTF-8 buffer, scanned once
   with a Hyperscan database of every detector's anchors plus the spaced-Chinese trigger
   (byte mode wherever a pattern means the same on bytes), and once with a literal
   database of the characters the one-to-one map changes;
2. only messages that hit a trigger are normalised (:mod:`.textnorm`) and spliced back
   into the buffer; one more pass over just their normalised texts re-checks the
   anchors, so ``１３８００１３８０００`` still reaches the mobile detector;
3. each detector scans its candidate messages (detectors without anchors see all);
   a detector that raises is reported and skipped, the others go on;
4. spans are mapped back to the original text and values replaced by fingerprints.

Most chat messages hit nothing in step 1 and cost two passes of native code.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import hyperscan

from .api import Detector, Finding, Hit, ScanBatch, TextCache, ends_of, join_utf8, text_start
from .textnorm import SPACED_CJK_TRIGGER, Normalised, mapped_triggers, normalise

Fingerprint = Callable[[str], str]
MIN_SCORE = 0.5
_SURROGATES = re.compile("[\ud800-\udfff]")


# Escapes that mean the same on UTF-8 bytes as on code points (ASCII sets and literals).
_BYTE_SAFE_ESCAPE = re.compile(r"\\[dsw\\.\-+*?()\[\]{}|^$/:=@#&%!,;<>'\"~` ]")


def _same_on_bytes(pattern: str) -> bool:
    """True when an anchor means the same on UTF-8 bytes as on code points: ASCII, and no
    construct that consumes "one character" (``.``, negated classes, ``\\D``/``\\S``/``\\W``,
    hex escapes). Such anchors run in Hyperscan's faster byte mode."""
    if not pattern.isascii():
        return False
    rest = _BYTE_SAFE_ESCAPE.sub("", pattern)
    return "\\" not in rest and "." not in rest and "[^" not in rest


def _encode(texts: list[str]) -> tuple[list[str], bytes, list[int]]:
    """The texts (NUL, our separator, replaced; lone surrogates too, which UTF-8 cannot
    hold) and their :func:`.api.join_utf8` buffer and ``ends``."""
    try:
        data, ends = join_utf8(texts)
    except UnicodeEncodeError:
        texts = [_SURROGATES.sub("\ufffd", t) for t in texts]
        data, ends = join_utf8(texts)
    if len(ends) != len(texts):  # a text holds NUL
        texts = [t.replace("\x00", " ") for t in texts]
        data, ends = join_utf8(texts)
    return texts, data, ends


def _splice(
    data: bytes, ends: list[int], changed: list[int], new: list[bytes]
) -> tuple[bytes, list[int]]:
    """``data`` (texts after a NUL each, ``ends`` as in :func:`.api.join_utf8`) with the
    texts at the sorted indexes ``changed`` replaced by ``new``: copies the unchanged runs
    of bytes between them instead of joining every text again."""
    pieces: list[bytes] = []
    out_ends = list(ends)
    prev = 0  # where the next unchanged run of ``data`` starts
    shift = 0
    for k, i in enumerate(changed):
        start = text_start(ends, i)
        pieces += (data[prev:start], new[k])
        prev = ends[i]
        shift += len(new[k]) - (ends[i] - start)
        if shift:
            stop = changed[k + 1] if k + 1 < len(changed) else len(ends)
            out_ends[i:stop] = map(shift.__add__, ends[i:stop])
    pieces.append(data[prev:])
    return b"".join(pieces), out_ends


@dataclass
class DetectorFault:
    detector: str
    reason: str


@dataclass
class ScanResult:
    findings: list[Finding] = field(default_factory=list)
    faults: list[DetectorFault] = field(default_factory=list)
    # detector id -> seconds spent in its scan method (for benchmarks and `scan --stats`)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Anchor:
    pattern: str
    detectors: list[int]


class Engine:
    """Runs a fixed set of detectors over batches of ``(message id, text)``."""

    def __init__(
        self, detectors: Sequence[Detector], fingerprint: Fingerprint, min_score: float = MIN_SCORE
    ) -> None:
        self.detectors = [d for d in detectors if d.active]
        self.fingerprint = fingerprint
        self.min_score = min_score
        self._anchors: list[_Anchor] = []
        self._scan_all: list[int] = []
        chars = mapped_triggers()
        self._mapped_db = hyperscan.Database()
        self._mapped_db.compile(
            expressions=list(chars), ids=list(range(len(chars))), elements=len(chars),
            flags=[0] * len(chars), literal=True,
        )  # fmt: skip
        expressions: list[bytes] = [SPACED_CJK_TRIGGER.encode()]
        flags = [0]
        self._n_triggers = len(expressions)
        shared: dict[tuple[str, bool, bool], _Anchor] = {}  # one expression per distinct anchor
        for di, det in enumerate(self.detectors):
            anchors = list(det.anchors())
            if not anchors:
                self._scan_all.append(di)
            for a in anchors:
                known = shared.get((a.pattern, a.caseless, a.utf8))
                if known is not None:
                    if di not in known.detectors:
                        known.detectors.append(di)
                    continue
                f = hyperscan.HS_FLAG_UTF8 if a.utf8 and not _same_on_bytes(a.pattern) else 0
                if a.caseless:
                    f |= hyperscan.HS_FLAG_CASELESS
                expressions.append(a.pattern.encode())
                flags.append(f)
                anchor = _Anchor(a.pattern, [di])
                shared[(a.pattern, a.caseless, a.utf8)] = anchor
                self._anchors.append(anchor)
        self._db = hyperscan.Database()
        try:
            self._db.compile(
                expressions=expressions,
                ids=list(range(len(expressions))),
                elements=len(expressions),
                flags=flags,
            )
        except hyperscan.error as e:
            raise ValueError(f"a detector anchor does not compile for Hyperscan: {e}") from None

    def scan(
        self, items: Sequence[tuple[str, str]], md5s: Sequence[Sequence[str]] | None = None
    ) -> ScanResult:
        """Scan ``(message id, text view)`` pairs; ``md5s`` are each message's attachment md5s."""
        result = ScanResult()
        if not items:
            return result
        texts, data, ends = _encode(list(map(itemgetter(1), items)))
        by_anchor, remap, remove = self._first_pass(data, ends)
        norm: list[str] = texts
        maps: dict[int, Normalised] = {}
        utf8 = (data, ends)  # the normalised texts' buffer
        if remap or remove:
            norm, maps, utf8 = self._slow_path(texts, data, ends, remap, remove, by_anchor)
        anchored: list[dict[str, set[int]]] = [{} for _ in self.detectors]
        for k, a in enumerate(self._anchors):
            if by_anchor[k]:
                for di in a.detectors:
                    anchored[di][a.pattern] = by_anchor[k]
        everyone = range(len(texts))
        keyed: list[tuple[tuple[int, int, str], Finding]] = []  # (message, start, detector)
        cache = TextCache()
        for di, det in enumerate(self.detectors):
            if di in self._scan_all:
                batch = ScanBatch(norm, everyone, md5s, utf8=utf8, cache=cache)
            elif anchored[di]:
                found = set().union(*anchored[di].values())
                batch = ScanBatch(norm, sorted(found), md5s, anchored[di], utf8, cache)
            else:
                continue
            t0 = time.perf_counter()
            try:
                hits = list(det.scan(batch))
            except Exception as e:  # one bad detector never stops the others
                result.faults.append(DetectorFault(det.id, f"{type(e).__name__}: {e}"))
                continue
            finally:
                result.seconds[det.id] = result.seconds.get(det.id, 0.0) + time.perf_counter() - t0
            keyed += self._collect(result, det, hits, items, norm, maps)
        keyed.sort(key=lambda kf: kf[0])  # message order, then position, then detector
        result.findings = [f for _, f in keyed]
        return result

    def _first_pass(
        self, data: bytes, ends: list[int]
    ) -> tuple[list[set[int]], set[int], set[int]]:
        """Messages per anchor, messages holding a character the one-to-one map changes,
        and messages that may hold spaced Chinese: two Hyperscan passes over the batch."""
        by_anchor: list[set[int]] = [set() for _ in self._anchors]
        remap: set[int] = set()
        remove: set[int] = set()
        # the set each expression id adds its messages to: the triggers', then the anchors'
        into = [remove] * self._n_triggers + by_anchor

        # An anchor may end on the NUL after its text (a trailing "not alphanumeric" bound):
        # bisect_left gives that NUL to the text before it, as it gives every other byte.
        def on_match(eid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            into[eid].add(bisect_left(ends, to - 1))

        def on_mapped(_eid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            remap.add(bisect_right(ends, to - 1))

        self._mapped_db.scan(data, match_event_handler=on_mapped)
        self._db.scan(data, match_event_handler=on_match)
        return by_anchor, remap, remove

    def _slow_path(
        self,
        texts: list[str],
        data: bytes,
        ends: list[int],
        remap: set[int],
        remove: set[int],
        by_anchor: list[set[int]],
    ) -> tuple[list[str], dict[int, Normalised], tuple[bytes, list[int]]]:
        """Normalise the messages a trigger flagged, splice them into the batch buffer, and
        add the candidates their normalised texts make (one more pass over them only)."""
        changed = sorted(remap | remove)
        norm = list(texts)
        maps: dict[int, Normalised] = {}
        new: list[bytes] = []
        for i in changed:
            n = normalise(texts[i], remap=i in remap)
            maps[i] = n
            norm[i] = n.text
            new.append(n.text.encode("utf-8"))
        sub_ends = ends_of(new)
        n_trig = self._n_triggers

        def on_norm(eid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            if eid >= n_trig:
                by_anchor[eid - n_trig].add(changed[bisect_left(sub_ends, to - 1)])

        self._db.scan(b"\x00" + b"\x00".join(new), match_event_handler=on_norm)
        return norm, maps, _splice(data, ends, changed, new)

    def _collect(
        self,
        result: ScanResult,
        det: Detector,
        hits: list[Hit],
        items: Sequence[tuple[str, str]],
        norm: Sequence[str],
        maps: dict[int, Normalised],
    ) -> list[tuple[tuple[int, int, str], Finding]]:
        out: list[tuple[tuple[int, int, str], Finding]] = []
        for h in hits:
            if h.score < self.min_score:
                continue
            if not (0 <= h.index < len(items) and 0 <= h.start <= h.end <= len(norm[h.index])):
                # (never the hit itself in the message: it holds the matched value)
                where = f"message {h.index}, {h.start}-{h.end}"
                result.faults.append(DetectorFault(det.id, f"returned an invalid span ({where})"))
                return out
            n = maps.get(h.index)
            start, end = n.span(h.start, h.end) if n is not None else (h.start, h.end)
            out.append(
                (
                    (h.index, start, det.id),
                    Finding(
                        message_id=items[h.index][0],
                        detector=det.id,
                        version=det.version,
                        entity=h.entity,
                        start=start,
                        end=end,
                        score=h.score,
                        value_fp=self.fingerprint(h.value),
                        explanation=h.explanation,
                    ),
                )
            )
        return out
