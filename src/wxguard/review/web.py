"""``wxguard serve``: the REST API under ``/api/v1`` and the server-rendered web UI, both
thin layers over :class:`~wxguard.review.service.ReviewService`.

Every route but sign-in, static files and the health check requires a session and names
the permission it needs (``need("alert-read")``); :func:`route_permissions` lists them for
docs and for the role × route test. Requests are served one at a time on the event loop
(every handler is ``async`` and calls the synchronous service directly): the service owns
one SQLite connection, and a review team's load is small next to the cost of a lock.

Defences for attacker-controlled content: Jinja2 autoescaping everywhere, bidi/format
characters made visible (views.inert), a strict Content-Security-Policy with no inline
script or style, downloads sent as ``application/octet-stream`` attachments with
``nosniff``, and session cookies that are HttpOnly, SameSite=Strict and (off loopback)
Secure. State-changing requests authenticated by cookie need the session's CSRF token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field

from ..archive import Archive
from ..policy.service import TrialContext, try_text
from ..policy.store import PolicyStoreError
from . import accounts, config_edit, sampling, workflow
from .accounts import AccountError, SignInError, Throttle
from .roles import PERMISSIONS, ROLES
from .service import NotFound, QueueQuery, ReviewService, Viewer
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


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _back(path: str, msg: str) -> RedirectResponse:
    sep = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{sep}msg={quote(msg)}", status_code=303)


def create_app(data_dir: Path, settings: ReviewSettings, *, secure_cookies: bool) -> FastAPI:
    wx = App(data_dir, settings, secure_cookies)
    api = FastAPI(
        title="wxguard review API",
        version="1",
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        description="Alerts, conversations, people, inventory, policies, audit log, users. "
        "Sign in with POST /api/v1/session and send `Authorization: Bearer TOKEN`.",
    )
    api.state.wx = wx
    svc = wx.service
    api.mount("/static", StaticFiles(packages=[("wxguard", "review/static")]), name="static")

    @api.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        h = response.headers
        h["Content-Security-Policy"] = CSP
        h["X-Content-Type-Options"] = "nosniff"
        h["X-Frame-Options"] = "DENY"
        h["Referrer-Policy"] = "no-referrer"
        h["Cross-Origin-Opener-Policy"] = "same-origin"
        h["Cross-Origin-Resource-Policy"] = "same-origin"
        h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if not request.url.path.startswith("/static/"):
            h["Cache-Control"] = "no-store"
        if wx.secure:
            h["Strict-Transport-Security"] = "max-age=31536000"
        return response

    # ---------------------------------------------------------------- errors

    @api.exception_handler(AuthRequired)
    async def _auth(request: Request, _e: AuthRequired) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"error": "sign in first"}, 401, headers={"WWW-Authenticate": "Bearer"}
            )
        nxt = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/login?" + urlencode({"next": nxt}), status_code=303)

    @api.exception_handler(Denied)
    async def _denied(request: Request, e: Denied) -> Response:
        text = (
            "the request lacks a valid CSRF token; reload the page"
            if e.permission == "csrf-token"
            else f"your role does not allow this (needs permission {e.permission})"
        )
        if _is_api(request):
            return JSONResponse({"error": text, "permission": e.permission}, 403)
        return wx.page(request, "error.html", 403, title="Not allowed", error=text)

    async def _problem(request: Request, e: Exception, status: int) -> Response:
        text = str(e.args[0]) if e.args else str(e)
        if _is_api(request):
            return JSONResponse({"error": text}, status)
        return wx.page(request, "error.html", status, title="Cannot do that", error=text)

    def _handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handle(request: Request, e: Exception) -> Response:
            return await _problem(request, e, status)

        return handle

    problems: tuple[tuple[type[Exception], int], ...] = (
        (NotFound, 404),
        (LookupError, 404),
        (ValueError, 400),
        (BadRequest, 400),
        (PolicyStoreError, 400),
    )
    for exc, status in problems:
        api.add_exception_handler(exc, _handler(status))

    # ---------------------------------------------------------------- sign-in

    def _client(request: Request) -> str:
        return request.client.host if request.client else ""

    def _sign_in(request: Request, name: str, password: str, code: str) -> accounts.Session:
        ip = _client(request)
        wait = wx.throttle.check(ip)
        if wait:
            raise SignInError(
                f"too many failed sign-ins from your address; wait {wait} s", "throttled", wait
            )
        try:
            return accounts.sign_in(wx.archive, name, password, code, settings, client=ip)
        except SignInError:
            wx.throttle.failed(ip)
            raise

    @api.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/") -> HTMLResponse:
        return wx.page(request, "login.html", next=_safe_next(next), error="")

    @api.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        nxt = _safe_next(str(form.get("next", "/")))
        try:
            s = _sign_in(
                request,
                str(form.get("username", "")),
                str(form.get("password", "")),
                str(form.get("code", "")),
            )
        except SignInError as e:
            status = 429 if e.reason == "throttled" else 401
            return wx.page(request, "login.html", status, next=nxt, error=e.public)
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(
            COOKIE, s.token, httponly=True, samesite="strict", secure=wx.secure, path="/"
        )
        return resp

    @api.post("/logout", include_in_schema=False)
    async def logout(request: Request, v: Viewer = Depends(need(None))) -> Response:
        accounts.sign_out(wx.archive, request.state.session.token)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @api.post("/api/v1/session", tags=["session"])
    async def api_sign_in(request: Request, body: SignInBody) -> Response:
        """Sign in with user name, password and TOTP code; returns a bearer token."""
        try:
            s = _sign_in(request, body.username, body.password, body.code)
        except SignInError as e:
            status = 429 if e.reason == "throttled" or e.retry_after else 401
            headers = {"Retry-After": str(e.retry_after)} if e.retry_after else {}
            return JSONResponse({"error": e.public}, status, headers=headers)
        return JSONResponse(
            {
                "token": s.token,
                "csrf": s.csrf,
                "expires_at": s.expires_at,
                "user": _user_json(s.user),
            }
        )

    @api.delete("/api/v1/session", tags=["session"])
    async def api_sign_out(request: Request, v: Viewer = Depends(need(None))) -> dict[str, bool]:
        accounts.sign_out(wx.archive, request.state.session.token)
        return {"signed_out": True}

    @api.get("/api/v1/me", tags=["session"])
    async def api_me(v: Viewer = Depends(need(None))) -> dict[str, Any]:
        return {**_user_json(v.user), "pseudonyms": v.pseudonyms}

    # ---------------------------------------------------------------- dashboard

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard_page(
        request: Request, v: Viewer = Depends(need("dashboard-read"))
    ) -> HTMLResponse:
        return wx.page(request, "dashboard.html", d=svc.dashboard(v))

    @api.get("/api/v1/dashboard", tags=["dashboard"])
    async def api_dashboard(v: Viewer = Depends(need("dashboard-read"))) -> dict[str, Any]:
        return svc.dashboard(v)

    # ---------------------------------------------------------------- alerts

    def _query(request: Request) -> QueueQuery:
        p = request.query_params
        try:
            page = int(p.get("page", "1"))
        except ValueError:
            raise BadRequest("page must be a number") from None
        return QueueQuery(
            state=p.get("state", "active"),
            severity=p.get("severity", ""),
            behaviour=p.get("behaviour", ""),
            policy=p.get("policy", ""),
            assignee=p.get("assignee", ""),
            escalated=p.get("escalated", "") in ("1", "true"),
            sort=p.get("sort", "recent"),
            page=page,
        )

    @api.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    async def queue_page(request: Request, v: Viewer = Depends(need("alert-read"))) -> HTMLResponse:
        q = _query(request)
        data = svc.queue(v, q)
        base = {k: v for k, v in request.query_params.items() if k not in ("page", "msg")}
        return wx.page(
            request,
            "queue.html",
            q=q,
            data=data,
            base=urlencode(base),
            policies=[p.id for p in svc.policies().policies],
            users=[
                u.name
                for u in accounts.list_users(wx.archive)
                if u.can("alert-work") and not u.disabled
            ],
        )

    @api.get("/api/v1/alerts", tags=["alerts"])
    async def api_queue(
        request: Request, v: Viewer = Depends(need("alert-read"))
    ) -> dict[str, Any]:
        """Query: state (active|new|open|closed|all), severity, behaviour, policy,
        assignee (me|none|NAME), escalated, sort (recent|oldest|severity|created), page."""
        return svc.queue(v, _query(request))

    @api.post("/alerts/bulk", include_in_schema=False)
    async def bulk_form(request: Request, v: Viewer = Depends(need("alert-work"))) -> Response:
        form = await request.form()
        try:
            ids = [int(str(x)) for x in form.getlist("ids")]
        except ValueError:
            raise BadRequest("alert ids must be numbers") from None
        if not ids:
            return _back("/alerts", "select at least one alert")
        action = str(form.get("action", ""))
        if action not in ("claim", "close", "assign", "escalate"):
            raise BadRequest(f"unknown bulk action {action!r}")
        if action == "assign":
            svc.need(v, "alert-supervise")
        res = svc.bulk(v, ids, action, **_act_fields(form))
        done = sum(r["ok"] for r in res)
        errs = "; ".join(r["error"] for r in res if not r["ok"])[:400]
        ret = str(form.get("return", "/alerts"))
        return _back(
            _safe_next(ret), f"{action}: {done} of {len(ids)} done" + (f" — {errs}" if errs else "")
        )

    @api.post("/api/v1/alerts/bulk", tags=["alerts"])
    async def api_bulk(
        body: BulkBody, v: Viewer = Depends(need("alert-work"))
    ) -> list[dict[str, Any]]:
        if body.action == "assign":
            svc.need(v, "alert-supervise")
        kw = body.model_dump(exclude={"ids", "action"})
        return svc.bulk(v, body.ids, body.action, **kw)

    @api.get("/alerts/{alert_id}", response_class=HTMLResponse, include_in_schema=False)
    async def alert_page(
        request: Request, alert_id: int, why: str = "", v: Viewer = Depends(need("alert-read"))
    ) -> HTMLResponse:
        a = svc.alert(v, alert_id, why or f"alert {alert_id}")
        users = [
            u.name
            for u in accounts.list_users(wx.archive)
            if u.can("alert-work") and not u.disabled
        ]
        return wx.page(request, "alert.html", a=a, users=users)

    @api.get("/api/v1/alerts/{alert_id}", tags=["alerts"])
    async def api_alert(
        alert_id: int, why: str = "", v: Viewer = Depends(need("alert-read"))
    ) -> dict[str, Any]:
        a = svc.alert(v, alert_id, why)
        a["messages"] = [m.as_json() for m in a["messages"]]
        return a

    for action, perm in (
        ("claim", "alert-work"),
        ("comment", "alert-work"),
        ("escalate", "alert-work"),
        ("close", "alert-work"),
        ("assign", "alert-supervise"),
        ("reopen", "alert-reopen"),
    ):
        _workflow_routes(api, svc, action, perm)

    # ---------------------------------------------------------------- conversations

    @api.get("/conversations/{key}", response_class=HTMLResponse, include_in_schema=False)
    async def conversation_page(
        request: Request,
        key: str,
        before: int | None = None,
        after: int | None = None,
        why: str = "",
        v: Viewer = Depends(need("message-read")),
    ) -> HTMLResponse:
        c = svc.conversation(v, key, before=before, after=after, why=why)
        return wx.page(request, "conversation.html", c=c, why=why)

    @api.get("/api/v1/conversations/{key}", tags=["conversations"])
    async def api_conversation(
        key: str,
        before: int | None = None,
        after: int | None = None,
        why: str = "",
        limit: int = 100,
        v: Viewer = Depends(need("message-read")),
    ) -> dict[str, Any]:
        """A page of messages: the newest by default, `before`/`after` a message seq."""
        c = svc.conversation(v, key, before=before, after=after, why=why, limit=limit)
        c["messages"] = [m.as_json() for m in c["messages"]]
        return c

    @api.get("/messages/{seq}", response_class=HTMLResponse, include_in_schema=False)
    async def message_page(
        request: Request, seq: int, why: str = "", v: Viewer = Depends(need("message-read"))
    ) -> HTMLResponse:
        m = svc.message(v, seq, why)
        return wx.page(request, "message.html", m=m, key=svc.message_conversation(seq))

    @api.get("/api/v1/messages/{seq}", tags=["conversations"])
    async def api_message(
        seq: int, why: str = "", v: Viewer = Depends(need("message-read"))
    ) -> dict[str, Any]:
        return svc.message(v, seq, why).as_json()

    async def _download(seq: int, blob_id: str, why: str, v: Viewer) -> Response:
        data, name = svc.download(v, seq, blob_id, why)
        safe = (
            "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in name)[
                :120
            ]
            or "attachment"
        )
        return Response(
            data,
            media_type="application/octet-stream",
            headers={
                "Content-Disposition": f'attachment; filename="{safe}"; '
                f"filename*=UTF-8''{quote(name[:200])}",
            },
        )

    @api.get("/messages/{seq}/files/{blob_id}", include_in_schema=False)
    async def download_page(
        seq: int, blob_id: str, why: str = "", v: Viewer = Depends(need("media-download"))
    ) -> Response:
        return await _download(seq, blob_id, why, v)

    @api.get("/api/v1/messages/{seq}/files/{blob_id}", tags=["conversations"])
    async def api_download(
        seq: int, blob_id: str, why: str = "", v: Viewer = Depends(need("media-download"))
    ) -> Response:
        return await _download(seq, blob_id, why, v)

    # ---------------------------------------------------------------- people, inventory

    @api.get("/people", response_class=HTMLResponse, include_in_schema=False)
    async def people_page(
        request: Request, v: Viewer = Depends(need("people-read"))
    ) -> HTMLResponse:
        return wx.page(request, "people.html", d=svc.people(v))

    @api.get("/api/v1/people", tags=["people"])
    async def api_people(v: Viewer = Depends(need("people-read"))) -> dict[str, Any]:
        return svc.people(v)

    @api.get("/inventory", response_class=HTMLResponse, include_in_schema=False)
    async def inventory_page(
        request: Request, v: Viewer = Depends(need("inventory-read"))
    ) -> HTMLResponse:
        return wx.page(request, "inventory.html", items=svc.inventory(v))

    @api.get("/api/v1/inventory", tags=["inventory"])
    async def api_inventory(v: Viewer = Depends(need("inventory-read"))) -> list[dict[str, Any]]:
        return svc.inventory(v)

    @api.post("/inventory/decide", include_in_schema=False)
    async def decide_form(
        request: Request, v: Viewer = Depends(need("inventory-decide"))
    ) -> Response:
        f = await request.form()
        kind, ident, status = str(f.get("kind", "")), str(f.get("ident", "")), str(f.get("status"))
        svc.decide(v, kind, ident, status, str(f.get("note", "")))
        return _back("/inventory", f"{kind} {ident}: {status}")

    @api.post("/api/v1/inventory/{kind}/{ident}", tags=["inventory"])
    async def api_decide(
        kind: str, ident: str, body: DecideBody, v: Viewer = Depends(need("inventory-decide"))
    ) -> dict[str, str]:
        before = svc.decide(v, kind, ident, body.status, body.note)
        return {"kind": kind, "id": ident, "from": before, "to": body.status}

    # ---------------------------------------------------------------- policies, lexicons

    @api.get("/policies", response_class=HTMLResponse, include_in_schema=False)
    async def policies_page(
        request: Request, v: Viewer = Depends(need("policy-read"))
    ) -> HTMLResponse:
        return wx.page(
            request,
            "policies.html",
            p=config_edit.policy_list(wx.archive.data_dir),
            lexicons=config_edit.lexicon_list(wx.archive.data_dir),
        )

    @api.get("/api/v1/policies", tags=["policies"])
    async def api_policies(v: Viewer = Depends(need("policy-read"))) -> dict[str, Any]:
        return config_edit.policy_list(wx.archive.data_dir)

    def _try(text: str, pid: str, sender: str, recipient: str, group: bool) -> list[dict[str, Any]]:
        if sender not in ("internal", "external", "bot") or recipient not in (
            "internal",
            "external",
        ):
            raise BadRequest("sender is internal|external|bot; recipient internal|external")
        if len(text) > 100_000:
            raise BadRequest("sample text may be at most 100,000 characters")
        pset = svc.policies()
        if pid:
            one = pset.get(pid)
            if one is None:
                raise NotFound(f"no policy {pid!r}")
            pset = type(pset)([one])
        ctx = TrialContext(sender_kind=sender, recipient_kind=recipient, group=group)
        return [r.__dict__ for r in try_text(pset, wx.engine(), text, ctx)]

    @api.get("/policies/{pid}", response_class=HTMLResponse, include_in_schema=False)
    async def policy_page(
        request: Request, pid: str, v: Viewer = Depends(need("policy-read"))
    ) -> HTMLResponse:
        try:
            src = config_edit.policy_source(wx.archive.data_dir, pid)
        except LookupError:
            if not v.user.can("policy-edit"):
                raise
            src = f"id: {pid}\nversion: 1\nname: \nbehaviour: \nseverity: medium\nwhen:\n"
        return wx.page(
            request, "policy.html", pid=pid, source=src, error="", results=None, sample=""
        )

    @api.post("/policies/{pid}/test", response_class=HTMLResponse, include_in_schema=False)
    async def policy_test_form(
        request: Request, pid: str, v: Viewer = Depends(need("policy-read"))
    ) -> HTMLResponse:
        f = await request.form()
        sample = str(f.get("sample", ""))
        results = _try(
            sample,
            pid,
            str(f.get("sender", "internal")),
            str(f.get("recipient", "external")),
            f.get("group") == "on",
        )
        src = config_edit.policy_source(wx.archive.data_dir, pid)
        return wx.page(
            request, "policy.html", pid=pid, source=src, error="", results=results, sample=sample
        )

    @api.post("/policies/{pid}", response_class=HTMLResponse, include_in_schema=False)
    async def policy_save_form(
        request: Request, pid: str, v: Viewer = Depends(need("policy-edit"))
    ) -> Response:
        src = str((await request.form()).get("source", ""))
        try:
            config_edit.save_policy(wx.archive, pid, src, v.name)
        except config_edit.EditError as e:
            return wx.page(
                request,
                "policy.html",
                400,
                pid=pid,
                source=src,
                error=str(e),
                results=None,
                sample="",
            )
        return _back(f"/policies/{pid}", "saved; the next scan evaluates the new version")

    @api.get("/api/v1/policies/{pid}", tags=["policies"])
    async def api_policy(pid: str, v: Viewer = Depends(need("policy-read"))) -> dict[str, str]:
        return {"id": pid, "source": config_edit.policy_source(wx.archive.data_dir, pid)}

    @api.put("/api/v1/policies/{pid}", tags=["policies"])
    async def api_policy_save(
        pid: str, body: SourceBody, v: Viewer = Depends(need("policy-edit"))
    ) -> dict[str, Any]:
        try:
            return config_edit.save_policy(wx.archive, pid, body.source, v.name)
        except config_edit.EditError as e:
            raise BadRequest(str(e)) from None

    @api.post("/api/v1/policies/test", tags=["policies"])
    async def api_policy_test(
        body: TryBody, v: Viewer = Depends(need("policy-read"))
    ) -> list[dict[str, Any]]:
        """Run the detectors and the policies (or one) on sample text in a made-up context."""
        return _try(body.text, body.policy, body.sender, body.recipient, body.group)

    @api.get("/lexicons/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def lexicon_page(
        request: Request, name: str, v: Viewer = Depends(need("policy-read"))
    ) -> HTMLResponse:
        try:
            src, builtin = config_edit.lexicon_source(wx.archive.data_dir, name)
        except LookupError:
            if not v.user.can("policy-edit"):
                raise
            src, builtin = f'id = "{name}"\nentity = "CUSTOM_TERM"\nterms = []\n', False
        return wx.page(request, "lexicon.html", name=name, source=src, builtin=builtin, error="")

    @api.post("/lexicons/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def lexicon_save_form(
        request: Request, name: str, v: Viewer = Depends(need("policy-edit"))
    ) -> Response:
        src = str((await request.form()).get("source", ""))
        try:
            config_edit.save_lexicon(wx.archive, name, src, v.name)
        except config_edit.EditError as e:
            return wx.page(
                request, "lexicon.html", 400, name=name, source=src, builtin=False, error=str(e)
            )
        return _back(f"/lexicons/{name}", "saved; the next scan uses it")

    @api.get("/api/v1/lexicons", tags=["policies"])
    async def api_lexicons(v: Viewer = Depends(need("policy-read"))) -> list[dict[str, Any]]:
        return config_edit.lexicon_list(wx.archive.data_dir)

    @api.get("/api/v1/lexicons/{name}", tags=["policies"])
    async def api_lexicon(name: str, v: Viewer = Depends(need("policy-read"))) -> dict[str, Any]:
        src, builtin = config_edit.lexicon_source(wx.archive.data_dir, name)
        return {"file": name, "source": src, "builtin": builtin}

    @api.put("/api/v1/lexicons/{name}", tags=["policies"])
    async def api_lexicon_save(
        name: str, body: SourceBody, v: Viewer = Depends(need("policy-edit"))
    ) -> dict[str, Any]:
        try:
            return config_edit.save_lexicon(wx.archive, name, body.source, v.name)
        except config_edit.EditError as e:
            raise BadRequest(str(e)) from None

    from .web_records import add_routes

    add_routes(api, wx.archive, settings, need)

    # ---------------------------------------------------------------- search

    def _search(v: Viewer, q: str, page: int, why: str) -> dict[str, Any]:
        from ..search.query import QueryError
        from .search_view import search

        try:
            return search(svc, v, q, page, why)
        except QueryError as e:
            raise ValueError(f"query: {e}") from None

    @api.get("/search", response_class=HTMLResponse, include_in_schema=False)
    async def search_page(
        request: Request,
        q: str = "",
        page: int = 1,
        why: str = "",
        v: Viewer = Depends(need("message-search")),
    ) -> HTMLResponse:
        if not q.strip():
            return wx.page(request, "search.html", q="", result=None, error="")
        try:
            result = _search(v, q, max(1, page), why)
        except ValueError as e:
            return wx.page(request, "search.html", 400, q=q, result=None, error=str(e))
        return wx.page(request, "search.html", q=q, result=result, error="")

    @api.get("/api/v1/search", tags=["search"])
    async def api_search(
        q: str, page: int = 1, why: str = "", v: Viewer = Depends(need("message-search"))
    ) -> dict[str, Any]:
        """Search messages (syntax: docs/search.md); newest first; audited."""
        return _search(v, q, max(1, page), why)

    # ---------------------------------------------------------------- audit log

    @api.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    async def audit_page(
        request: Request,
        action: str = "",
        actor: str = "",
        before: int | None = None,
        v: Viewer = Depends(need("audit-read")),
    ) -> HTMLResponse:
        events = svc.audit_log(v, action=action, actor=actor, before=before)
        from ..audit import ACTIONS

        return wx.page(
            request, "audit.html", events=events, action=action, actor=actor, actions=ACTIONS
        )

    @api.get("/api/v1/audit", tags=["audit"])
    async def api_audit(
        action: str = "",
        actor: str = "",
        before: int | None = None,
        v: Viewer = Depends(need("audit-read")),
    ) -> list[dict[str, Any]]:
        """Newest first, a page at a time: pass the last `seq` seen as `before`."""
        return svc.audit_log(v, action=action, actor=actor, before=before)

    # ---------------------------------------------------------------- users

    @api.get("/users", response_class=HTMLResponse, include_in_schema=False)
    async def users_page(request: Request, v: Viewer = Depends(need("user-admin"))) -> HTMLResponse:
        return wx.page(
            request,
            "users.html",
            users=accounts.list_users(wx.archive),
            roles=ROLES,
            permissions=PERMISSIONS,
            enrolment=None,
        )

    def _users_action(
        f: dict[str, str], name: str, action: str, actor: str
    ) -> accounts.Enrolment | None:
        a = wx.archive
        if action == "add":
            return accounts.add_user(
                a,
                f.get("name", ""),
                f.get("roles", ""),
                actor,
                settings,
                display=f.get("display", ""),
            )
        if action == "reset":
            return accounts.reset_user(a, name, actor, settings)
        if action in ("disable", "enable"):
            if name == actor and action == "disable":
                raise AccountError("you cannot disable your own account")
            accounts.set_disabled(a, name, action == "disable", actor)
        elif action == "roles":
            accounts.set_roles(a, name, f.get("roles", ""), actor)
        return None

    @api.post("/users", response_class=HTMLResponse, include_in_schema=False)
    async def users_form(request: Request, v: Viewer = Depends(need("user-admin"))) -> Response:
        form = await request.form()
        f = {k: str(x) for k, x in form.items()}
        roles = [str(r) for r in form.getlist("roles")]
        f["roles"] = ",".join(roles)
        action, name = f.get("action", ""), f.get("user", "")
        if action not in ("add", "reset", "disable", "enable", "roles"):
            raise BadRequest(f"unknown action {action!r}")
        try:
            enrolment = _users_action(f, name, action, v.name)
        except (AccountError, ValueError) as e:
            return _back("/users", f"not done: {e}")
        if enrolment is None:
            return _back("/users", f"{action}: {name} done")
        return wx.page(
            request,
            "users.html",
            users=accounts.list_users(wx.archive),
            roles=ROLES,
            permissions=PERMISSIONS,
            enrolment=enrolment,
        )

    @api.get("/api/v1/users", tags=["users"])
    async def api_users(v: Viewer = Depends(need("user-admin"))) -> list[dict[str, Any]]:
        return [_user_json(u) for u in accounts.list_users(wx.archive)]

    @api.post("/api/v1/users", tags=["users"])
    async def api_user_add(
        body: UserBody, v: Viewer = Depends(need("user-admin"))
    ) -> dict[str, str]:
        """Create a user; the response carries the one-time password and TOTP secret."""
        try:
            e = accounts.add_user(
                wx.archive, body.name, body.roles, v.name, settings, display=body.display
            )
        except AccountError as err:
            raise BadRequest(str(err)) from None
        return e.__dict__

    @api.post("/api/v1/users/{name}/{action}", tags=["users"])
    async def api_user_action(
        name: str, action: str, v: Viewer = Depends(need("user-admin"))
    ) -> dict[str, Any]:
        """action: reset (new password and TOTP secret), disable or enable."""
        if action not in ("reset", "disable", "enable"):
            raise NotFound(f"no user action {action!r}")
        try:
            e = _users_action({}, name, action, v.name)
        except AccountError as err:
            raise BadRequest(str(err)) from None
        return e.__dict__ if e else {"user": name, "done": action}

    @api.put("/api/v1/users/{name}/roles", tags=["users"])
    async def api_user_roles(
        name: str, body: RolesBody, v: Viewer = Depends(need("user-admin"))
    ) -> dict[str, Any]:
        try:
            return {"user": name, "roles": accounts.set_roles(wx.archive, name, body.roles, v.name)}
        except AccountError as err:
            raise BadRequest(str(err)) from None

    # ---------------------------------------------------------------- sampling

    @api.get("/sampling", response_class=HTMLResponse, include_in_schema=False)
    async def sampling_page(
        request: Request, v: Viewer = Depends(need("sample-work"))
    ) -> HTMLResponse:
        return wx.page(
            request,
            "sampling.html",
            rules=sampling.rules(wx.archive),
            samples=svc.samples(v),
            scopes=sampling.SCOPES,
        )

    @api.post("/sampling/rules", include_in_schema=False)
    async def rule_form(
        request: Request, v: Viewer = Depends(need("sampling-configure"))
    ) -> Response:
        f = await request.form()
        try:
            pct = float(str(f.get("percent", "")))
        except ValueError:
            raise BadRequest("the percentage must be a number") from None
        rid = svc.add_sampling_rule(v, str(f.get("scope", "")), str(f.get("value", "")), pct)
        return _back("/sampling", f"sampling rule {rid} added")

    @api.post("/sampling/rules/{rule_id}/retire", include_in_schema=False)
    async def retire_form(
        rule_id: int, v: Viewer = Depends(need("sampling-configure"))
    ) -> Response:
        svc.retire_sampling_rule(v, rule_id)
        return _back("/sampling", f"sampling rule {rule_id} retired")

    @api.post("/sampling/{rule_id}/{seq}", include_in_schema=False)
    async def sample_form(
        request: Request, rule_id: int, seq: int, v: Viewer = Depends(need("sample-work"))
    ) -> Response:
        f = await request.form()
        svc.review_sample(v, rule_id, seq, str(f.get("verdict", "")), str(f.get("note", "")))
        return _back("/sampling", f"sample {seq}: {f.get('verdict')}")

    @api.get("/api/v1/sampling/rules", tags=["sampling"])
    async def api_rules(v: Viewer = Depends(need("sample-work"))) -> list[dict[str, Any]]:
        return sampling.rules(wx.archive)

    @api.post("/api/v1/sampling/rules", tags=["sampling"])
    async def api_rule_add(
        body: RuleBody, v: Viewer = Depends(need("sampling-configure"))
    ) -> dict[str, int]:
        return {"id": svc.add_sampling_rule(v, body.scope, body.value, body.percent)}

    @api.post("/api/v1/sampling/rules/{rule_id}/retire", tags=["sampling"])
    async def api_rule_retire(
        rule_id: int, v: Viewer = Depends(need("sampling-configure"))
    ) -> dict[str, int]:
        svc.retire_sampling_rule(v, rule_id)
        return {"retired": rule_id}

    @api.get("/api/v1/samples", tags=["sampling"])
    async def api_samples(
        why: str = "", v: Viewer = Depends(need("sample-work"))
    ) -> list[dict[str, Any]]:
        items = svc.samples(v, why)
        for it in items:
            it["message"] = it["message"].as_json()
        return items

    @api.post("/api/v1/samples/{rule_id}/{seq}", tags=["sampling"])
    async def api_sample(
        rule_id: int, seq: int, body: SampleBody, v: Viewer = Depends(need("sample-work"))
    ) -> dict[str, Any]:
        svc.review_sample(v, rule_id, seq, body.verdict, body.note)
        return {"rule": rule_id, "seq": seq, "verdict": body.verdict}

    return api


def _workflow_routes(api: FastAPI, svc: ReviewService, action: str, perm: str) -> None:
    async def form(request: Request, alert_id: int, v: Viewer = Depends(need(perm))) -> Response:
        f = await request.form()
        try:
            svc.act(v, alert_id, action, **_act_fields(f))
        except workflow.WorkflowError as e:
            return _back(f"/alerts/{alert_id}", f"not done: {e}")
        nxt = str(f.get("next", "")) or f"/alerts/{alert_id}"
        return _back(_safe_next(nxt), f"alert {alert_id}: {action} done")

    async def json(alert_id: int, body: ActBody, v: Viewer = Depends(need(perm))) -> dict[str, Any]:
        try:
            return svc.act(v, alert_id, action, **body.model_dump())
        except workflow.WorkflowError as e:
            raise ConflictError(str(e)) from None

    api.add_api_route(
        f"/alerts/{{alert_id}}/{action}",
        form,
        methods=["POST"],
        include_in_schema=False,
        name=f"alert-{action}-form",
    )
    api.add_api_route(
        f"/api/v1/alerts/{{alert_id}}/{action}",
        json,
        methods=["POST"],
        tags=["alerts"],
        name=f"alert-{action}",
        summary=f"{action.capitalize()} an alert",
    )


class ConflictError(ValueError):
    pass


def _act_fields(form: Any) -> dict[str, str]:
    return {k: str(form.get(k, "")) for k in ("comment", "disposition", "reason", "assignee")}


def _safe_next(nxt: str) -> str:
    """Only same-site relative paths (no open redirect)."""
    if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
        return "/"
    return nxt


def _user_json(u: accounts.User) -> dict[str, Any]:
    return {
        "name": u.name,
        "display": u.display,
        "roles": list(u.roles),
        "permissions": sorted(u.permissions),
        "disabled": u.disabled,
        "locked_until": u.locked_until,
        "last_sign_in": u.last_sign_in,
    }
