"""Alert delivery through the durable outbox to real local receivers: an HTTP webhook
receiver, a UDP syslog listener, an SMTP server (aiosmtpd) and a WeCom API stand-in."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from aiosmtpd.controller import Controller

from policyfix import (
    CUST,
    FIN,
    LAWYER,
    NOW_MS,
    SALES,
    directory,
    ingest_and_evaluate,
    rec,
    write,
)  # fmt: skip
from wxguard.archive import Archive
from wxguard.delivery.config import ConfigError, load_alerting
from wxguard.delivery.outbox import deliver, status
from wxguard.delivery.sinks import cef_event, verify_signature
from wxguard.policy.store import allowlist_add

SECRET = "s3cret-for-tests"
TOKEN = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Receiver(ThreadingHTTPServer):
    """Webhook receiver and WeCom stand-in (gettoken, message/send) in one."""

    def __init__(self, port: int) -> None:
        self.hooks: list[tuple[dict[str, str], bytes]] = []
        self.wecom: list[dict[str, Any]] = []
        self.tokens = 0
        self.expire_next = True  # first send answers 42001: the sink must refresh and retry
        super().__init__(("127.0.0.1", port), Handler)


class Handler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, obj: Any) -> None:
        body = json.dumps(obj).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        u = urlparse(self.path)
        q = parse_qs(u.query)
        assert u.path == "/cgi-bin/gettoken" and q["corpsecret"] == ["app-secret"]
        self.server.tokens += 1
        self._json({"errcode": 0, "errmsg": "ok", "access_token": f"tok{self.server.tokens}",
                    "expires_in": 7200})  # fmt: skip

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        u = urlparse(self.path)
        if u.path == "/hook":
            self.server.hooks.append((dict(self.headers), body))
            self._json({"ok": True})
            return
        assert u.path == "/cgi-bin/message/send"
        if self.server.expire_next:
            self.server.expire_next = False
            self._json({"errcode": 42001, "errmsg": "access_token expired"})
            return
        msg = json.loads(body)
        if msg["touser"] == "nobody":
            self._json({"errcode": 81013, "errmsg": "user & party & tag all invalid"})
            return
        self.server.wecom.append(msg)
        self._json({"errcode": 0, "errmsg": "ok", "msgid": "x"})


def serve(port: int) -> Receiver:
    srv = Receiver(port)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    c = Controller(box, hostname="127.0.0.1", port=port)
    c.start()
    yield box, port
    c.stop()


@pytest.fixture
def syslog() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()


def _config(data: Path, http_port: int, syslog_port: int, smtp_port: int) -> None:
    (data / "alerting.toml").write_text(f"""
[[sinks]]
name = "hook"
type = "webhook"
url = "http://127.0.0.1:{http_port}/hook"
secret = "$env:WXGUARD_TEST_HOOK"
timeout = 2

[[sinks]]
name = "siem"
type = "syslog"
host = "127.0.0.1"
port = {syslog_port}
min_severity = "high"

[[sinks]]
name = "mail"
type = "smtp"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "wxguard@yunshan.example"
to = ["compliance@yunshan.example"]

[[sinks]]
name = "wecom"
type = "wecom"
corp_id = "ww0001"
secret = "$file:app.secret"
agent_id = 1000002
to = ["ComplianceLead"]
base_url = "http://127.0.0.1:{http_port}"

[nudge]
sink = "wecom"
""", "utf-8")  # fmt: skip
    (data / "app.secret").write_text("app-secret\n", "utf-8")


def test_sink_down_then_up_receives_everything(
    archive: Archive, tmp_path: Path, smtp: tuple[Mailbox, int], syslog: socket.socket,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("WXGUARD_TEST_HOOK", SECRET)
    box, smtp_port = smtp
    http_port = free_port()
    _config(archive.data_dir, http_port, syslog.getsockname()[1], smtp_port)
    allowlist_add(archive, "privileged-conversation",
                  "direct:" + "|".join(sorted((SALES, LAWYER))), "counsel", "test")  # fmt: skip
    t = NOW_MS - 5 * 60_000
    msgs = [
        rec(SALES, [FIN], t, text=f"CI token {TOKEN}"),  # secrets: high
        rec(SALES, [CUST], t + 1000, text=f"CI token {TOKEN}"),  # same policy, 2nd conversation
        rec(SALES, [FIN], t + 2000, text="谁有破解版的 Office？"),  # ip-violation: medium
        rec(SALES, [LAWYER], t + 3000, text="身份证号 11010519491231002X"),  # privileged
    ]
    s = ingest_and_evaluate(
        archive, directory(tmp_path / "d.jsonl"), write(tmp_path / "m.jsonl", msgs)
    )
    assert s.alerts_created == 4
    # 4 alerts → hook, mail and wecom each get 4; syslog only the 3 high ones.
    assert s.notices == 4 * 3 + 3
    # Nudges: secrets once (rate limit per policy), ip-violation once; never in privileged chats.
    assert s.nudges == 2

    cfg = load_alerting(archive.data_dir)
    rep = deliver(archive, cfg, archive.data_dir)  # webhook and WeCom receiver are down
    assert rep.retrying == 4 + 4 + 2 and rep.delivered == 4 + 3
    assert "cannot reach" in rep.errors["hook"]
    pending = {r["sink"]: r for r in status(archive) if r["status"] == "pending"}
    assert pending["hook"]["items"] == 4 and pending["wecom"]["items"] == 6
    assert "cannot reach" in pending["hook"]["last_error"]
    assert deliver(archive, cfg, archive.data_dir).delivered == 0  # backing off: not due yet

    srv = serve(http_port)
    try:
        rep = deliver(archive, cfg, archive.data_dir, force=True)
        assert rep.delivered == 10 and rep.retrying == 0 and not rep.errors
        assert all(r["status"] == "delivered" for r in status(archive))
    finally:
        srv.shutdown()
        srv.server_close()

    # Webhook: signed, one per alert, privileged one without evidence detail.
    assert len(srv.hooks) == 4
    alerts = []
    for headers, body in srv.hooks:
        assert verify_signature(SECRET, headers["X-Wxguard-Timestamp"], body,
                                headers["X-Wxguard-Signature"])  # fmt: skip
        assert not verify_signature("wrong", headers["X-Wxguard-Timestamp"], body,
                                    headers["X-Wxguard-Signature"])  # fmt: skip
        alerts.append(json.loads(body)["alert"])
    restricted = [a for a in alerts if a["restricted"]]
    assert len(restricted) == 1 and "entities" not in restricted[0]
    assert "11010519491231002X" not in json.dumps(alerts)
    assert {a["policy"] for a in alerts} == {"secrets-in-chat", "ip-violation", "pii-external"}

    # WeCom: token refreshed after 42001; alert notices to the reviewer, nudges to the employee.
    assert srv.tokens == 2
    nudges = [m for m in srv.wecom if m["touser"] == SALES]
    assert len(nudges) == 2 and all(m["agentid"] == 1000002 for m in nudges)
    assert any("轮换" in m["text"]["content"] for m in nudges)
    assert sum(m["touser"] == "ComplianceLead" for m in srv.wecom) == 4

    # Syslog: CEF over UDP, high and critical only.
    got = [syslog.recv(9000).decode() for _ in range(3)]
    assert all("CEF:0|wxguard|wxguard|" in g and "|8|" in g for g in got)
    assert all(g.startswith("<163>1 ") for g in got)  # local4 (20) * 8 + error (3)

    # SMTP: one mail per alert.
    assert len(box.messages) == 4
    mail = message_from_bytes(box.messages[0])
    assert mail["Subject"].startswith("[wxguard] [") and "alert #" in mail["Subject"]


def test_permanent_failure_waits_for_retry_failed(
    archive: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    (archive.data_dir / "alerting.toml").write_text(f"""
[[sinks]]
name = "wecom"
type = "wecom"
corp_id = "ww1"
secret = "$env:WX_APP_SECRET"
agent_id = 7
to = ["nobody"]
base_url = "http://127.0.0.1:{port}"
""", "utf-8")  # fmt: skip
    monkeypatch.setenv("WX_APP_SECRET", "app-secret")
    msgs = [rec(SALES, [FIN], NOW_MS - 60_000, text=f"token {TOKEN}")]
    ingest_and_evaluate(archive, directory(tmp_path / "d.jsonl"), write(tmp_path / "m.jsonl", msgs))
    srv = serve(port)
    srv.expire_next = False
    try:
        cfg = load_alerting(archive.data_dir)
        rep = deliver(archive, cfg, archive.data_dir)
        assert rep.failed == 1 and "81013" in rep.errors["wecom"]
        assert deliver(archive, cfg, archive.data_dir, force=True).failed == 0  # stays failed
        [row] = status(archive)
        assert row["status"] == "failed" and "visible range" in row["last_error"]
        rep = deliver(archive, cfg, archive.data_dir, retry_failed=True)
        assert rep.failed == 1  # retried once more, still refused
    finally:
        srv.shutdown()
        srv.server_close()


def test_alerting_config_errors_name_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "alerting.toml"
    cfg.write_text('[[sinks]]\nname = "x"\ntype = "webhook"\nurl = "ftp://x"\nsecret = "$env:A"\n')
    with pytest.raises(ConfigError, match=r"key 'sinks\[0\]\.url'"):
        load_alerting(tmp_path)
    cfg.write_text('[[sinks]]\nname = "x"\ntype = "pager"\n')
    with pytest.raises(ConfigError, match=r"key 'sinks\[0\]\.type'"):
        load_alerting(tmp_path)
    cfg.write_text('[[sinks]]\nname = "x"\ntype = "syslog"\nhost = "h"\n[nudge]\nsink = "x"\n')
    with pytest.raises(ConfigError, match="must name a sink of type wecom"):
        load_alerting(tmp_path)


def test_cef_escapes_separators() -> None:
    a = {"id": 1, "policy": "p|x", "name": "a=b\\c\nd", "behaviour": "secrets", "severity": "low",
         "policy_version": 1, "first_at": 1, "last_at": 2, "messages": 1, "restricted": False,
         "entities": ["A"]}  # fmt: skip
    line = cef_event(a)
    assert "|p\\|x|" in line and "msg=a\\=b\\\\c\\nd" in line and "\n" not in line
