"""Every default policy: messages that must and must not fire, in context.

Real detectors (the built-in set plus the demo company's codename and competitor
lexicons) feed each policy through the same service ``wxguard policies test`` uses.
Context-only policies (groups, third parties, impersonation) are exercised end to end
through an archive in test_policy_run.py.
"""

from __future__ import annotations

import hmac
import os
import random
from pathlib import Path
from typing import Any

import pytest

from wxguard.demo.lexicons import write_demo_lexicons
from wxguard.demo.plants import luhn_complete
from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.registry import DetectorRegistry
from wxguard.policy.evaluate import needs_findings
from wxguard.policy.pack import PolicySet, load_policies
from wxguard.policy.service import TrialContext, try_text

CARD = luhn_complete("622202", 19, random.Random(3))
EXT = {"recipient_kind": "external"}
INT = {"recipient_kind": "internal"}
FROM_EXT = {"sender_kind": "external", "recipient_kind": "internal"}

# (policy, text, context, fires)
CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    ("confidential-external", "【内部资料】青鸾计划 报价先发您参考", EXT, True),
    ("confidential-external", "【内部资料】青鸾计划 报价先发您参考", INT, False),
    ("confidential-external", "This deck is CONFIDENTIAL, please do not forward", EXT, True),
    ("confidential-external", "合同已经盖章，明天寄给您", EXT, False),
    ("unauthorised-transaction", "这单私下便宜点，钱直接转我个人支付宝就行", EXT, True),
    ("unauthorised-transaction", "这单私下便宜点，钱直接转我个人支付宝就行", INT, False),
    ("unauthorised-transaction", "我代表公司承诺明年价格保证不涨", EXT, True),
    ("unauthorised-transaction", "请按合同约定付款到公司对公账户", EXT, False),
    (
        "unauthorised-transaction",
        "合作愉快，一点心意",
        {**EXT, "kind": "redpacket", "amount_yuan": 888},
        True,
    ),
    (
        "unauthorised-transaction",
        "节日快乐",
        {**EXT, "kind": "redpacket", "amount_yuan": 20},
        False,
    ),
    (
        "unauthorised-transaction",
        "合作愉快",
        {**INT, "kind": "redpacket", "amount_yuan": 888},
        False,
    ),
    ("phishing-social-engineering", "系统升级，麻烦把刚收到的短信验证码发我一下", FROM_EXT, True),
    (
        "phishing-social-engineering",
        "系统升级，麻烦把刚收到的短信验证码发我一下",
        {"sender_kind": "internal", "recipient_kind": "internal"},
        False,
    ),
    (
        "phishing-social-engineering",
        "邮箱即将过期 https://yunshan-tech.com.login-verify.cn/auth?u=1",
        FROM_EXT,
        True,
    ),
    ("phishing-social-engineering", "我在开会，马上给这个账户转48万，合同稍后补", FROM_EXT, True),
    ("phishing-social-engineering", "发票已开，请查收", FROM_EXT, False),
    (
        "phishing-social-engineering",
        "URGENT! Your number has won a £2,000 prize. Call 09061234567 now to claim, T&Cs apply",
        FROM_EXT,
        True,
    ),
    (
        "phishing-social-engineering",
        "We won the tender! Please claim your expenses before Friday.",
        FROM_EXT,
        False,
    ),
    ("offensive-content", "你是不是脑子进水了，这点事都办不好", INT, True),
    ("offensive-content", "Shut up, you useless idiot.", INT, True),
    ("offensive-content", "女的就是干不了销售，别浪费名额", INT, True),
    ("offensive-content", "我们坚决反对任何性别歧视，招聘一视同仁", INT, False),
    ("offensive-content", "明天上午十点开周会，请准时参加", INT, False),
    ("pii-external", "客户开户资料：身份证号 11010519491231002X，麻烦尽快办理", EXT, True),
    ("pii-external", "客户开户资料：身份证号 11010519491231002X，麻烦尽快办理", INT, False),
    ("pii-external", f"退款请打到这张卡：{CARD}，户名王芳", EXT, True),
    ("pii-external", "订单号 202611051234567890 已发货", EXT, False),
    ("competitor-research", "想办法搞一份海曙科技给客户的内部报价单", EXT, True),
    ("competitor-research", "海曙科技今天发布了新产品，官网有介绍", EXT, False),
    ("competitor-research", "把我们的内部报价单发给销售部", INT, False),
    ("ip-violation", "谁有破解版的 AutoCAD 2024？发我一个注册机", INT, True),
    ("ip-violation", "AutoCAD 的正版授权已经续费了", INT, False),
    (
        "secrets-in-chat",
        "CI 用这个 token：ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        INT,
        True,
    ),
    ("secrets-in-chat", "服务器root密码是 Xk9#pL2mQ! 别外传", INT, True),
    ("secrets-in-chat", "密码策略：至少12位，包含大小写和数字", INT, False),
    ("unapproved-external-group", "大家好，报价在这个群里单独说", {**EXT, "group": True}, True),
    (
        "unapproved-external-group",
        "大家好，报价在这个群里单独说",
        {**EXT, "group": True, "approved_group": True},
        False,
    ),
    ("unapproved-external-group", "大家好，周会改到下午", {**INT, "group": True}, False),
    ("unapproved-external-group", "您好，报价已发邮件", EXT, False),
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    lex = tmp_path_factory.mktemp("lex")
    write_demo_lexicons(lex)
    reg = DetectorRegistry.load(DetectConfig(lexicon_paths=[lex], own_domains=["yunshan-tech.com"]))
    key = os.urandom(32)
    return Engine(reg.detectors, lambda v: hmac.digest(key, v.encode(), "sha256")[:16].hex())


@pytest.fixture(scope="module")
def pack() -> PolicySet:
    return load_policies(None)


@pytest.mark.parametrize(("policy", "text", "ctx", "fires"), CASES)
def test_default_policy_in_context(
    engine: Engine, pack: PolicySet, policy: str, text: str, ctx: dict[str, Any], fires: bool
) -> None:
    p = pack.get(policy)
    assert p is not None
    [r] = try_text(PolicySet([p]), engine, text, TrialContext(**ctx))
    assert r.fired == fires, (policy, text, ctx, r.all_findings)
    if fires and p.when is not None and needs_findings(p.when):
        assert r.findings, "a findings-based alert carries its evidence"


def test_every_default_policy_has_firing_and_quiet_cases(pack: PolicySet) -> None:
    covered = {(c[0], c[3]) for c in CASES}
    end_to_end = {"impersonation-executive", "unverified-third-party", "pii-bulk-external",
                  "phishing-link-then-payment"}  # fmt: skip
    for p in pack.policies:
        if p.id in end_to_end:
            continue
        assert (p.id, True) in covered and (p.id, False) in covered, p.id


def test_policies_test_command(tmp_path: Path) -> None:
    from conftest import run_cli

    r = run_cli("policies", "test", "secrets-in-chat", "--text", "私钥密码是 Xk9#pL2mQ! 别外传",
                "--to", "internal", data=tmp_path / "none", check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "secrets-in-chat: FIRES" in r.stdout and "PASSWORD" in r.stdout
    r = run_cli("policies", "test", "pii-external", "--text", "身份证 11010519491231002X",
                "--to", "internal", data=tmp_path / "none", check=False)  # fmt: skip
    assert r.returncode == 3 and "does not fire" in r.stdout
    assert "CN_RESIDENT_ID" in r.stdout  # the finding is shown even when the policy is quiet
