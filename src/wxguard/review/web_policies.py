"""Routes for policies and lexicons: view, edit, and try a policy on sample text."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from ..policy.service import TrialContext, try_text
from . import config_edit
from .service import NotFound, Viewer
from .webkit import App, BadRequest, SourceBody, TryBody, back, need


def add_routes(api: FastAPI, wx: App) -> None:
    svc = wx.service

    # ---------------------------------------------------------------- policies, lexicons

    def policy_view(
        request: Request,
        pid: str,
        src: str,
        status: int = 200,
        error: str = "",
        results: list[dict[str, Any]] | None = None,
        sample: str = "",
    ) -> HTMLResponse:
        return wx.page(
            request, "policy.html", status, pid=pid, source=src, error=error, results=results,
            sample=sample,
        )  # fmt: skip

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
        return policy_view(request, pid, src)

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
        return policy_view(request, pid, src, results=results, sample=sample)

    @api.post("/policies/{pid}", response_class=HTMLResponse, include_in_schema=False)
    async def policy_save_form(
        request: Request, pid: str, v: Viewer = Depends(need("policy-edit"))
    ) -> Response:
        src = str((await request.form()).get("source", ""))
        try:
            config_edit.save_policy(wx.archive, pid, src, v.name)
        except config_edit.EditError as e:
            return policy_view(request, pid, src, 400, error=str(e))
        return back(f"/policies/{pid}", "saved; the next scan evaluates the new version")

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
        return back(f"/lexicons/{name}", "saved; the next scan uses it")

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
