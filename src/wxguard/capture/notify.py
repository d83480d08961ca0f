"""Receiver for WeCom's ``msgaudit_notify`` callback (``shared/specs/wecom-archive.md`` §3.10).

WeCom pushes an event at most every 15 s when the corp has new archive data; it carries
no message, only the hint to call ``GetChatData`` now instead of at the next poll. The
receiver speaks WeCom's standard callback protocol: ``msg_signature`` = SHA-1 over the
sorted (token, timestamp, nonce, ciphertext); ciphertext = base64(AES-256-CBC(key =
base64(EncodingAESKey + "="), iv = key[:16], PKCS#7 to 32 bytes, random(16) ‖ length(4,
big-endian) ‖ message ‖ corp id)). A GET with ``echostr`` is the URL check when the admin
saves the callback; a POST is an event. Bodies are capped and the XML is never handed to
an XML parser (the envelope is unauthenticated until its signature checks): the fields
are picked out of the text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import struct
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAX_BODY = 64 << 10
MAX_SKEW_S = 600


class CallbackError(ValueError):
    pass


class CallbackCrypto:
    def __init__(self, token: str, encoding_aes_key: str, corp_id: str) -> None:
        if len(encoding_aes_key) != 43:
            raise CallbackError("EncodingAESKey must be 43 characters (from the admin console)")
        try:
            self.key = base64.b64decode(encoding_aes_key + "=")
        except binascii.Error:
            raise CallbackError("EncodingAESKey is not valid base64") from None
        self.token = token
        self.corp_id = corp_id

    def signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        return hashlib.sha1("".join(sorted((self.token, timestamp, nonce, encrypted))).encode(),
                            usedforsecurity=False).hexdigest()  # fmt: skip

    def encrypt(self, message: bytes) -> str:
        body = os.urandom(16) + struct.pack(">I", len(message)) + message + self.corp_id.encode()
        pad = 32 - len(body) % 32
        body += bytes([pad]) * pad
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(body) + enc.finalize()).decode()

    def decrypt(self, signature: str, timestamp: str, nonce: str, encrypted: str) -> bytes:
        want = self.signature(timestamp, nonce, encrypted)
        if not hmac.compare_digest(want, signature):
            raise CallbackError("bad msg_signature")
        try:
            raw = base64.b64decode(encrypted, validate=True)
        except binascii.Error:
            raise CallbackError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise CallbackError("ciphertext has a bad length")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        body = dec.update(raw) + dec.finalize()
        pad = body[-1]
        if not 1 <= pad <= 32:
            raise CallbackError("bad padding")
        body = body[:-pad]
        (n,) = struct.unpack(">I", body[16:20])
        msg, receiver = body[20 : 20 + n], body[20 + n :]
        if receiver.decode("utf-8", "replace") != self.corp_id:
            raise CallbackError("the callback is for another corp")
        return msg


def xml_field(xml: str, name: str) -> str:
    m = re.search(rf"<{name}>\s*(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))\s*</{name}>", xml, re.S)
    return "" if m is None else (m.group(1) if m.group(1) is not None else m.group(2)).strip()


class NotifyServer:
    """A small HTTP server; :attr:`event` is set on each valid ``msgaudit_notify``."""

    def __init__(self, crypto: CallbackCrypto, host: str, port: int, path: str) -> None:
        self.crypto = crypto
        self.event = threading.Event()
        self.received = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _reply(self, code: int, body: bytes = b"") -> None:
                self.send_response(code)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _query(self) -> tuple[str, dict[str, str]] | None:
                u = urllib.parse.urlsplit(self.path)
                if u.path != path:
                    self._reply(404)
                    return None
                q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
                ts = q.get("timestamp", "")
                if not ts.isdigit() or abs(time.time() - int(ts)) > MAX_SKEW_S:
                    self._reply(403, b"stale or missing timestamp")
                    return None
                return u.path, q

            def do_GET(self) -> None:
                got = self._query()
                if got is None:
                    return
                q = got[1]
                try:
                    msg = outer.crypto.decrypt(
                        q.get("msg_signature", ""), q["timestamp"], q.get("nonce", ""),
                        q.get("echostr", ""),
                    )  # fmt: skip
                except (CallbackError, struct.error):
                    self._reply(403, b"bad signature")
                    return
                self._reply(200, msg)

            def do_POST(self) -> None:
                got = self._query()
                if got is None:
                    return
                q = got[1]
                n = int(self.headers.get("Content-Length") or 0)
                if n <= 0 or n > MAX_BODY:
                    self._reply(413 if n > MAX_BODY else 400)
                    return
                xml = self.rfile.read(n).decode("utf-8", "replace")
                try:
                    msg = outer.crypto.decrypt(
                        q.get("msg_signature", ""), q["timestamp"], q.get("nonce", ""),
                        xml_field(xml, "Encrypt"),
                    )  # fmt: skip
                except (CallbackError, struct.error):
                    self._reply(403, b"bad signature")
                    return
                event = xml_field(msg.decode("utf-8", "replace"), "Event")
                if event == "msgaudit_notify":
                    outer.received += 1
                    outer.event.set()
                self._reply(200, b"")

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
