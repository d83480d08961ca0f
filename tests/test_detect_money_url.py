"""Money amounts (Chinese numerals, units) and suspicious links (offline rules)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.money import (
    _MONEY_RX,
    MoneyAmount,
    chinese_number,
    magnitude,
    money_matches,
    to_fen,
)
from wxguard.detect.url import MAX_LINKS, SuspiciousUrl, skeleton

OWN = DetectConfig(own_domains=["yunshan-tech.com"], builtin_lexicons=False)


@pytest.mark.parametrize(
    ("text", "value"),
    [("三万五千", 35000), ("十二", 12), ("一千零五", 1005), ("两亿三千万", 230_000_000),
     ("壹仟贰佰", 1200), ("四十八万", 480_000), ("万", None), ("三x", None)],
)  # fmt: skip
def test_chinese_numbers(text: str, value: int | None) -> None:
    assert chinese_number(text) == value


def test_stored_explanations_give_only_the_order_of_magnitude() -> None:
    text = "转账¥48,000"
    (f,) = Engine([MoneyAmount(OWN)], lambda v: v).scan([("m", text)]).findings
    assert f.explanation.note == "amount of the order of ¥10,000 (¥10,000–¥99,999)"
    assert "48" not in f.explanation.note
    assert magnitude("¥", 20) == "amount under ¥1"


_MONEYISH = st.text(
    alphabet="¥$￥RrMmBbCcNnYyUuSsDd人民币元块钱刀美金万亿千百十一两三整0123456789٣.,kKwW x"
)


@settings(max_examples=500, deadline=None)
@given(_MONEYISH)
@example("订单 202610097035142183 共¥1,2345.5万元，一百二十三元整 RMB 5k usd3 US$7")
def test_money_matches_are_the_regexs_own(text: str) -> None:
    """Trying the money regex only where a match can begin finds exactly its matches."""
    want = [(m.span(), m.groupdict()) for m in _MONEY_RX.finditer(text)]
    assert [(m.span(), m.groupdict()) for m in money_matches(text)] == want


def test_to_fen() -> None:
    assert to_fen("1.2", "万") == 1_200_000
    assert to_fen("48,000", "") == 4_800_000
    assert to_fen("5", "k") == 500_000
    assert to_fen("0.001", "") is None


@pytest.mark.parametrize(
    ("text", "match", "value"),
    [
        ("报价三万五千元", "三万五千元", "CNY:3500000"),
        ("预算1.2万，尽快", "1.2万", "CNY:1200000"),
        ("转账¥48,000", "¥48,000", "CNY:4800000"),
        ("马上给这个账户转48万，合同稍后补", "48万", "CNY:48000000"),
        ("这单我私下给你便宜两万", "两万", "CNY:2000000"),
        ("合作愉快\n红包 ¥888.00", "¥888.00", "CNY:88800"),
        ("price $1,200 per unit", "$1,200", "USD:120000"),
        ("合同额 120万元", "120万元", "CNY:120000000"),
    ],
)
def test_money_found_and_normalised(text: str, match: str, value: str) -> None:
    e = Engine([MoneyAmount(OWN)], lambda v: v)
    got = [(text[f.start : f.end], f.value_fp) for f in e.scan([("m", text)]).findings]
    assert got == [(match, value)]


@pytest.mark.parametrize(
    "text", ["一共3万人参加", "我们有三万五千个客户", "第2026号文件", "两万人"]
)
def test_counts_are_not_money(text: str) -> None:
    assert Engine([MoneyAmount(OWN)], lambda v: v).scan([("m", text)]).findings == []


@pytest.mark.parametrize(
    ("url", "entity"),
    [
        ("https://yunshan-tech.com.login-verify.cn/auth?u=abc", "LOOKALIKE_URL"),
        ("https://yunshan-tcch.com/x", "LOOKALIKE_URL"),
        ("https://paypa1.com/login", "LOOKALIKE_URL"),
        ("https://alipay-secure.top/verify", "LOOKALIKE_URL"),
        ("http://10.2.3.4/a", "SUSPICIOUS_URL"),
        ("https://t.cn/A6xYz", "SUSPICIOUS_URL"),
        ("https://xn--80ak6aa92e.com/", "SUSPICIOUS_URL"),
        # a platform's customer named like a brand is still a look-alike
        ("https://paypa1.s3.amazonaws.com/login", "LOOKALIKE_URL"),
        ("https://icloud-find.firebaseapp.com/", "LOOKALIKE_URL"),
        ("https://secure-paypal.com.evil.cn/x", "LOOKALIKE_URL"),
    ],
)
def test_suspicious_urls(url: str, entity: str) -> None:
    e = Engine([SuspiciousUrl(OWN)], lambda v: v)
    text = f"请点击 {url} 完成验证"
    (f,) = e.scan([("m", text)]).findings
    assert (f.entity, text[f.start : f.end]) == (entity, url)
    assert f.explanation.validator  # the reason is explained


@pytest.mark.parametrize(
    "url",
    [
        "https://www.yunshan-tech.com/news/v3-2",  # the company's own domain
        "https://docs.yunshan-tech.com/a",
        "https://alipay.com/x",
        "https://mail.qq.com/login",
        "https://github.com/org/repo",
        "https://www.example.co.uk/path",
        # brand names inside a platform's public suffix, or a brand's other domains
        "https://mybucket.s3.amazonaws.com/report.pdf",
        "https://fonts.googleapis.com/css?family=Noto+Sans+SC",
        "https://lh3.googleusercontent.com/a/photo",
        "https://www.amazon.cn/dp/B07XYZ",
        "https://www.paypalobjects.com/js/checkout.js",
        # a brand's name in the middle of a word
        "https://www.huaweicloud.com/product/ecs.html",
    ],
)
def test_ordinary_urls_are_not_flagged(url: str) -> None:
    assert Engine([SuspiciousUrl(OWN)], lambda v: v).scan([("m", f"看 {url} 吧")]).findings == []


def test_skeleton_folds_lookalike_characters() -> None:
    assert skeleton("paypa1") == skeleton("paypal")
    assert skeleton("rnicrosoft") == skeleton("microsoft")


_HOSTS = ["yunshan-tech.com", "yunshan-tech.com.login-verify.cn", "paypa1.com", "alipay.taobao.com",
          "10.2.3.4", "t.cn", "xn--80ak6aa92e.com", "doc.weixin.qq.com", "login.example.com"]  # fmt: skip
_PATHS = ["", "/", "/login", "/verify?x=1", "/a/account/update", "/sheet/demo1", "/wallet-unlock"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_HOSTS), st.sampled_from(_PATHS)), min_size=1))
def test_verdicts_kept_per_host_equal_a_fresh_judgement(links: list[tuple[str, str]]) -> None:
    """The rules' verdicts are kept per (host, first lure word of the path): a detector
    that has seen other links of a host judges each link as a new detector would."""
    shared = SuspiciousUrl(OWN)
    for host, path in links:
        url = f"https://{host}{path}"
        assert shared.judge(url) == SuspiciousUrl(OWN).judge(url), url


def test_links_judged_per_message_are_bounded() -> None:
    # a crafted text of many distinct look-alike links costs at most MAX_LINKS judgements
    det = SuspiciousUrl(DetectConfig(own_domains=["yunshan-tech.com"]))
    text = " ".join(f"https://yunshan-tech.com.v{n}.cn/auth" for n in range(MAX_LINKS + 500))
    found = Engine([det], lambda v: v).scan([("m", text)]).findings
    assert len(found) == MAX_LINKS and {f.entity for f in found} == {"LOOKALIKE_URL"}
    assert max(f.end for f in found) < text.index(f".v{MAX_LINKS}.cn")  # the first ones
