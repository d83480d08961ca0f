"""Chinese postal addresses: components in order, trimmed to where the address begins."""

from __future__ import annotations

import pytest

from wxguard.detect.address import ChineseAddress
from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine([ChineseAddress(DetectConfig())], lambda v: v)


def found(engine: Engine, text: str) -> list[str]:
    return [text[f.start : f.end] for f in engine.scan([("m", text)]).findings]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("收货地址：上海市浦东新区张江路123号", "上海市浦东新区张江路123号"),
        ("北京市朝阳区建国路88号SOHO现代城A座1801室", "北京市朝阳区建国路88号SOHO现代城A座1801室"),
        ("请寄到杭州市西湖区文三路478号华星时代广场A座", "杭州市西湖区文三路478号华星时代广场A座"),
        ("公司在海淀区中关村大街27号", "海淀区中关村大街27号"),
        ("和平区南京路100号", "和平区南京路100号"),  # a district whose name starts like a word
        ("地址：广东省深圳市南山区科技园南区8栋602室", "广东省深圳市南山区科技园南区8栋602室"),
    ],
)
def test_addresses(engine: Engine, text: str, address: str) -> None:
    assert found(engine, text) == [address]


@pytest.mark.parametrize(
    "text",
    ["明天去上海开会", "广东队的比赛很精彩", "会议在3楼大会议室", "订单号 YS2026103282010 的发票",
     "我们在北京和上海都有办公室"],
)  # fmt: skip
def test_places_that_are_not_addresses(engine: Engine, text: str) -> None:
    assert found(engine, text) == []


def test_context_raises_the_score(engine: Engine) -> None:
    bare = engine.scan([("a", "上海市浦东新区张江路123号")]).findings[0]
    ctx = engine.scan([("b", "收货地址：上海市浦东新区张江路123号")]).findings[0]
    assert ctx.score > bare.score and ctx.explanation.context == ["地址", "收货"]
