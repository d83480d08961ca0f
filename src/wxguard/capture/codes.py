"""Every error code the capture path can meet, mapped to what an operator should do.

Three layers (``shared/specs/wecom-archive.md``): the native library's return codes
10000–10011 (§1.9), ``errcode`` inside a ``GetChatData`` envelope returned with rc 0
(§1.5: 301042, 301052), and the HTTP APIs' ``errcode`` (§3.1). ``transient`` problems
are retried with backoff; the rest stop the pull with the cursor where it was.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    text: str
    transient: bool


SDK_CODES: dict[int, Problem] = {
    10000: Problem(
        "bad request parameter (limit over 1000, empty corp id, or a malformed "
        "media index); this is a wxguard or configuration bug, not retried",
        False,
    ),
    10001: Problem(
        "network request failed (timeout or no route to qyapi.weixin.qq.com; "
        "check the proxy in wecom.toml [network])",
        True,
    ),
    10002: Problem("could not parse Tencent's response; retrying", True),
    10003: Problem("system failure inside the SDK; retrying", True),
    10004: Problem(
        "key error caused encryption failure: check the archive secret and the "
        "RSA key pair uploaded in the admin console",
        False,
    ),
    10005: Problem("bad sdkfileid: the media id is not known to Tencent", False),
    10006: Problem(
        "decryption failed: the random key does not match this record (wrong "
        "private key for its publickey_ver?)",
        False,
    ),
    10007: Problem(
        "no private key for the message's encryption version: upload the key "
        "pair again in the admin console or add the version's private key",
        False,
    ),
    10008: Problem(
        "could not parse encrypt_key: the RSA-unwrapped random key is malformed "
        "(wrong private key for this publickey_ver?)",
        False,
    ),
    10009: Problem(
        "this server's IP is not on the archive's trusted-IP list: add it in the "
        "WeCom admin console (管理工具 → 会话内容存档 → 可信IP)",
        False,
    ),
    10010: Problem(
        "data expired: Tencent no longer holds this item (older than its ~5-day retention)", False
    ),
    10011: Problem(
        "certificate error: TLS to qyapi.weixin.qq.com failed; check the proxy and "
        "the system CA certificates",
        False,
    ),
}

# errcode in the JSON of GetChatData and of the HTTP APIs (§1.9, §3.1, §3.6).
SERVER_CODES: dict[int, Problem] = {
    -1: Problem("WeCom is busy (system error -1); retrying", True),
    301042: Problem(
        "the server's IP is not on the WeCom trusted-IP list for the session "
        "archive: add it in the admin console (管理工具 → 会话内容存档 → 可信IP)",
        False,
    ),
    301052: Problem(
        "the session-archive service has expired: renew the 会话内容存档 licence", False
    ),
    40001: Problem(
        "invalid credential: the secret is wrong or was reset; use the 会话内容存档 "
        "Secret for `secret`",
        False,
    ),
    40013: Problem("invalid corp id: check `corp_id` in wecom.toml (我的企业 → 企业信息)", False),
    40014: Problem("invalid access token (refreshed and retried)", True),
    42001: Problem("access token expired (refreshed and retried)", True),
    45009: Problem("API frequency limit reached; backing off", True),
    45033: Problem("too many concurrent calls; backing off", True),
    48002: Problem("API forbidden: the secret's application may not call this API", False),
    60011: Problem(
        "no privilege: the secret's application cannot see this member or contact; "
        "widen its visible range or set `contacts_secret`",
        False,
    ),
    60020: Problem("the server's IP is not on the application's trusted-IP list", False),
    84061: Problem("no such external contact relation (the contact was deleted)", False),
}


def sdk_problem(code: int) -> Problem:
    return SDK_CODES.get(code, Problem(f"undocumented SDK return code {code}", False))


def server_problem(code: int, errmsg: str = "") -> Problem:
    p = SERVER_CODES.get(code)
    if p is not None:
        return p
    return Problem(f"WeCom error {code}: {errmsg.split(', hint:')[0] or 'no message'}", False)
