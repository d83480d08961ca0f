"""Routes for the work of review: dashboard, alert queue and workflow, conversations,
messages and attachments, people, inventory."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from . import accounts, workflow
from .service import QueueQuery, ReviewService, Viewer
from .webkit import (
    ActBody,
    App,
    BadRequest,
    BulkBody,
    ConflictError,
    DecideBody,
    act_fields,
    back,
    need,
    safe_next,
)


def add_routes(api: FastAPI, wx: App) -> None:
    svc = wx.service

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

    def assignable() -> list[str]:
        """Users an alert can be assigned to: active, allowed to work alerts."""
        return [
            u.name
            for u in accounts.list_users(wx.archive)
            if u.can("alert-work") and not u.disabled
        ]

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
            users=assignable(),
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
            return back("/alerts", "select at least one alert")
        action = str(form.get("action", ""))
        if action not in ("claim", "close", "assign", "escalate"):
            raise BadRequest(f"unknown bulk action {action!r}")
        if action == "assign":
            svc.need(v, "alert-supervise")
        res = svc.bulk(v, ids, action, **act_fields(form))
        done = sum(r["ok"] for r in res)
        errs = "; ".join(r["error"] for r in res if not r["ok"])[:400]
        ret = str(form.get("return", "/alerts"))
        return back(
            safe_next(ret), f"{action}: {done} of {len(ids)} done" + (f" — {errs}" if errs else "")
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
        return wx.page(request, "alert.html", a=a, users=assignable())

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
        return back("/inventory", f"{kind} {ident}: {status}")

    @api.post("/api/v1/inventory/{kind}/{ident}", tags=["inventory"])
    async def api_decide(
        kind: str, ident: str, body: DecideBody, v: Viewer = Depends(need("inventory-decide"))
    ) -> dict[str, str]:
        before = svc.decide(v, kind, ident, body.status, body.note)
        return {"kind": kind, "id": ident, "from": before, "to": body.status}


def _workflow_routes(api: FastAPI, svc: ReviewService, action: str, perm: str) -> None:
    async def form(request: Request, alert_id: int, v: Viewer = Depends(need(perm))) -> Response:
        f = await request.form()
        try:
            svc.act(v, alert_id, action, **act_fields(f))
        except workflow.WorkflowError as e:
            return back(f"/alerts/{alert_id}", f"not done: {e}")
        nxt = str(f.get("next", "")) or f"/alerts/{alert_id}"
        return back(safe_next(nxt), f"alert {alert_id}: {action} done")

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
