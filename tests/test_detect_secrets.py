"""Secrets: token formats, stated passwords, and what must not be taken for one."""

from __future__ import annotations

import base64
import json

import pytest

from wxguard.detect.api import DetectConfig
from wxguard.detect.engine import Engine
from wxguard.detect.registry import DetectorRegistry


@pytest.fixture(scope="module")
def engine() -> Engine:
    reg = DetectorRegistry.load(DetectConfig(builtin_lexicons=False))
    return Engine([d for d in reg.detectors if d.id.startswith("secret.")], lambda v: "x")


def entities(engine: Engine, text: str) -> dict[str, str]:
    return {f.entity: text[f.start : f.end] for f in engine.scan([("m", text)]).findings}


def _jwt() -> str:
    def b64(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': '42', 'n': 'x'})}.c2lnbmF0dXJlMTIz"


KEY_BODY = base64.b64encode(bytes(range(90))).decode()
CASES = [
    ("测试环境的key：AKIAIOSFODNN7EXAMPL2，用完记得删", "AWS_ACCESS_KEY", "AKIAIOSFODNN7EXAMPL2"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
     "AWS_SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ("maps key AIzaSyA1234567890abcdefghijklmnopqrstuv", "GCP_API_KEY",
     "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("CI 用这个 token：ghp_" + "a1B2" * 9, "GITHUB_TOKEN", "ghp_" + "a1B2" * 9),
    ("slack xoxb-123456789012-abcdefghijkl", "SLACK_TOKEN", "xoxb-123456789012-abcdefghijkl"),
    ("API key 先用我的 sk-" + "Ab1" * 16, "OPENAI_KEY", "sk-" + "Ab1" * 16),
    ("企业微信存档 corpsecret=" + "a" * 20 + "-" + "B" * 22, "WECOM_SECRET", "a" * 20 + "-" + "B" * 22),
    ("机器人 https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7e0b-4bc4-97a0-0ec2d1fa5aaa",
     "WECOM_WEBHOOK", "693a91f6-7e0b-4bc4-97a0-0ec2d1fa5aaa"),
    ("token " + _jwt(), "JWT", _jwt()),
    ("服务器root密码是 aB3#xYz12! 别外传", "PASSWORD", "aB3#xYz12!"),
    ("wifi 密码：Yunshan@2026，访客用", "PASSWORD", "Yunshan@2026"),
    ("db pwd: s3cr3t-Pass", "PASSWORD", "s3cr3t-Pass"),
    ("Password is Winter2026!", "PASSWORD", "Winter2026!"),
    ("私钥贴这了\n-----BEGIN OPENSSH PRIVATE KEY-----\n" + KEY_BODY + "\n-----END OPENSSH PRIVATE KEY-----",
     "PRIVATE_KEY",
     "-----BEGIN OPENSSH PRIVATE KEY-----\n" + KEY_BODY + "\n-----END OPENSSH PRIVATE KEY-----"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "entity", "match"), CASES)
def test_secret_found(engine: Engine, text: str, entity: str, match: str) -> None:
    assert entities(engine, text).get(entity) == match


NEGATIVES = [
    "忘记密码的话在登录页点“忘记密码”，别在群里发密码",
    "周会改线上，腾讯会议号 123 456 789，密码见日历邀请",
    "密码是多少来着？",
    "初始密码会通过短信单独发给管理员",
    "password: ******",
    "pwd: reset",
    "my passport is in the drawer",  # "pass" inside a word
    "the sk-learn package",  # too short for a key
    "eyJhbGciOiJIUzI1NiJ9.notjson.sig",  # not three base64url JSON parts
    "see https://www.yunshan-tech.com/whitepaper/2026 for details",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_not_a_secret(engine: Engine, text: str) -> None:
    assert entities(engine, text) == {}


def test_jwt_with_a_non_json_header_is_rejected(engine: Engine) -> None:
    fake = "eyJub3QganNvbg.eyJzdWIiOiI0MiJ9.c2lnbmF0dXJl"
    assert "JWT" not in entities(engine, fake)
