"""Table-driven detector tests: positives, evasions and hard negatives, through the engine."""

from __future__ import annotations

import pytest

from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.registry import DetectorRegistry


@pytest.fixture(scope="module")
def engine() -> Engine:
    reg = DetectorRegistry.load(DetectConfig())
    assert not reg.problems, reg.problems
    return Engine(reg.detectors, lambda v: "fp:" + str(len(v)))


def found(engine: Engine, text: str) -> set[tuple[str, str]]:
    """(entity, the original text under the span) for every finding."""
    return {(f.entity, text[f.start : f.end]) for f in engine.scan([("m", text)]).findings}


POSITIVES = [
    # resident IDs: context, Chinese touching digits, separators, full-width digits, no context
    ("身份证号 440305200102091203，请核对", "CN_RESIDENT_ID", "440305200102091203"),
    ("身份证440305200102091203请核对", "CN_RESIDENT_ID", "440305200102091203"),
    ("身 份 证 号：320102 19930821 3883", "CN_RESIDENT_ID", "320102 19930821 3883"),
    (
        "证件号３２０１０２１９９３０８２１３８８３",
        "CN_RESIDENT_ID",
        "３２０１０２１９９３０８２１３８８３",
    ),
    ("发你：320102199308213883", "CN_RESIDENT_ID", "320102199308213883"),
    ("老身份证号 110101800101123", "CN_RESIDENT_ID", "110101800101123"),
    # mobiles
    ("手机13800138000请回电", "CN_MOBILE", "13800138000"),
    ("联系电话 1 3 8-0013-8000", "CN_MOBILE", "1 3 8-0013-8000"),
    ("call me at +86 139 1234 5678", "CN_MOBILE", "139 1234 5678"),
    ("电话：１５０１２３４５６７８", "CN_MOBILE", "１５０１２３４５６７８"),
    ("13912345678", "CN_MOBILE", "13912345678"),
    ("电话13912345678\u200b", "CN_MOBILE", "13912345678"),
    ("手机139\u200b1234\u200b5678", "CN_MOBILE", "139\u200b1234\u200b5678"),
    # landlines
    ("座机 021-64381234", "CN_LANDLINE", "021-64381234"),
    ("公司电话 (0755) 8888 1234", "CN_LANDLINE", "(0755) 8888 1234"),
    # cards
    ("退款请打到这张卡：6222 0212 3456 7890 128，户名王芳", "BANK_CARD", "6222 0212 3456 7890 128"),
    ("card 4111-1111-1111-1111 exp 12/28", "BANK_CARD", "4111-1111-1111-1111"),
    ("卡号4111111111111111谢谢", "BANK_CARD", "4111111111111111"),
    # organisations and documents
    ("统一社会信用代码91330106Q20RDP0D73", "CN_USCC", "91330106Q20RDP0D73"),
    ("护照号E12345678", "CN_PASSPORT", "E12345678"),
    ("passport: EA1234567", "CN_PASSPORT", "EA1234567"),
    ("香港身份证 A123456(3)", "HK_ID", "A123456(3)"),
    ("台湾身份证 A123456789", "TW_ID", "A123456789"),
    ("A123456789是台湾身份证", "TW_ID", "A123456789"),
    ("香港身份证号码是AB9876543", "HK_ID", "AB9876543"),
    ("港澳通行证 C12345678", "CN_HMT_PERMIT", "C12345678"),
    ("车牌 沪A·12345 停在B2", "CN_LICENCE_PLATE", "沪A·12345"),
    ("新能源 粤B12345D", "CN_LICENCE_PLATE", "粤B12345D"),
    ("邮箱abc.d@yunshan-tech.com吧", "EMAIL", "abc.d@yunshan-tech.com"),
    ("ｅｍａｉｌ：ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｎ", "EMAIL", "ｚｈａｎｇ＠ｅｘａｍｐｌｅ．ｃｎ"),
    ("服务器 IP 10.20.30.40", "IP_ADDRESS", "10.20.30.40"),
    ("ipv6 地址 2001:db8::8a2e:370:7334", "IP_ADDRESS", "2001:db8::8a2e:370:7334"),
    ("IBAN GB82 WEST 1234 5698 7654 32", "IBAN", "GB82 WEST 1234 5698 7654 32"),
    ("SSN 536-22-1234", "US_SSN", "536-22-1234"),
]


@pytest.mark.parametrize(("text", "entity", "match"), POSITIVES)
def test_positive(engine: Engine, text: str, entity: str, match: str) -> None:
    assert (entity, match) in found(engine, text)


HARD_NEGATIVES = [
    # order, tracking and invoice numbers shaped like IDs and cards
    ("订单 202611171154021823 已发货", "CN_RESIDENT_ID"),
    ("订单号 320102199308213883 已发货", "CN_RESIDENT_ID"),  # a valid ID shape, order context
    ("顺丰单号 SF9882362239142，请留意签收", "BANK_CARD"),
    ("订单号 4111111111111111 已退款", "BANK_CARD"),  # Luhn-valid, order context
    ("编号 1234567812345670", "BANK_CARD"),  # Luhn-valid but no card network
    ("京东快递单号 JD6862427669883", "IBAN"),
    ("订单号 YS2026109246346 的发票已经开出", "IBAN"),
    # numbers that merely look like phones
    ("合同金额 13800138000000 元", "CN_MOBILE"),
    ("腾讯会议号 138 001 380", "CN_MOBILE"),
    ("2 13800138001 台", "CN_MOBILE"),  # 12 digits when fused: not a mobile
    ("编码 12800138000", "CN_MOBILE"),  # 128 is not an allocated prefix
    # versions, dates, times
    ("固件版本 v2.3.10.4 已发布", "IP_ADDRESS"),
    ("会议 14:00:00 开始", "IP_ADDRESS"),
    ("2026-11-23 的报表", "US_SSN"),
    # identifiers that need context to mean anything
    ("型号 E12345678 的配件", "CN_PASSPORT"),
    ("批次 12345678 已入库", "CN_HMT_PERMIT"),
    ("京A股份的年报", "CN_LICENCE_PLATE"),
    # mini-program ids are not e-mail addresses
    ("小程序 wx1a2b3c4d5e6f7081@app", "EMAIL"),
]


@pytest.mark.parametrize(("text", "entity"), HARD_NEGATIVES)
def test_hard_negative(engine: Engine, text: str, entity: str) -> None:
    assert entity not in {e for e, _ in found(engine, text)}


def test_context_raises_and_suppression_lowers_the_score(engine: Engine) -> None:
    with_ctx = engine.scan([("a", "身份证号 320102199308213883")]).findings[0]
    bare = engine.scan([("a", "发你 320102199308213883")]).findings[0]
    assert with_ctx.score > bare.score >= 0.5
    assert with_ctx.explanation.context == ["身份证"]
    assert with_ctx.explanation.validator == "ok"
    assert bare.explanation.suppressions == ["suppression words: none near"]


def test_findings_hold_a_fingerprint_not_the_value(engine: Engine) -> None:
    (f,) = [x for x in engine.scan([("a", "手机 13800138000")]).findings]
    assert f.value_fp == "fp:11"  # the fingerprint function saw the canonical digits
    # the same number written differently has the same canonical value
    (g,) = [x for x in engine.scan([("b", "手机 138-0013-8000")]).findings]
    assert g.value_fp == f.value_fp
