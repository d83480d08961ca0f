"""The scan engine: one Hyperscan pass per batch, then detectors on their candidates only.

For a batch of messages:

1. the original texts are joined (NUL-separated) and scanned once with a Hyperscan
   database holding every detector's anchors plus the *normalisation triggers*
   (characters the one-to-one map changes, zero-width characters, spaced Chinese);
2. only messages that hit a trigger are normalised (:mod:`.textnorm`); one more
   Hyperscan pass over just their normalised texts re-checks the anchors, so
   ``１３８００１３８０００`` still reaches the mobile detector;
3. each detector scans its candidate messages (detectors without anchors see all);
   a detector that raises is reported and skipped, the others go on;
4. spans are mapped back to the original text and values replaced by fingerprints.

Most chat messages hit nothing in step 1 and cost one pass of native code.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import hyperscan

from .api import Detector, Finding, Hit, ScanBatch, ends_of
from .textnorm import REMOVAL_TRIGGER, Normalised, mapped_triggers, normalise

Fingerprint = Callable[[str], str]
MIN_SCORE = 0.5
_SURROGATES = re.compile("[\ud800-\udfff]")


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
        triggers = [*mapped_triggers(), REMOVAL_TRIGGER]
        expressions: list[bytes] = [t.encode() for t in triggers]
        flags = [hyperscan.HS_FLAG_UTF8] * len(triggers)
        self._n_triggers = len(triggers)
        shared: dict[tuple[str, bool], _Anchor] = {}  # one expression per distinct anchor
        for di, det in enumerate(self.detectors):
            anchors = list(det.anchors())
            if not anchors:
                self._scan_all.append(di)
            for a in anchors:
                known = shared.get((a.pattern, a.caseless))
                if known is not None:
                    if di not in known.detectors:
                        known.detectors.append(di)
                    continue
                f = hyperscan.HS_FLAG_UTF8
                if a.caseless:
                    f |= hyperscan.HS_FLAG_CASELESS
                expressions.append(a.pattern.encode())
                flags.append(f)
                anchor = _Anchor(a.pattern, [di])
                shared[(a.pattern, a.caseless)] = anchor
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
        texts = [t for _, t in items]
        joined = "\x00".join(texts)
        if joined.count("\x00") != len(texts) - 1:  # a text holds NUL: our separator
            texts = [t.replace("\x00", " ") for t in texts]
            joined = "\x00".join(texts)
        try:
            data = ("\x00" + joined).encode("utf-8")
        except UnicodeEncodeError:
            texts = [_SURROGATES.sub("\ufffd", t) for t in texts]
            data = ("\x00" + "\x00".join(texts)).encode("utf-8")
        parts = data[1:].split(b"\x00")
        ends = ends_of(parts)
        n_det = len(self.detectors)
        by_anchor: list[set[int]] = [set() for _ in self._anchors]
        slow: set[int] = set()
        n_trig = self._n_triggers

        def on_match(eid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
            i = bisect_right(ends, to - 1)
            if eid < n_trig:
                slow.add(i)
            else:
                by_anchor[eid - n_trig].add(i)

        self._db.scan(data, match_event_handler=on_match)
        norm: list[str] = texts
        maps: dict[int, Normalised] = {}
        utf8 = (data, ends)  # the normalised texts' buffer
        if slow:
            norm = list(texts)
            changed = sorted(slow)
            for i in changed:
                n = normalise(texts[i])
                maps[i] = n
                norm[i] = n.text
                parts[i] = n.text.encode("utf-8")
            utf8 = (b"\x00" + b"\x00".join(parts), ends_of(parts))
            # Anchors again on the normalised texts of those messages only (one more pass).
            sub = [parts[i] for i in changed]
            sub_ends = ends_of(sub)

            def on_norm(eid: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
                if eid >= n_trig:
                    by_anchor[eid - n_trig].add(changed[bisect_right(sub_ends, to - 1)])

            self._db.scan(b"\x00" + b"\x00".join(sub), match_event_handler=on_norm)
        anchored: list[dict[str, set[int]]] = [{} for _ in range(n_det)]
        for k, a in enumerate(self._anchors):
            if by_anchor[k]:
                for di in a.detectors:
                    anchored[di][a.pattern] = by_anchor[k]
        everyone = range(len(texts))
        keyed: list[tuple[tuple[int, int, str], Finding]] = []  # (message, start, detector)
        for di, det in enumerate(self.detectors):
            if di in self._scan_all:
                batch = ScanBatch(norm, everyone, md5s, utf8=utf8)
            elif anchored[di]:
                found = set().union(*anchored[di].values())
                batch = ScanBatch(norm, sorted(found), md5s, anchored[di], utf8)
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
