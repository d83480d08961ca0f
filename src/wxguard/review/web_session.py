"""Sign-in routes: the login page, API sessions, the signed-in user, the health check."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from . import accounts
from .accounts import SignInError
from .service import Viewer
from .webkit import COOKIE, App, SignInBody, need, safe_next, user_json


def add_routes(api: FastAPI, wx: App) -> None:
    settings = wx.settings

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
        return wx.page(request, "login.html", next=safe_next(next), error="")

    @api.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        nxt = safe_next(str(form.get("next", "/")))
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
                "user": user_json(s.user),
            }
        )

    @api.delete("/api/v1/session", tags=["session"])
    async def api_sign_out(request: Request, v: Viewer = Depends(need(None))) -> dict[str, bool]:
        accounts.sign_out(wx.archive, request.state.session.token)
        return {"signed_out": True}

    @api.get("/api/v1/me", tags=["session"])
    async def api_me(v: Viewer = Depends(need(None))) -> dict[str, Any]:
        return {**user_json(v.user), "pseudonyms": v.pseudonyms}
