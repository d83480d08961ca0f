"""Review-app API for legal holds, retention plans and export requests (the signed-in user
is the actor, so the two-person rule for exports is enforced between real accounts).
Packages are written by `wxguard discovery run` on the server (docs/exports.md)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from pydantic import BaseModel, Field

from .. import holds, retention
from ..archive import Archive
from ..exports import package, writers
from ..search.query import date_ms
from .service import Viewer
from .settings import ReviewSettings


class HoldBody(BaseModel):
    name: str
    reason: str
    matter: str = ""
    custodians: list[str] = Field(default_factory=list)
    conversations: list[str] = Field(default_factory=list)
    after: str | None = None
    before: str | None = None
    query: str = ""


class ReleaseBody(BaseModel):
    reason: str


class ExportBody(BaseModel):
    reason: str
    formats: list[str] = Field(default_factory=lambda: list(writers.FORMATS))
    query: str = ""
    hold: int | None = None
    person: str = ""
    custodian: str = ""


def add_routes(
    api: FastAPI,
    a: Archive,
    settings: ReviewSettings,
    need: Callable[[str | None], Callable[[Request], Awaitable[Viewer]]],
) -> None:
    @api.get("/api/v1/holds", tags=["holds"])
    async def api_holds(v: Viewer = Depends(need("hold-manage"))) -> list[dict[str, Any]]:
        return [
            {**h.as_dict(), "messages": holds.count_covered(a, h) if h.active else None}
            for h in holds.holds(a)
        ]

    @api.post("/api/v1/holds", tags=["holds"])
    async def api_hold_place(
        body: HoldBody, v: Viewer = Depends(need("hold-manage"))
    ) -> dict[str, Any]:
        scope = holds.HoldScope(
            custodians=body.custodians,
            conversations=body.conversations,
            after=date_ms(body.after, "after"),
            before=date_ms(body.before, "before"),
            query=body.query,
        )
        return holds.place(a, body.name, scope, body.reason, v.name, body.matter).as_dict()

    @api.post("/api/v1/holds/{hold_id}/release", tags=["holds"])
    async def api_hold_release(
        hold_id: int, body: ReleaseBody, v: Viewer = Depends(need("hold-manage"))
    ) -> dict[str, Any]:
        return holds.release(a, hold_id, body.reason, v.name).as_dict()

    @api.get("/api/v1/retention", tags=["retention"])
    async def api_retention(v: Viewer = Depends(need("retention-read"))) -> dict[str, Any]:
        """Rules, a dry-run plan as of now, and past disposals with their certificates."""
        past = [
            {"id": i, "as_of": t, "actor": who, "messages": n, "certificate": c}
            for i, t, who, n, c in a.conn.execute(
                "SELECT id, as_of, actor, messages, certificate FROM disposals ORDER BY id DESC"
            )
        ]
        return {"plan": retention.plan(a).as_dict(), "disposals": past}

    @api.get("/api/v1/exports", tags=["exports"])
    async def api_exports(v: Viewer = Depends(need("export-request"))) -> list[dict[str, Any]]:
        return [e.as_dict() for e in package.exports(a)]

    @api.post("/api/v1/exports", tags=["exports"])
    async def api_export_request(
        body: ExportBody, v: Viewer = Depends(need("export-request"))
    ) -> dict[str, Any]:
        scope = package.ExportScope(
            query=body.query, hold=body.hold, person=body.person, custodian=body.custodian
        )
        e = package.request(a, scope, body.formats, body.reason, v.name, settings.two_person)
        return e.as_dict()

    @api.post("/api/v1/exports/{export_id}/approve", tags=["exports"])
    async def api_export_approve(
        export_id: int, v: Viewer = Depends(need("export-approve"))
    ) -> dict[str, Any]:
        return package.approve(a, export_id, v.name).as_dict()
