"""Secrets pasted into chat: private keys, cloud and SaaS tokens, JWTs, stated passwords.

Token formats come from the issuers' documented prefixes (AWS key ids, ``AIza``,
``ghp_``, ``xox?-``, ``sk-``); formats without a prefix (AWS secret keys, WeCom
corp secrets) need a naming word nearby (``corpsecret=``, ``aws_secret_access_key``).
"""

from __future__ import annotations

import base64
import binascii
import json

from . import validators as V
from .patterns import Pattern, PatternDetector


def _strip_ws(s: str) -> str:
    return "".join(s.split())


class PrivateKey(PatternDetector):
    id = "secret.private_key"
    version = "1"
    entities = ("PRIVATE_KEY",)
    description = "PEM / OpenSSH / PGP private key blocks (the whole block is the span)"
    patterns = (
        Pattern(
            "pem-private-key", "PRIVATE_KEY",
            "-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
            "(?:[\\s\\S]{0,16384}?-----END \\1-----)?",
            "-----BEGIN [A-Z ]{0,20}PRIVATE KEY", 0.99, None, _strip_ws,
        ),
    )  # fmt: skip


class CloudKey(PatternDetector):
    id = "secret.cloud_key"
    version = "1"
    entities = ("AWS_ACCESS_KEY", "AWS_SECRET_KEY", "GCP_API_KEY", "GCP_SERVICE_ACCOUNT",
                "AZURE_STORAGE_KEY", "AZURE_SAS")  # fmt: skip
    description = "AWS key ids and secret keys, Google API keys and service accounts, Azure keys"
    patterns = (
        Pattern(
            "aws-access-key-id", "AWS_ACCESS_KEY",
            "(?<![A-Z0-9])(?P<v>(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA)[A-Z2-7]{16})"
            "(?![A-Z0-9])",
            "A(?:KIA|SIA|GPA|IDA|ROA|IPA|NPA|NVA)[A-Z2-7]{16}", 0.95,
        ),
        Pattern(
            "aws-secret-access-key", "AWS_SECRET_KEY",
            "(?<![A-Za-z0-9/+])(?P<v>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])",
            "[A-Za-z0-9/+]{40}", 0.3, None, str,
            ("aws_secret", "secret_access_key", "secretaccesskey", "secret key", "secretkey"),
            0.9, requires_context=True, window=24,
        ),
        Pattern(
            "gcp-api-key", "GCP_API_KEY", "(?P<v>AIza[0-9A-Za-z_\\-]{35})(?![0-9A-Za-z_\\-])",
            "AIza[0-9A-Za-z_\\-]{35}", 0.95,
        ),
        Pattern(
            "gcp-service-account", "GCP_SERVICE_ACCOUNT",
            "\"private_key_id\"\\s*:\\s*\"(?P<v>[0-9a-f]{40})\"",
            "\"private_key_id\"", 0.95,
        ),
        Pattern(
            "azure-storage-key", "AZURE_STORAGE_KEY",
            "AccountKey=(?P<v>[A-Za-z0-9+/]{86}==)", "AccountKey=", 0.97,
        ),
        Pattern(
            "azure-sas", "AZURE_SAS",
            "[?&]sig=(?P<v>[A-Za-z0-9%+/]{40,}(?:%3D|=){0,2})", "[?&]sig=", 0.5, None, str,
            ("sv=", "se=", "sp=", "blob.core.windows.net", "sharedaccesssignature"), 0.9,
            requires_context=True, window=200,
        ),
    )  # fmt: skip


def _wecom_value(value: str) -> str:
    return V.OK if len(value) == 43 else "not 43 characters"


class SaasToken(PatternDetector):
    id = "secret.saas_token"
    version = "1"
    entities = ("GITHUB_TOKEN", "SLACK_TOKEN", "SLACK_WEBHOOK", "OPENAI_KEY", "WECOM_SECRET",
                "WECOM_WEBHOOK")  # fmt: skip
    description = (
        "GitHub, Slack and OpenAI-style tokens, WeCom corp secrets and group-bot webhook keys"
    )
    patterns = (
        Pattern(
            "github-token", "GITHUB_TOKEN",
            "(?<![A-Za-z0-9_])(?P<v>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|"
            "github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])",
            "gh[pousr]_[A-Za-z0-9]{36}|github_pat_", 0.97,
        ),
        Pattern(
            "slack-token", "SLACK_TOKEN", "(?P<v>xox[baprs]-[A-Za-z0-9\\-]{10,})",
            "xox[baprs]-", 0.95,
        ),
        Pattern(
            "slack-webhook", "SLACK_WEBHOOK",
            "(?P<v>https://hooks\\.slack\\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+)",
            "hooks\\.slack\\.com/services/", 0.95,
        ),
        Pattern(
            "openai-style-key", "OPENAI_KEY",
            "(?<![A-Za-z0-9_\\-])(?P<v>sk-(?:proj-|ant-(?:api03-)?|svcacct-)?[A-Za-z0-9_\\-]{32,})"
            "(?![A-Za-z0-9_\\-])",
            "sk-[A-Za-z0-9_\\-]{32}", 0.9,
        ),
        Pattern(
            "wecom-corpsecret", "WECOM_SECRET",
            "(?:corp_?secret|secret)\\s*[=:：]\\s*(?P<v>[A-Za-z0-9_\\-]{43})(?![A-Za-z0-9_\\-])",
            "secret\\s*[=:：]", 0.95, _wecom_value, str, caseless=True,
        ),
        Pattern(
            "wecom-webhook", "WECOM_WEBHOOK",
            "qyapi\\.weixin\\.qq\\.com/cgi-bin/webhook/send\\?key=(?P<v>[0-9a-fA-F\\-]{36})",
            "qyapi\\.weixin\\.qq\\.com/cgi-bin/webhook", 0.95,
        ),
    )  # fmt: skip


def _jwt(value: str) -> str:
    head = value.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return "header is not base64url JSON"
    return V.OK if isinstance(decoded, dict) and "alg" in decoded else "header has no alg"


class Jwt(PatternDetector):
    id = "secret.jwt"
    version = "1"
    entities = ("JWT",)
    description = "JSON Web Tokens (header must decode to JSON naming an alg)"
    patterns = (
        Pattern(
            "jwt", "JWT",
            "(?P<v>eyJ[A-Za-z0-9_\\-]{8,}\\.eyJ[A-Za-z0-9_\\-]{8,}\\.[A-Za-z0-9_\\-]{8,})",
            "eyJ[A-Za-z0-9_\\-]{8}", 0.9, _jwt,
        ),
    )  # fmt: skip


_NOT_PASSWORDS = frozenset(
    ("reset", "wrong", "error", "expired", "correct", "incorrect", "changed", "change", "forgot",
     "forgotten", "required", "null", "none", "empty", "default", "xxxxxx", "123456")
)  # fmt: skip


def _password(value: str) -> str:
    if not 4 <= len(value) <= 64:
        return "length outside 4-64"
    if value.lower() in _NOT_PASSWORDS or len(set(value)) == 1:
        return "a placeholder, not a password"
    return V.OK


_PWD_VALUE = "(?P<v>[\\x21-\\x7e]*[A-Za-z0-9!@#$%^&*_\\-+=~])"


class Password(PatternDetector):
    id = "secret.password"
    version = "1"
    entities = ("PASSWORD",)
    description = "Passwords stated in chat: 密码是…, 口令:…, pwd:…, password=…"
    patterns = (
        Pattern(
            "stated-password-zh", "PASSWORD",
            f"(?:密码|口令|登录密码|开机密码)\\s*(?:是|为|:|：|=|就是|改成|改为|改为了)\\s*{_PWD_VALUE}",
            "密码|口令", 0.9, _password,
        ),
        Pattern(
            "stated-password-en", "PASSWORD",
            f"(?:password|passwd|pwd|passcode)\\s*(?:is|:|：|=)\\s*{_PWD_VALUE}",
            "pass(?:word|wd|code)|pwd", 0.85, _password, caseless=True,
        ),
        Pattern(
            "bare-password-zh", "PASSWORD",
            f"(?:密码|口令)[ \\t]+{_PWD_VALUE}",
            "密码|口令", 0.6, _password,
        ),
    )  # fmt: skip


BUILTIN = (PrivateKey, CloudKey, SaasToken, Jwt, Password)
