"""What the review app's route modules share: the app object, the ``need`` dependency,
request bodies, and small helpers (redirects, safe ``next`` paths, JSON of a user)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field

from ..archive import Archive
from . import accounts
from .accounts import Throttle
from .service import ReviewService, Viewer
from .settings import ReviewSettings
from .views import yuan
from .workflow import DISPOSITIONS, Denied

COOKIE = "wxg_session"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
UNSAFE = frozenset(("POST", "PUT", "PATCH", "DELETE"))
TZ_OFFSET_S = 8 * 3600  # times are shown in China Standard Time (UTC+8)


class AuthRequired(Exception):
    pass


class BadRequest(Exception):
    pass


def need(permission: str | None) -> Callable[[Request], Awaitable[Viewer]]:
    """A dependency: the signed-in viewer, who must hold ``permission`` (None: anyone)."""

    async def dependency(request: Request) -> Viewer:
        app: App = request.app.state.wx
        token = request.cookies.get(COOKIE, "")
        by_cookie = bool(token)
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            token, by_cookie = auth[7:].strip(), False
        session = accounts.session_of(app.archive, token, app.settings) if token else None
        if session is None:
            raise AuthRequired()
        if request.method in UNSAFE and by_cookie:
            sent = request.headers.get("x-csrf-token", "")
            if not sent and "form" in request.headers.get("content-type", ""):
                sent = str((await request.form()).get("csrf", ""))
            if not accounts.same_secret(sent, session.csrf):
                raise Denied("csrf-token")
        request.state.session = session
        viewer = app.service.viewer(session.user)
        if permission is not None:
            app.service.need(viewer, permission)
        return viewer

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def route_permissions(api: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path, permission) of every authenticated route."""
    out = []
    for r in api.routes:
        dependant = getattr(r, "dependant", None)
        if dependant is None:
            continue
        perms = [d.call.permission for d in dependant.dependencies if hasattr(d.call, "permission")]
        if not perms:
            continue
        for m in sorted(getattr(r, "methods", ()) or ()):
            out.append((m, r.path, perms[0]))  # type: ignore[attr-defined]
    return out


# --------------------------------------------------------------------------- bodies


class SignInBody(BaseModel):
    username: str
    password: str
    code: str = Field(description="the current 6-digit TOTP code")


class ActBody(BaseModel):
    comment: str = ""
    disposition: str = Field("", description=" | ".join(DISPOSITIONS))
    reason: str = ""
    assignee: str = ""


class BulkBody(ActBody):
    ids: list[int]
    action: str


class DecideBody(BaseModel):
    status: str
    note: str = ""


class SourceBody(BaseModel):
    source: str


class TryBody(BaseModel):
    text: str
    policy: str = ""
    sender: str = "internal"
    recipient: str = "external"
    group: bool = False


class UserBody(BaseModel):
    name: str
    roles: list[str]
    display: str = ""


class RolesBody(BaseModel):
    roles: list[str]


class RuleBody(BaseModel):
    scope: str
    value: str
    percent: float


class SampleBody(BaseModel):
    verdict: str
    note: str = ""


# --------------------------------------------------------------------------- app


class App:
    def __init__(self, data_dir: Path, settings: ReviewSettings, secure_cookies: bool) -> None:
        self.archive = Archive.open(data_dir)
        self.settings = settings
        self.service = ReviewService(self.archive, settings)
        self.secure = secure_cookies
        self.throttle = Throttle(settings.ip_failures_per_10min)
        self._engine: Any = None
        self.env = Environment(
            loader=PackageLoader("wxguard", "review/templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.env.filters["dt"] = _dt
        self.env.filters["yuan"] = yuan
        self.env.filters["size"] = _size
        self.env.globals["DISPOSITIONS"] = DISPOSITIONS

    def engine(self) -> Any:
        if self._engine is None:
            from ..detect.engine import Engine
            from ..detect.registry import DetectorRegistry
            from ..detect.scan import archive_config, archive_fingerprint

            reg = DetectorRegistry.load(archive_config(self.archive))
            self._engine = Engine(reg.detectors, archive_fingerprint(self.archive))
        return self._engine

    def page(self, request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        session = getattr(request.state, "session", None)
        user = session.user if session else None
        html = self.env.get_template(template).render(
            user=user,
            csrf=session.csrf if session else "",
            can=(lambda p: user is not None and user.can(p)),
            msg=request.query_params.get("msg", ""),
            path=request.url.path,
            **ctx,
        )
        return HTMLResponse(html, status_code=status)


def _dt(ms: int | None) -> str:
    if ms is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ms / 1000 + TZ_OFFSET_S))


def _size(n: int | None) -> str:
    if n is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def back(path: str, msg: str) -> RedirectResponse:
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}msg={quote(msg)}", status_code=303)


class ConflictError(ValueError):
    pass


def act_fields(form: Any) -> dict[str, str]:
    return {k: str(form.get(k, "")) for k in ("comment", "disposition", "reason", "assignee")}


def safe_next(nxt: str) -> str:
    """Only same-site relative paths (no open redirect)."""
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/"
    return nxt


def user_json(u: accounts.User) -> dict[str, Any]:
    return {
        "name": u.name,
        "display": u.display,
        "roles": list(u.roles),
        "permissions": sorted(u.permissions),
        "disabled": u.disabled,
        "locked_until": u.locked_until,
        "last_sign_in": u.last_sign_in,
    }
