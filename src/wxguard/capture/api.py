"""The WeCom HTTP APIs the connector needs (``shared/specs/wecom-archive.md`` §3).

Tokens are per secret (§3.1): one :class:`TokenSource` each for the archive secret and,
when configured, the contacts secret. A token is cached until 5 minutes before
``expires_in``; on 40001/40014/42001 it is fetched again and the call retried once;
45009 (frequency limit) and -1 (busy) back off and retry; every other ``errcode``
becomes :class:`ApiError` with the message from :mod:`.codes`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from .. import __version__
from .codes import server_problem

_REFRESH = (40001, 40014, 42001)
_BACKOFF = (45009, 45033, -1)


class ApiError(Exception):
    def __init__(self, path: str, code: int, message: str, transient: bool = False) -> None:
        super().__init__(f"WeCom {path}: {message}")
        self.path = path
        self.code = code
        self.transient = transient


class Client:
    """Calls under ``{api_base}/cgi-bin/`` with one secret's token."""

    def __init__(
        self,
        base: str,
        corp_id: str,
        secret: str,
        *,
        timeout: float = 10.0,
        proxy: str = "",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base = base.rstrip("/") + "/cgi-bin/"
        self.corp_id = corp_id
        self.secret = secret
        self.timeout = timeout
        self.sleep = sleep
        self._token = ""
        self._expires = 0.0
        handlers: list[urllib.request.BaseHandler] = []
        if proxy.startswith("http"):
            handlers.append(urllib.request.ProxyHandler({"http": proxy, "https": proxy}))
        self._opener = urllib.request.build_opener(*handlers)

    def _http(self, path: str, query: dict[str, str], body: Any | None) -> dict[str, Any]:
        url = self.base + path + "?" + urllib.parse.urlencode(query)
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        req.add_header("User-Agent", f"wxguard/{__version__}")
        if data is not None:
            req.add_header("Content-Type", "application/json; charset=utf-8")
        try:
            with self._opener.open(req, timeout=self.timeout) as r:
                doc = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise ApiError(path, -2, f"HTTP {e.code}", transient=e.code >= 500) from None
        except (urllib.error.URLError, OSError) as e:
            raise ApiError(
                path, -2, f"cannot reach {self.base}: {getattr(e, 'reason', e)}", transient=True
            ) from None
        except ValueError:
            raise ApiError(path, -2, "the answer is not JSON", transient=True) from None
        if not isinstance(doc, dict):
            raise ApiError(path, -2, "the answer is not a JSON object", transient=True)
        return doc

    def token(self, refresh: bool = False) -> str:
        if self._token and not refresh and time.time() < self._expires:
            return self._token
        doc = self._http("gettoken", {"corpid": self.corp_id, "corpsecret": self.secret}, None)
        code = int(doc.get("errcode", 0) or 0)
        if code:
            p = server_problem(code, str(doc.get("errmsg", "")))
            raise ApiError("gettoken", code, f"{code}: {p.text}", p.transient)
        self._token = str(doc.get("access_token", ""))
        self._expires = time.time() + max(60, int(doc.get("expires_in", 7200)) - 300)
        return self._token

    def call(
        self, path: str, body: Any | None = None, query: dict[str, str] | None = None,
        retries: int = 3,
    ) -> dict[str, Any]:  # fmt: skip
        """One API call; returns the JSON object of a success (errcode 0)."""
        refreshed = False
        delay = 1.0
        attempt = 0
        while True:
            q = {"access_token": self.token(), **(query or {})}
            try:
                doc = self._http(path, q, body)
            except ApiError as e:
                if e.transient and attempt < retries:
                    attempt += 1
                    self.sleep(delay)
                    delay *= 2
                    continue
                raise
            code = int(doc.get("errcode", 0) or 0)
            if code == 0:
                return doc
            if code in _REFRESH and not refreshed:
                refreshed = True
                self._token = ""
                continue
            if code in _BACKOFF and attempt < retries:
                attempt += 1
                self.sleep(delay)
                delay *= 2
                continue
            msg = str(doc.get("errmsg", ""))
            p = server_problem(code, msg)
            raise ApiError(path, code, f"{code}: {p.text}", p.transient)
