"""The engine and registry: isolation of bad detectors, bad input, plugin registration."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterable
from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wxguard.detect.api import (
    Anchor,
    DetectConfig,
    Detector,
    Explanation,
    Hit,
    ScanBatch,
    digit_runs,
    join_utf8,
)
from wxguard.detect.engine import Engine, _encode, _same_on_bytes, _splice
from wxguard.detect.patterns import Pattern, PatternDetector
from wxguard.detect.pii import BankCard, HmtId, Landline, Mobile, ResidentId, Uscc
from wxguard.detect.registry import DetectorRegistry
from wxguard.detect.textnorm import map_chars, one_to_one

CFG = DetectConfig(builtin_lexicons=False)


class Exploding(Detector):
    id = "test.exploding"
    version = "1"
    entities = ("BOOM",)

    def anchors(self) -> list[Anchor]:
        return [Anchor("1")]

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        raise RuntimeError("model file /models/x.onnx is missing")


class BadSpan(Detector):
    id = "test.bad_span"
    version = "1"
    entities = ("X",)

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        return [Hit(0, 0, 999, "X", 0.9, "13800138000", Explanation())]  # beyond the text


class EveryMessage(Detector):
    """No anchors: sees every message (the way expensive detectors are wired)."""

    id = "test.every"
    version = "2"
    entities = ("LONG",)

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        for i in batch.candidates:
            if len(batch.texts[i]) > 5:
                yield Hit(i, 0, 5, "LONG", 0.6, batch.texts[i][:5], Explanation(note="long"))


def test_one_bad_detector_never_stops_the_others() -> None:
    reg = DetectorRegistry()
    for k in (Exploding, BadSpan, Mobile):
        reg.add(k, CFG, "tests")
    e = Engine(reg.detectors, lambda v: v)
    r = e.scan([("a", "手机 13800138000")])
    assert [f.entity for f in r.findings] == ["CN_MOBILE"]
    faults = {f.detector: f.reason for f in r.faults}
    assert faults["test.exploding"] == "RuntimeError: model file /models/x.onnx is missing"
    assert faults["test.bad_span"] == "returned an invalid span (message 0, 0-999)"


def test_detector_without_anchors_sees_every_message() -> None:
    e = Engine([EveryMessage(CFG)], lambda v: v)
    r = e.scan([("a", "short"), ("b", "a longer one"), ("c", "机密机密机密")])
    assert [(f.message_id, f.version) for f in r.findings] == [("b", "2"), ("c", "2")]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\x00\x00手机 13800138000\x00",
        "a\ud800b 手机 13800138000 \udfff",
        bytes(random.Random(1).randbytes(4000)).decode("latin-1"),
        os.urandom(3000).decode("utf-8", "replace"),
    ],
)
def test_odd_input_is_scanned_without_error(text: str) -> None:
    reg = DetectorRegistry.load(DetectConfig())
    r = Engine(reg.detectors, lambda v: v).scan([("a", text), ("b", "手机 13900139000")])
    assert not r.faults
    assert ("b", "CN_MOBILE") in {(f.message_id, f.entity) for f in r.findings}
    for f in r.findings:
        if f.message_id == "a":
            assert 0 <= f.start < f.end <= len(text)
            if f.entity == "CN_MOBILE":
                assert text[f.start : f.end] == "13800138000"


def test_a_ten_megabyte_message() -> None:
    reg = DetectorRegistry.load(DetectConfig())
    big = ("普通聊天内容，没有敏感信息。" * 800_000)[
        : (10 << 20) // 3
    ] + " 身份证 320102199308213883"
    t0 = time.perf_counter()
    r = Engine(reg.detectors, lambda v: v).scan([("big", big)])
    assert time.perf_counter() - t0 < 30
    assert [f.entity for f in r.findings] == ["CN_RESIDENT_ID"]
    assert big[r.findings[0].start : r.findings[0].end] == "320102199308213883"


def test_registry_loads_every_builtin_through_entry_points() -> None:
    reg = DetectorRegistry.load(DetectConfig())
    ids = {d.id for d in reg.detectors}
    assert {"pii.cn.resident_id", "pii.bank_card", "secret.password", "lexicon"} <= ids
    assert len(ids) == 26 and not reg.problems
    assert all(reg.sources[i] == "wxguard" for i in ids)


def test_registry_rejects_bad_plugins_and_names_them() -> None:
    class NoVersion(Detector):
        id = "test.no_version"
        entities = ("X",)

    class BadId(Detector):
        id = "Not An Id"
        version = "1"

    class Unbuildable(Detector):
        id = "test.unbuildable"
        version = "1"

        def __init__(self, config: DetectConfig) -> None:
            raise FileNotFoundError("lexicon /etc/missing.toml")

    reg = DetectorRegistry()
    reg.add(Mobile, CFG, "a")
    reg.add(Mobile, CFG, "b")
    reg.add(NoVersion, CFG, "p")
    reg.add(BadId, CFG, "p")
    reg.add(Unbuildable, CFG, "p")
    reg.add(int, CFG, "p")
    reg.add(Mobile, CFG, "p", name="pii.other_name")
    reasons = [(p.detector, p.reason) for p in reg.problems]
    assert [d.id for d in reg.detectors] == ["pii.cn.mobile"]
    assert ("pii.cn.mobile", "id already registered by a") in reasons
    assert ("test.no_version", "declares no version string") in reasons
    assert any("invalid id" in r for _, r in reasons)
    assert ("test.unbuildable", "cannot be built: lexicon /etc/missing.toml") in reasons
    assert any("not a wxguard Detector" in r for _, r in reasons)
    assert any("entry point name differs" in r for _, r in reasons)


def test_unknown_detector_ids_are_reported() -> None:
    reg = DetectorRegistry.load(DetectConfig(), only=["pii.cn.mobile", "pii.nope"])
    assert [d.id for d in reg.detectors] == ["pii.cn.mobile"]
    assert [(p.detector, p.reason) for p in reg.problems] == [
        ("pii.nope", "no detector with this id is installed")
    ]


# --- the fast paths: byte-mode anchors, trigger databases, splicing, digit runs ---------


class Recorder(Detector):
    """No anchors: records the normalised texts the engine hands out."""

    id = "test.recorder"
    version = "1"
    entities = ("NONE",)

    def __init__(self, config: DetectConfig) -> None:
        super().__init__(config)
        self.seen: list[str] = []

    def scan(self, batch: ScanBatch) -> Iterable[Hit]:
        self.seen = list(batch.texts)
        return []


def test_every_mapped_character_reaches_normalisation() -> None:
    """The literal trigger database holds every character the one-to-one map changes."""
    chars = sorted(c for c in one_to_one() if c != "\x00")
    rec = Recorder(CFG)
    Engine([rec], lambda v: v).scan([(str(k), f"中{c}z") for k, c in enumerate(chars)])
    wrong = [c for c, seen in zip(chars, rec.seen, strict=True) if seen != f"中{map_chars(c)}z"]
    assert wrong == []


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("身 份 证", "身份证"),
        ("身\u3000份\t证", "身份证"),
        ("a\u200bb", "ab"),
        ("好的， 明天", "好的， 明天"),  # the byte trigger over-approximates; nothing removed
        ("é 中", "é 中"),
        ("Let's sync 明天 ok", "Let's sync 明天 ok"),
    ],
)
def test_spaced_chinese_trigger(text: str, normalised: str) -> None:
    rec = Recorder(CFG)
    Engine([rec], lambda v: v).scan([("x", "前一条"), ("a", text), ("y", "后一条")])
    assert rec.seen == ["前一条", normalised, "后一条"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="ab中文😀 \x01", max_size=8), min_size=1, max_size=12),
    st.data(),
)
def test_splice_equals_joining_the_replaced_texts(texts: list[str], data: st.DataObject) -> None:
    changed = sorted(data.draw(st.sets(st.integers(0, len(texts) - 1))))
    new = [data.draw(st.text(alphabet="xy中😀", max_size=10)) for _ in changed]
    buf, ends = join_utf8(texts)
    replaced = list(texts)
    for i, t in zip(changed, new, strict=True):
        replaced[i] = t
    assert _splice(buf, ends, changed, [t.encode() for t in new]) == join_utf8(replaced)


@pytest.mark.parametrize(
    ("pattern", "on_bytes"),
    [
        ("[A-Z]\\d{6}[(]?[0-9A]", True),
        ("https?://|www\\.", True),
        ("sk-[A-Za-z0-9_\\-]{32}", True),
        ("[^\\d]\\d", False),  # a negated class consumes one character, not one byte
        ("a.b", False),
        ("\\D\\d", False),
        ("\\xC2", False),
        ("密码", False),
    ],
)
def test_which_anchors_run_on_bytes(pattern: str, on_bytes: bool) -> None:
    assert _same_on_bytes(pattern) is on_bytes


class TwoPatterns(PatternDetector):
    id = "test.two"
    version = "1"
    entities = ("A", "B")
    patterns = (
        Pattern("a", "A", "AAA\\d+", "AAA", 0.9),
        Pattern("b", "B", "\\d{4}", "BBB", 0.9),  # its regex matches anywhere; anchor: BBB
    )


def test_a_pattern_runs_only_where_its_own_anchor_hit() -> None:
    e = Engine([TwoPatterns(CFG)], lambda v: v)
    got = [
        (f.message_id, f.entity) for f in e.scan([("1", "中AAA1234"), ("2", "BBB 5678")]).findings
    ]
    assert got == [("1", "A"), ("2", "B")]  # no "B" in message 1: its anchor never hit there


def test_byte_mode_anchors_find_digit_runs_after_multibyte_text() -> None:
    e = Engine([Mobile(CFG)], lambda v: v)
    texts = ["😀13800138000", "号码·13900139000", "电话：138·0013·8000", "13700137000"]
    r = e.scan([(str(k), t) for k, t in enumerate(texts)])
    assert [texts[int(f.message_id)][f.start : f.end] for f in r.findings] == [
        "13800138000", "13900139000", "138·0013·8000", "13700137000",
    ]  # fmt: skip


def _reference_runs(text: str) -> list[tuple[int, int, str]]:
    """Maximal runs by the definition: digits with at most one separator between two."""
    out = []
    for m in re.finditer("[0-9](?:[ \\-.\u00b7_]?[0-9])*", text):
        digits = re.sub("[^0-9]", "", m.group())
        if len(digits) >= 6:
            out.append((m.start(), m.end(), digits))
    return out


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -.·_x中+X", max_size=60))
def test_digit_runs_match_their_definition(text: str) -> None:
    assert digit_runs(text) == _reference_runs(text)


def _without_run_tests(cls: type[PatternDetector]) -> PatternDetector:
    slow = [replace(p, runs=None) for p in cls.patterns]
    plain: type[PatternDetector] = type(cls.__name__, (cls,), {"patterns": tuple(slow)})
    return plain(CFG)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789 -·X+中号码身份证卡", min_size=6, max_size=50))
def test_run_tests_never_change_what_number_detectors_find(text: str) -> None:
    """Pattern.runs only skips regex passes that could not produce a finding."""
    for cls in (Mobile, BankCard, ResidentId, Landline):
        fast = Engine([cls(CFG)], lambda v: v).scan([("m", text)]).findings
        slow = Engine([_without_run_tests(cls)], lambda v: v).scan([("m", text)]).findings
        assert fast == slow, cls.id


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.text(alphabet="0123456789 -X中号码身份证卡电话", min_size=0, max_size=30),
        min_size=1,
        max_size=6,
    )
)
# a 10-digit landline is a candidate of its context words, not of the 11+-digit anchor
@example(["手机 13800138000", "电话 0108888666"])
def test_number_detectors_sharing_a_batch_find_what_each_finds_alone(texts: list[str]) -> None:
    """The digit runs of a candidate set are listed once per batch and shared by every
    number detector (ScanBatch.messages_with_run); patterns whose anchors hit different
    messages (context words, long digits) must still each see their own candidates."""
    items = [(str(k), t) for k, t in enumerate(texts)]
    classes = (Mobile, BankCard, ResidentId, Landline)
    together = Engine([cls(CFG) for cls in classes], lambda v: v).scan(items).findings
    alone = [f for cls in classes
             for f in Engine([_without_run_tests(cls)], lambda v: v).scan(items).findings]  # fmt: skip
    key = lambda f: (f.message_id, f.start, f.end, f.detector, f.score)  # noqa: E731
    assert sorted(map(key, together)) == sorted(map(key, alone))


# HK and TW patterns with no check digit, so every regex match is a finding.
_HmtUnchecked: type[PatternDetector] = type(
    "_HmtUnchecked",
    (HmtId,),
    {"patterns": tuple(replace(p, validate=None) for p in HmtId.patterns[:2])},
)


# Pieces of HK/TW IDs and of a valid and an invalid USCC, and what may touch them.
_ID_PIECES = ["A123456789", "AB123456", "Z2", "(7)", "7", "A", "1", "中", " ", "x",
              "91330106Q20RDP0D73", "202610097035142183", "9133"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(_ID_PIECES)).map("".join), min_size=1, max_size=3),
    st.sampled_from([_HmtUnchecked, Uscc]),
)
def test_bounded_anchors_never_drop_a_finding(texts: list[str], cls: type[PatternDetector]) -> None:
    """The bounded anchors (whole tokens only; USCC's also the department and region its
    validator checks) fire wherever the regexes would find something, at the start and
    end of a text and of the batch buffer: the engine finds what the detector finds when
    it is run on every message."""
    det = cls(CFG)
    items = [(str(k), t) for k, t in enumerate(texts)]
    got = {(f.message_id, f.start, f.end) for f in Engine([det], lambda v: v).scan(items).findings}
    every = det.scan(ScanBatch(texts, range(len(texts))))
    assert got == {(str(h.index), h.start, h.end) for h in every}


@pytest.mark.parametrize(
    "text",
    ["SF8605271917261 顺丰", "运单 JD3361786189759", "订单号 YS2026112007884", "AB1234567X",
     "订单 202610097035142183 已发货"],
)  # fmt: skip
def test_waybills_and_order_numbers_are_not_id_candidates(text: str) -> None:
    e = Engine([_HmtUnchecked(CFG), Uscc(CFG)], lambda v: v)
    assert e._first_pass(*_encode([text])[1:])[0] == [set() for _ in e._anchors]


@pytest.mark.parametrize(
    "text",
    ["身份证 11010519491231002X", "卡号 6222021234567890128", "手机 +86 138 0013 8000",
     "座机电话 01088886666", "0086-13800138000 请回电", "身份证 110105491231002"],
)  # fmt: skip
def test_run_tests_keep_the_planted_numbers(text: str) -> None:
    dets = [cls(CFG) for cls in (Mobile, BankCard, ResidentId, Landline)]
    assert Engine(dets, lambda v: v).scan([("m", text)]).findings
