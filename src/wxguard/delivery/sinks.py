"""Sinks: the places an outbox item is delivered to.

Each sink turns one item (an alert or a nudge, as a JSON-ready dict) into one
delivery and raises :class:`DeliveryError` when it did not arrive: ``permanent``
when retrying cannot help (a recipient WeCom does not know), transient otherwise.

* webhook — JSON POST, signed: ``X-Wxguard-Signature: sha256=HMAC(secret, ts + "." + body)``;
* syslog — one CEF event (ArcSight Common Event Format) per alert in an RFC 5424
  message over UDP;
* smtp — a plain-text e-mail per alert;
* wecom — a WeCom application text message (``/cgi-bin/message/send``, token from
  ``/cgi-bin/gettoken``, specs/wecom-archive.md §3.1): alert notices to reviewers and
  nudges to the employee.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from .. import __version__
from .config import (
    SinkConfig,
    SmtpSink,
    SyslogSink,
    WebhookSink,
    WecomSink,
    resolve_secret,
)

CEF_SEVERITY = {"low": 3, "medium": 5, "high": 8, "critical": 10}
SYSLOG_SEVERITY = {"low": 5, "medium": 4, "high": 3, "critical": 2}
MAX_UDP = 8192
WECOM_TEXT_BYTES = 2048  # message/send text content limit
_WECOM_RETRY_TOKEN = (40001, 40014, 42001)
_WECOM_PERMANENT = {81013: "none of the recipients is in the application's visible range",
                    60020: "the server's IP is not on the application's trusted IP list",
                    40056: "the agent_id is not valid for this corp"}  # fmt: skip


class DeliveryError(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sink:
    def __init__(self, cfg: SinkConfig, data_dir: Path) -> None:
        self.cfg = cfg
        self.data_dir = data_dir

    def send(self, kind: str, item_id: int, payload: dict[str, Any]) -> None:
        raise NotImplementedError


def _alert_line(a: dict[str, Any]) -> str:
    if a.get("id") is None:  # a capture-health notice (capture/health.py), not a policy alert
        return f"[{a['severity'].upper()}] {a['name']}"
    return f"[{a['severity'].upper()}] {a['name']} (alert #{a['id']}, policy {a['policy']})"


class Webhook(Sink):
    cfg: WebhookSink

    def send(self, kind: str, item_id: int, payload: dict[str, Any]) -> None:
        secret = resolve_secret(self.cfg.secret, self.data_dir, f"sink {self.cfg.name}")
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        ts = str(int(time.time()))
        sig = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        req = urllib.request.Request(self.cfg.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"wxguard/{__version__}",
            "X-Wxguard-Event": payload.get("event", kind),
            "X-Wxguard-Delivery": str(item_id),
            "X-Wxguard-Timestamp": ts,
            "X-Wxguard-Signature": f"sha256={sig}",
        })  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout) as r:
                r.read()
        except urllib.error.HTTPError as e:
            # 4xx other than 408/429 will not get better by retrying the same request.
            permanent = 400 <= e.code < 500 and e.code not in (408, 429)
            raise DeliveryError(f"HTTP {e.code} from {self.cfg.url}", permanent) from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise DeliveryError(f"cannot reach {self.cfg.url}: {reason}") from None


def verify_signature(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): check an ``X-Wxguard-Signature`` header."""
    want = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(f"sha256={want}", header)


def _cef_header(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _cef_value(s: str) -> str:
    return s.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef_event(a: dict[str, Any]) -> str:
    ext = {
        "rt": str(a["last_at"]), "start": str(a["first_at"]), "cat": a["behaviour"],
        "act": "alert", "externalId": str(a["id"] or ""), "cnt": str(a["messages"]),
        "msg": a["name"], "cs1Label": "policy", "cs1": a["policy"],
        "cs2Label": "policyVersion", "cs2": str(a["policy_version"]),
        "cs3Label": "entities", "cs3": ",".join(a.get("entities", [])),
        "cs4Label": "restricted", "cs4": "true" if a["restricted"] else "false",
    }  # fmt: skip
    head = "|".join(
        _cef_header(x)
        for x in ("CEF:0", "wxguard", "wxguard", __version__, a["policy"], a["name"],
                  str(CEF_SEVERITY[a["severity"]]))
    )  # fmt: skip
    return head + "|" + " ".join(f"{k}={_cef_value(v)}" for k, v in ext.items())


class Syslog(Sink):
    cfg: SyslogSink

    def send(self, kind: str, item_id: int, payload: dict[str, Any]) -> None:
        a = payload["alert"]
        pri = self.cfg.facility * 8 + SYSLOG_SEVERITY[a["severity"]]
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        host = socket.gethostname() or "-"
        line = f'<{pri}>1 {stamp} {host} wxguard - alert [wxguard@32473 id="{item_id}"] '
        data = (line + cef_event(a)).encode("utf-8")[:MAX_UDP]
        try:
            infos = socket.getaddrinfo(self.cfg.host, self.cfg.port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = infos[0]
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(self.cfg.timeout)
                s.sendto(data, addr)
        except OSError as e:
            raise DeliveryError(
                f"cannot send to syslog {self.cfg.host}:{self.cfg.port}: {e}"
            ) from None


class Smtp(Sink):
    cfg: SmtpSink

    def send(self, kind: str, item_id: int, payload: dict[str, Any]) -> None:
        a = payload["alert"]
        msg = EmailMessage()
        msg["Subject"] = f"[wxguard] {_alert_line(a)}"
        msg["From"] = self.cfg.sender
        msg["To"] = ", ".join(self.cfg.to)
        msg["Message-ID"] = f"<wxguard-outbox-{item_id}@{socket.gethostname() or 'wxguard'}>"
        msg.set_content(alert_text(a))
        password = (
            resolve_secret(self.cfg.password, self.data_dir, f"sink {self.cfg.name}")
            if self.cfg.password else ""
        )  # fmt: skip
        try:
            cls = smtplib.SMTP_SSL if self.cfg.ssl else smtplib.SMTP
            with cls(self.cfg.host, self.cfg.port, timeout=self.cfg.timeout) as s:
                if self.cfg.starttls and not self.cfg.ssl:
                    s.starttls(context=ssl.create_default_context())
                if self.cfg.username:
                    s.login(self.cfg.username, password)
                s.send_message(msg)
        except smtplib.SMTPRecipientsRefused as e:
            raise DeliveryError(
                f"SMTP server refused the recipients: {e.recipients}", True
            ) from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryError(f"SMTP {self.cfg.host}:{self.cfg.port}: {e}") from None


def alert_text(a: dict[str, Any]) -> str:
    if a.get("id") is None:
        return "\n".join([_alert_line(a), *a.get("reasons", []),
                          "Check it with: wxguard capture status"]) + "\n"  # fmt: skip
    lines = [
        _alert_line(a),
        f"Behaviour: {a['behaviour']}",
        f"Messages: {a['messages']}  First: {_iso(a['first_at'])}  Last: {_iso(a['last_at'])}",
    ]
    if a["restricted"]:
        lines.append("This conversation is privileged: open the alert in wxguard for details.")
    else:
        lines.append(f"Entities: {', '.join(a.get('entities', [])) or '-'}")
    lines.append(f"Open it with: wxguard alerts show {a['id']}")
    return "\n".join(lines) + "\n"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


class Wecom(Sink):
    cfg: WecomSink

    def __init__(self, cfg: SinkConfig, data_dir: Path) -> None:
        super().__init__(cfg, data_dir)
        self._token = ""
        self._expires = 0.0

    def _call(self, path: str, query: dict[str, str], body: dict[str, Any] | None) -> Any:
        url = f"{self.cfg.base_url.rstrip('/')}/cgi-bin/{path}?{urllib.parse.urlencode(query)}"
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
        if data:
            req.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise DeliveryError(f"WeCom {path}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise DeliveryError(f"WeCom {path}: {getattr(e, 'reason', e)}") from None

    def token(self, refresh: bool = False) -> str:
        if self._token and not refresh and time.time() < self._expires:
            return self._token
        secret = resolve_secret(self.cfg.secret, self.data_dir, f"sink {self.cfg.name}")
        r = self._call("gettoken", {"corpid": self.cfg.corp_id, "corpsecret": secret}, None)
        if r.get("errcode", 0) != 0:
            permanent = r.get("errcode") in (40013, 40001, 40091)  # bad corp id or secret
            raise DeliveryError(f"WeCom gettoken: {r.get('errcode')} {r.get('errmsg')}", permanent)
        self._token = str(r["access_token"])
        self._expires = time.time() + max(60, int(r.get("expires_in", 7200)) - 300)
        return self._token

    def send(self, kind: str, item_id: int, payload: dict[str, Any]) -> None:
        if kind == "nudge":
            to, text = [payload["employee"]], payload["text"]
        else:
            to, text = list(self.cfg.to), alert_text(payload["alert"])
        content = text.encode("utf-8")[:WECOM_TEXT_BYTES].decode("utf-8", "ignore")
        body = {"touser": "|".join(to), "msgtype": "text", "agentid": self.cfg.agent_id,
                "text": {"content": content}, "safe": 0}  # fmt: skip
        for attempt in (0, 1):
            r = self._call("message/send", {"access_token": self.token(attempt == 1)}, body)
            code = int(r.get("errcode", -1))
            if code == 0:
                return
            if code in _WECOM_RETRY_TOKEN and attempt == 0:
                continue
            why = _WECOM_PERMANENT.get(code, r.get("errmsg", ""))
            raise DeliveryError(f"WeCom message/send: {code} {why}", code in _WECOM_PERMANENT)


SINK_CLASSES: dict[type[SinkConfig], type[Sink]] = {
    WebhookSink: Webhook, SyslogSink: Syslog, SmtpSink: Smtp, WecomSink: Wecom,
}  # fmt: skip


def build_sink(cfg: SinkConfig, data_dir: Path) -> Sink:
    return SINK_CLASSES[type(cfg)](cfg, data_dir)
