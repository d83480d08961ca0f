"""Measured quality: score detectors against labelled ground truth.

Used by ``benchmarks/quality.py`` (the figures in ``docs/detectors.md``) and by the
tests, so the numbers printed and the numbers guarded are computed the same way.
A finding matches a truth item when it is in the same message, has one of the
entity types the item maps to, and its span overlaps the item's span. A finding no
item claims is a false positive in a clean message; in a planted message it is a
*co-detection* (the demo truth names each plant's primary items, and a plant's text
often carries a second cue — a phishing link's "立即点击验证"), counted apart.
"""

from __future__ import annotations

import json
import os
import random
import re
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ..textview import text_view
from ..wecom import normalise_bytes
from .api import Finding
from .engine import Engine
from .linear import registrable_domain

# Demo truth entity -> the entity types that count as finding it.
DEMO_ENTITY_MAP: dict[str, tuple[str, ...]] = {
    "CN_RESIDENT_ID": ("CN_RESIDENT_ID",),
    "CN_MOBILE": ("CN_MOBILE",),
    "BANK_CARD": ("BANK_CARD",),
    "CN_USCC": ("CN_USCC",),
    "CN_PASSPORT": ("CN_PASSPORT",),
    "AWS_ACCESS_KEY": ("AWS_ACCESS_KEY",),
    "GITHUB_TOKEN": ("GITHUB_TOKEN",),
    "OPENAI_KEY": ("OPENAI_KEY",),
    "PASSWORD": ("PASSWORD",),
    "WECOM_SECRET": ("WECOM_SECRET",),
    "PRIVATE_KEY": ("PRIVATE_KEY",),
    "CONFIDENTIAL_MARKER": ("CONFIDENTIAL_MARKER",),
    "PROJECT_CODENAME": ("PROJECT_CODENAME",),
    "IP_VIOLATION": ("IP_VIOLATION",),
    "OFFENSIVE": ("PROFANITY", "DISCRIMINATION", "OFFENSIVE"),
    "COMPETITOR_INTEL": ("COMPETITOR_NAME",),
    "OFF_CHANNEL_PAYMENT": ("OFF_CHANNEL_PAYMENT",),
    "UNAUTHORISED_COMMITMENT": ("UNAUTHORISED_COMMITMENT",),
    "LOOKALIKE_URL": ("LOOKALIKE_URL",),
    "SUSPICIOUS_URL": ("SUSPICIOUS_URL", "LOOKALIKE_URL"),
    "CREDENTIAL_REQUEST": ("CREDENTIAL_REQUEST",),
    "IMPERSONATION": ("ROLE_CLAIM",),
    "URGENT_PAYMENT_REQUEST": ("URGENT_PAYMENT_REQUEST",),
}
# Not judged here: RED_PACKET_TO_EXTERNAL, UNAPPROVED_EXTERNAL_GROUP, UNVETTED_MINIPROGRAM and
# UNVETTED_BOT are facts about the conversation and the sender, decided by policies.
STRUCTURED_PII = ("CN_RESIDENT_ID", "CN_MOBILE", "BANK_CARD", "CN_USCC", "CN_PASSPORT")
SECRETS = ("AWS_ACCESS_KEY", "GITHUB_TOKEN", "OPENAI_KEY", "PASSWORD", "WECOM_SECRET",
           "PRIVATE_KEY")  # fmt: skip


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: Score) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn


@dataclass
class DemoQuality:
    per_entity: dict[str, Score] = field(default_factory=dict)
    messages: int = 0
    clean_messages: int = 0
    # clean messages with a structured-PII or secret finding (any pii.* or secret.* detector but
    # person names: colleagues' names are in every other business message)
    clean_flagged: int = 0
    co_detections: dict[str, int] = field(default_factory=dict)

    def group(self, entities: Sequence[str]) -> Score:
        total = Score()
        for e in entities:
            total.add(self.per_entity.get(e, Score()))
        return total

    @property
    def clean_flag_rate(self) -> float:
        return self.clean_flagged / self.clean_messages if self.clean_messages else 0.0


def _structured(f: Finding) -> bool:
    """A structured-PII or secret finding (names and addresses are free text, not counted)."""
    return f.detector.startswith(("pii.", "secret.")) and f.entity not in (
        "PERSON_NAME",
        "CN_ADDRESS",
    )


def _overlaps(f: Finding, span: list[int] | None) -> bool:
    return span is None or (f.start < span[1] and span[0] < f.end)


def demo_messages(path: Path) -> Iterable[tuple[str, str]]:
    """(WeCom msgid, text view) for every record of a demo JSONL file."""
    with path.open("rb") as f:
        for line in f:
            m = normalise_bytes(line.rstrip(b"\n"))
            yield m.source_msg_id, text_view(m.payload)


def evaluate_demo(engine: Engine, messages: Path, truth: Path, batch: int = 2000) -> DemoQuality:
    items = list(demo_messages(messages))
    truth_by_msg: dict[str, list[dict[str, object]]] = {}
    for line in truth.read_bytes().splitlines():
        t = orjson.loads(line)
        if t["entity"] in DEMO_ENTITY_MAP:
            truth_by_msg.setdefault(t["msgid"], []).append(t)
    findings: dict[str, list[Finding]] = {}
    for i in range(0, len(items), batch):
        for f in engine.scan(items[i : i + batch]).findings:
            findings.setdefault(f.message_id, []).append(f)
    q = DemoQuality(messages=len(items))
    mapped = {e for v in DEMO_ENTITY_MAP.values() for e in v}
    for mid, _text in items:
        truths = truth_by_msg.get(mid, [])
        everything = findings.get(mid, [])
        found = [f for f in everything if f.entity in mapped]
        if not truths:
            q.clean_messages += 1
            if any(_structured(f) for f in everything):
                q.clean_flagged += 1
        used: set[int] = set()
        for t in truths:
            ent = str(t["entity"])
            want = DEMO_ENTITY_MAP[ent]
            span = t.get("span")
            hit = next(
                (k for k, f in enumerate(found)
                 if f.entity in want and _overlaps(f, span if isinstance(span, list) else None)),
                None,
            )  # fmt: skip
            s = q.per_entity.setdefault(ent, Score())
            if hit is None:
                s.fn += 1
            else:
                s.tp += 1
                used.add(hit)
        for k, f in enumerate(found):
            if k in used:
                continue
            # A finding no truth item claims: a false positive for the truth entity it maps to.
            owner = next((e for e, v in DEMO_ENTITY_MAP.items() if f.entity in v), f.entity)
            if any(f.entity in DEMO_ENTITY_MAP[str(t["entity"])] for t in truths):
                continue  # a second finding for an item already found (e.g. two lexicon terms)
            if truths:
                q.co_detections[owner] = q.co_detections.get(owner, 0) + 1
            else:
                q.per_entity.setdefault(owner, Score()).fp += 1
    return q


def read_cluener(path: Path) -> list[tuple[str, dict[str, list[tuple[int, int]]]]]:
    """CLUENER2020 as stored in ../shared/datasets/names: concatenated JSON objects
    ``{"text": ..., "label": {type: {surface: [[start, end_inclusive], ...]}}}``, returned as
    (text, {type: [(start, end_exclusive), ...]})."""
    decoder, text, pos = json.JSONDecoder(), path.read_text("utf-8"), 0
    out: list[tuple[str, dict[str, list[tuple[int, int]]]]] = []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        doc, pos = decoder.raw_decode(text, pos)
        spans = {
            kind: [(a, b + 1) for pairs in by_surface.values() for a, b in pairs]
            for kind, by_surface in doc["label"].items()
        }
        out.append((doc["text"], spans))


def name_spans_score(engine: Engine, docs: Sequence[tuple[str, dict[str, list[tuple[int, int]]]]],
                     half: int) -> Score:  # fmt: skip
    """Exact-span person-name score over the documents whose index has parity ``half``."""
    items = [(str(k), t) for k, (t, _) in enumerate(docs) if k % 2 == half]
    gold = {(str(k), a, b) for k, (_, sp) in enumerate(docs) if k % 2 == half
            for a, b in sp.get("name", ())}  # fmt: skip
    pred: set[tuple[str, int, int]] = set()
    for i in range(0, len(items), 2000):
        found = engine.scan(items[i : i + 2000]).findings
        pred |= {(f.message_id, f.start, f.end) for f in found if f.entity == "PERSON_NAME"}
    return Score(tp=len(pred & gold), fp=len(pred - gold), fn=len(gold - pred))


# Links cited in the documentation of the software installed on this machine: real URLs
# to thousands of ordinary sites, mostly short (a project's home, its docs, its repository)
# — the kind of link people paste into chat that the public URL lists lack. Placeholders,
# templates and local addresses are left out.
_CITED = re.compile(rb"https?://[A-Za-z0-9._~:/?#@!&()*+,;=%-]+")
_NOT_A_SITE = re.compile(
    r"[(){}<>$\\\[\]\"'`|^]|%s|\.\.\.|localhost|127\.0\.0\.1|\bexample\.(?:com|org|net)\b"
    r"|\b(?:foo|bar|xxx)\.|your[-_]?(?:domain|site|server|host)",
    re.IGNORECASE,
)
_SITE = re.compile(r"https?://[a-z0-9.-]+\.[a-z]{2,}(?:[/:?#]|$)", re.IGNORECASE)


def cited_links(roots: Iterable[Path], per_site: int = 30, seed: int = 7) -> list[str]:
    """Distinct links found in the files under ``roots``, at most ``per_site`` per
    registrable domain (a fixed, seeded choice), so no site dominates."""
    found: set[str] = set()
    for root in roots:
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                try:
                    data = (Path(dirpath) / name).read_bytes()
                except OSError:
                    continue
                for m in _CITED.finditer(data):
                    url = m.group().decode("ascii", "replace").rstrip(".,;:")
                    if len(url) <= 300 and _SITE.match(url) and not _NOT_A_SITE.search(url):
                        found.add(url)
    by_site: dict[str, list[str]] = {}
    for url in sorted(found):
        by_site.setdefault(registrable_domain(url), []).append(url)
    rng = random.Random(seed)
    out: list[str] = []
    for _site, urls in sorted(by_site.items()):
        rng.shuffle(urls)
        out += urls[:per_site]
    return out


def documentation_roots() -> list[Path]:
    """Where installed software keeps its documentation and metadata: Debian's
    ``/usr/share/doc`` and the running Python's standard and site libraries."""
    paths = sysconfig.get_paths()
    roots = [Path("/usr/share/doc"), Path(paths["stdlib"]), Path(paths["purelib"])]
    return [r for r in dict.fromkeys(roots) if r.is_dir()]
