"""Routes for search, the audit log, users and sampling."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from . import accounts, sampling
from .accounts import AccountError
from .roles import PERMISSIONS, ROLES
from .service import NotFound, Viewer
from .webkit import (
    App,
    BadRequest,
    RolesBody,
    RuleBody,
    SampleBody,
    UserBody,
    back,
    need,
    user_json,
)


def add_routes(api: FastAPI, wx: App) -> None:
    svc = wx.service
    settings = wx.settings

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

    def users_view(request: Request, enrolment: Any) -> HTMLResponse:
        return wx.page(
            request,
            "users.html",
            users=accounts.list_users(wx.archive),
            roles=ROLES,
            permissions=PERMISSIONS,
            enrolment=enrolment,
        )

    @api.get("/users", response_class=HTMLResponse, include_in_schema=False)
    async def users_page(request: Request, v: Viewer = Depends(need("user-admin"))) -> HTMLResponse:
        return users_view(request, None)

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
            return back("/users", f"not done: {e}")
        if enrolment is None:
            return back("/users", f"{action}: {name} done")
        return users_view(request, enrolment)

    @api.get("/api/v1/users", tags=["users"])
    async def api_users(v: Viewer = Depends(need("user-admin"))) -> list[dict[str, Any]]:
        return [user_json(u) for u in accounts.list_users(wx.archive)]

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
        return back("/sampling", f"sampling rule {rid} added")

    @api.post("/sampling/rules/{rule_id}/retire", include_in_schema=False)
    async def retire_form(
        rule_id: int, v: Viewer = Depends(need("sampling-configure"))
    ) -> Response:
        svc.retire_sampling_rule(v, rule_id)
        return back("/sampling", f"sampling rule {rule_id} retired")

    @api.post("/sampling/{rule_id}/{seq}", include_in_schema=False)
    async def sample_form(
        request: Request, rule_id: int, seq: int, v: Viewer = Depends(need("sample-work"))
    ) -> Response:
        f = await request.form()
        svc.review_sample(v, rule_id, seq, str(f.get("verdict", "")), str(f.get("note", "")))
        return back("/sampling", f"sample {seq}: {f.get('verdict')}")

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
