"""The engine and registry: isolation of bad detectors, bad input, plugin registration."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable

import pytest

from wxguard.detect.api import Anchor, DetectConfig, Detector, Explanation, Hit, ScanBatch
from wxguard.detect.engine import Engine
from wxguard.detect.pii import Mobile
from wxguard.detect.registry import DetectorRegistry

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
    assert len(ids) == 25 and not reg.problems
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
