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

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from ..policy.store import PolicyStoreError
from . import (
    web_admin,
    web_alerts,
    web_policies,
    web_records,
    web_session,
)
from .service import NotFound
from .settings import ReviewSettings
from .webkit import CSP, App, AuthRequired, BadRequest, is_api, need, route_permissions
from .workflow import Denied


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
        if is_api(request):
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
        if is_api(request):
            return JSONResponse({"error": text, "permission": e.permission}, 403)
        return wx.page(request, "error.html", 403, title="Not allowed", error=text)

    async def _problem(request: Request, e: Exception, status: int) -> Response:
        text = str(e.args[0]) if e.args else str(e)
        if is_api(request):
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

    web_session.add_routes(api, wx)
    web_alerts.add_routes(api, wx)
    web_policies.add_routes(api, wx)
    web_records.add_routes(api, wx.archive, wx.settings, need)
    web_admin.add_routes(api, wx)
    return api


__all__ = ["create_app", "route_permissions"]
