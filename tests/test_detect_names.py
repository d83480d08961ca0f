"""Chinese person names by surname, given-name characters and context (no model)."""

from __future__ import annotations

import pytest

from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.names import ChineseName


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine([ChineseName(DetectConfig())], lambda v: v)


def names(engine: Engine, text: str) -> list[str]:
    return [text[f.start : f.end] for f in engine.scan([("m", text)]).findings]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("请联系王芳女士确认开票信息", "王芳"),
        ("收件人：李秀英，电话见附件", "李秀英"),
        ("副部长蒋耀平曾率调研组", "蒋耀平"),
        ("林旭东则表示同意", "林旭东"),
        ("这个事找欧阳明辉经理", "欧阳明辉"),
        ("张伟、李娜、刘洋三位下午到", "李娜"),
    ],
)
def test_names_in_context(engine: Engine, text: str, name: str) -> None:
    assert name in names(engine, text)


@pytest.mark.parametrize(
    "text",
    [
        "今天很高兴见到大家",  # 高兴
        "明天上午十点开周会",  # 明天, 周会
        "请张先生明天过来",  # a surname and a title, not a name
        "银行卡号码发我",  # 银行
        "方案我已经发到群里",  # 方案
    ],
)
def test_words_shaped_like_names(engine: Engine, text: str) -> None:
    assert names(engine, text) == []
