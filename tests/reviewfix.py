"""Helpers for the review application tests: a scanned demo archive with hostile content,
users for every role, and the real ``wxguard serve`` process on loopback."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson

from conftest import run_cli
from wxguard.archive import Archive
from wxguard.review import accounts
from wxguard.review.roles import ROLES
from wxguard.review.settings import ReviewSettings

HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">\u202eexe.txt'
EMPLOYEE = "hostile.test.employee"
ATTACKER = "wmHOSTILEattackerEXTERNAL00000001"
HOSTILE_CONV = f"direct:{EMPLOYEE}|{ATTACKER}"
BIG = 1_000_000
T0 = 1_790_000_000_000


def _line(typ: str, obj: dict[str, Any], **extra: Any) -> bytes:
    return orjson.dumps({"v": 1, "type": typ, typ: obj, **extra}) + b"\n"


def _msg(i: int, sender: str, payload: dict[str, Any], **extra: Any) -> bytes:
    other = ATTACKER if sender == EMPLOYEE else EMPLOYEE
    m = {
        "id": f"hostile:h{i}", "source": "hostile", "source_msg_id": f"h{i}", "sender": sender,
        "recipients": [other], "conversation": HOSTILE_CONV, "chat": "direct",
        "sent_at": T0 + i * 60_000, "payload": payload,
    }  # fmt: skip
    return _line("message", m, **extra)


def hostile_jsonl(path: Path) -> Path:
    """A conversation an attacker controls: markup, script, bidi overrides, a 1 MB message,
    a booby-trapped file name and link, a recalled message and a red packet."""
    pdf = b"%PDF-1.4 not really a pdf <script>alert(1)</script>"
    lines = [
        _line("participant", {"id": EMPLOYEE, "kind": "internal", "name": "测试员工",
                              "department": "销售一部（华东）"}),
        _line("participant", {"id": ATTACKER, "kind": "external", "name": HOSTILE_NAME,
                              "org": "<b>Evil</b> Corp"}),
        _msg(1, ATTACKER, {"kind": "text", "content": "<script>window.__pwned=2</script>hello"}),
        _msg(2, ATTACKER, {"kind": "text",
                           "content": '<img src=x onerror="window.__pwned=3"> 看这个'}),
        _msg(3, ATTACKER, {"kind": "link", "title": "<svg onload=window.__pwned=4>",
                           "url": "javascript:window.__pwned=5", "description": "点我"}),
        _msg(4, ATTACKER, {"kind": "file", "attachment": {
            "name": '"><img src=x onerror=window.__pwned=6>.pdf', "ext": "pdf",
            "size": len(pdf)}}, content=[{"attachment": 0, "b64": base64.b64encode(pdf).decode()}]),
        _msg(5, ATTACKER, {"kind": "text", "content": "invoice\u202egnp.exe \u2066rtl\u2069"}),
        _msg(6, ATTACKER, {"kind": "text", "content": "A" * BIG}),
        _msg(7, EMPLOYEE, {"kind": "text", "content": "这条消息会被撤回"}),
        _msg(8, EMPLOYEE, {"kind": "revoke", "pre_msgid": "h7"}),
        _msg(9, EMPLOYEE, {"kind": "redpacket", "packet_type": 1, "wish": "恭喜发财",
                           "total_count": 1, "total_amount_fen": 88800}),
        _msg(10, EMPLOYEE, {"kind": "text", "content": "最后一条：页面仍然可用"}),
    ]  # fmt: skip
    path.write_bytes(b"".join(lines))
    return path


def build_review_archive(root: Path) -> Path:
    """The demo company, scanned and evaluated, plus the hostile conversation."""
    d = root / "data"
    run_cli("demo", "--no-serve", "--messages", "3000", "--seed", "11", data=d)
    run_cli("ingest", hostile_jsonl(root / "hostile.jsonl"), data=d)
    run_cli("scan", data=d)
    return d


def make_users(d: Path, prefix: str = "") -> dict[str, accounts.Enrolment]:
    """One user per role (named after it), with enrolments to sign in with."""
    out = {}
    with Archive.open(d) as a:
        for role in ROLES:
            out[role] = accounts.add_user(a, f"{prefix}{role}", [role], "test", ReviewSettings())
    return out


def conversation_key(d: Path, conv_id: str) -> str:
    with Archive.open(d) as a:
        return a.keys.fingerprints.of_id(conv_id).hex()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(d: Path) -> Iterator[str]:
    """``wxguard serve`` in its own process on a free loopback port; yields the base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wxguard", "serve", "--data", str(d), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                output = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"wxguard serve did not start:\n{output}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def sign_in(base: str, e: accounts.Enrolment) -> str:
    """A bearer token for the user (waits out the TOTP step if its code was just used)."""
    for _ in range(3):
        r = httpx.post(base + "/api/v1/session", json={
            "username": e.user, "password": e.password, "code": accounts.totp_code(e.totp_secret),
        })  # fmt: skip
        if r.status_code == 200:
            return str(r.json()["token"])
        time.sleep(31 - time.time() % 30)  # the code of this step was used: take the next
    raise AssertionError(f"cannot sign in as {e.user}: {r.status_code} {r.text}")
