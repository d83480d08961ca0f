"""The REST API and web routes against a real ``wxguard serve`` process on loopback:
every route denies every role that lacks its permission, sign-in rules, CSRF, headers,
the alert workflow and audited views."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from reviewfix import (
    HOSTILE_CONV,
    build_review_archive,
    conversation_key,
    make_users,
    server,
    sign_in,
)
from wxguard.archive import Archive
from wxguard.audit import events
from wxguard.review import accounts
from wxguard.review.roles import PERMISSIONS, ROLES
from wxguard.review.settings import ReviewSettings
from wxguard.review.web import create_app, route_permissions
from wxguard.verify import verify


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = build_review_archive(tmp_path_factory.mktemp("review"))
    users = make_users(d)
    with server(d) as base:
        tokens = {role: sign_in(base, e) for role, e in users.items()}
        yield {"data": d, "base": base, "users": users, "tokens": tokens}


def _client(site: dict[str, Any], role: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {site['tokens'][role]}"} if role else {}
    return httpx.Client(base_url=site["base"], headers=headers, follow_redirects=False)


def _fill(path: str, key: str) -> str:
    """Path parameters filled with values that exist or harmlessly do not."""
    values = {"alert_id": "999999", "seq": "999999", "key": key, "blob_id": "00" * 32,
              "name": "no-such-thing", "pid": "no-such-policy", "kind": "domain",
              "ident": "example.invalid", "rule_id": "999999", "action": "enable",
              "hold_id": "999999", "export_id": "999999"}  # fmt: skip
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_route_names_a_known_permission(site: dict[str, Any]) -> None:
    routes = route_permissions(create_app(site["data"], ReviewSettings(), secure_cookies=False))
    assert len(routes) > 50
    for method, path, perm in routes:
        assert perm is None or perm in PERMISSIONS, (method, path, perm)
    # every permission guards at least one route (privileged-read guards data, not routes:
    # it is checked per conversation, see test_review_service)
    assert {p for _, _, p in routes} - {None} == set(PERMISSIONS) - {"privileged-read"}


def test_role_by_route_matrix(site: dict[str, Any]) -> None:
    """Each role × each route: 403 exactly when the role lacks the route's permission —
    for direct API calls and for the web UI's routes alike."""
    routes = route_permissions(create_app(site["data"], ReviewSettings(), secure_cookies=False))
    key = conversation_key(site["data"], HOSTILE_CONV)
    checked = 0
    for role, perms in ROLES.items():
        with _client(site, role) as c:
            for method, path, perm in routes:
                if path in ("/logout", "/api/v1/session"):
                    continue  # would end this role's session; covered below
                r = c.request(method, _fill(path, key), json={} if method != "GET" else None)
                allowed = perm is None or perm in perms
                if allowed:
                    assert r.status_code not in (401, 403), (role, method, path, r.text[:200])
                else:
                    assert r.status_code == 403, (role, method, path, r.status_code)
                    if path.startswith("/api/"):
                        assert r.json()["permission"] == perm
                checked += 1
    assert checked > 300


def test_unauthenticated_requests_are_refused(site: dict[str, Any]) -> None:
    routes = route_permissions(create_app(site["data"], ReviewSettings(), secure_cookies=False))
    key = conversation_key(site["data"], HOSTILE_CONV)
    with _client(site, None) as c:
        for method, path, _perm in routes:
            r = c.request(method, _fill(path, key))
            if path.startswith("/api/"):
                assert r.status_code == 401, (method, path)
            else:
                assert r.status_code == 303 and r.headers["location"].startswith("/login")
        bogus = c.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
        assert bogus.status_code == 401


def test_headers_cookies_and_csrf(site: dict[str, Any]) -> None:
    e = site["users"]["reviewer"]
    base = site["base"]
    with httpx.Client(base_url=base, follow_redirects=False) as c:
        page = c.get("/login")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        # form sign-in sets an HttpOnly, SameSite=Strict session cookie
        import time

        time.sleep(31 - time.time() % 30)  # the reviewer's code of this step was used
        r = c.post(
            "/login",
            data={
                "username": e.user,
                "password": e.password,
                "code": accounts.totp_code(e.totp_secret),
                "next": "/alerts",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/alerts"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        # a state change by cookie without the CSRF token is refused …
        no_token = c.post("/alerts/1/comment", data={"comment": "x"})
        assert no_token.status_code == 403 and "CSRF" in no_token.text
        # … and accepted with the token from the page
        html = c.get("/alerts/1").text
        token = re.search(r'name="csrf" value="([^"]+)"', html)
        assert token is not None
        ok = c.post("/alerts/1/comment", data={"comment": "looked at it", "csrf": token.group(1)})
        assert ok.status_code == 303 and "done" in ok.headers["location"]
        api = c.post("/api/v1/alerts/1/comment", json={"comment": "by api"},
                     headers={"X-CSRF-Token": token.group(1)})  # fmt: skip
        assert api.status_code == 200
        # an open redirect through ?next= is not possible
        assert c.get("/login", params={"next": "//evil.example"}).text.count("//evil") == 0


def test_wrong_codes_lock_the_account_and_leave_a_trace(site: dict[str, Any]) -> None:
    with Archive.open(site["data"]) as a:
        e = accounts.add_user(a, "locky", ["auditor"], "test", ReviewSettings())
    base = site["base"]
    for i in range(5):
        r = httpx.post(
            base + "/api/v1/session",
            json={"username": "locky", "password": e.password, "code": "000000"},
        )
        assert r.status_code in (401, 429), i
        assert "code" in r.json()["error"] or "locked" in r.json()["error"]
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    good = httpx.post(
        base + "/api/v1/session",
        json={
            "username": "locky",
            "password": e.password,
            "code": accounts.totp_code(e.totp_secret),
        },
    )
    assert good.status_code == 429 and "locked" in good.json()["error"]
    with Archive.open(site["data"]) as a:
        failed = events(a, "sign-in-failed", 50, subject="user:locky")
    assert len(failed) == 6 and any(ev.detail["locked"] for ev in failed)


def test_work_an_alert_through_the_api(site: dict[str, Any]) -> None:
    with _client(site, "reviewer") as rev, _client(site, "supervisor") as sup:
        queue = rev.get("/api/v1/alerts", params={"state": "active", "sort": "severity"}).json()
        assert queue["total"] > 0
        aid = queue["items"][-1]["id"]
        detail = rev.get(f"/api/v1/alerts/{aid}", params={"why": "case 7"}).json()
        assert detail["messages"] and any(m["evidence"] for m in detail["messages"])
        hit = next(m for m in detail["messages"] if m["evidence"])
        assert hit["findings"] and hit["highlights"]
        assert rev.post(f"/api/v1/alerts/{aid}/claim", json={}).json()["assignee"] == "reviewer"
        refused = rev.post(f"/api/v1/alerts/{aid}/close", json={"disposition": "false-positive"})
        assert refused.status_code == 400 and "reason" in refused.json()["error"]
        closed = rev.post(
            f"/api/v1/alerts/{aid}/close",
            json={"disposition": "false-positive", "reason": "test data"},
        )
        assert closed.json()["state"] == "closed"
        assert rev.post(f"/api/v1/alerts/{aid}/reopen", json={}).status_code == 403
        prec = sup.get("/api/v1/dashboard").json()["precision"]["policies"]
        row = next(p for p in prec if p["id"] == detail["policy"])
        assert row["false_positives"] >= 1 and row["precision"] < 1
        assert sup.post(f"/api/v1/alerts/{aid}/reopen", json={"comment": "re-check"}).json()[
            "state"] == "open"  # fmt: skip
        history = rev.get(f"/api/v1/alerts/{aid}").json()["history"]
        assert [h["action"] for h in history][-3:] == ["alert-claim", "alert-close",
                                                        "alert-reopen"]  # fmt: skip
    with Archive.open(site["data"]) as a:
        views = [ev for ev in events(a, "view-alert", 200, actor="reviewer")
                 if ev.subject == f"alert:{aid}"]  # fmt: skip
        assert any(ev.detail["why"] == "case 7" for ev in views)
        report = verify(a)
    assert report.ok and report.audit_events > 10


def test_conversation_views_and_downloads_are_audited(site: dict[str, Any]) -> None:
    key = conversation_key(site["data"], HOSTILE_CONV)
    with _client(site, "legal") as c:
        conv = c.get(f"/api/v1/conversations/{key}", params={"why": "subpoena 12"}).json()
        msgs = conv["messages"]
        assert any(m["recalled"] for m in msgs)
        assert any("¥888.00" in v for m in msgs for v in m["extras"].values())
        big = next(m for m in msgs if m["length"] == 1_000_000)
        assert big["truncated"] and len(big["text"]) == 20_000
        f = next(m for m in msgs if m["files"])
        r = c.get(f"/api/v1/messages/{f['seq']}/files/{f['files'][0]['blob_id']}",
                  params={"why": "subpoena 12"})  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
        assert r.headers["content-disposition"].startswith("attachment;")
        assert "<" not in r.headers["content-disposition"]
        assert r.content.startswith(b"%PDF")
    with Archive.open(site["data"]) as a:
        assert any(ev.detail["why"] == "subpoena 12"
                   for ev in events(a, "view-conversation", 20, actor="legal"))  # fmt: skip
        dl = events(a, "download", 20, actor="legal")
        assert dl and dl[0].detail["message"] == f["seq"]


def test_openapi_documents_the_api(site: dict[str, Any]) -> None:
    spec = httpx.get(site["base"] + "/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/api/v1/alerts", "/api/v1/alerts/{alert_id}/close", "/api/v1/conversations/{key}",
            "/api/v1/session", "/api/v1/users", "/api/v1/audit"} <= paths  # fmt: skip
    assert all(p.startswith("/api/v1/") for p in paths)


def test_policy_edit_validates_and_is_audited(site: dict[str, Any], tmp_path: Path) -> None:
    with _client(site, "admin") as c:
        src = c.get("/api/v1/policies/secrets-in-chat").json()["source"]
        bad = c.put(
            "/api/v1/policies/secrets-in-chat",
            json={"source": src.replace("severity:", "severity: nonsense\nx:", 1)},
        )
        assert (
            bad.status_code == 400 and "line" in bad.json()["error"].lower()
        ) or ":" in bad.json()["error"]
        ok = c.put(
            "/api/v1/policies/secrets-in-chat",
            json={"source": src.replace("version: 1", "version: 2", 1)},
        )
        assert ok.status_code == 200 and ok.json()["version"] == 2
        trial = c.post("/api/v1/policies/test", json={
            "text": "AKIAIOSFODNN7EXAMPLE 密钥 wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "policy": "secrets-in-chat"}).json()  # fmt: skip
        assert trial[0]["policy"] == "secrets-in-chat" and trial[0]["all_findings"]
    with Archive.open(site["data"]) as a:
        ev = events(a, "policy-edit", 5)
    assert ev and ev[0].actor == "admin" and ev[0].detail["version"] == 2


def test_demo_serves_with_a_demo_login(tmp_path: Path) -> None:
    """`wxguard demo` ends by serving the review app and printing the URL and a login."""
    import os
    import subprocess
    import sys
    import time

    from conftest import run_cli
    from reviewfix import free_port

    d, port = tmp_path / "d", free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wxguard", "demo", "--messages", "400", "--data", str(d),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Sign in as" in line or proc.poll() is not None:
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/" in text, text
        pw = re.search(r"Sign in as demo with password (\S+) ", text)
        assert pw is not None, text
        code = run_cli("demo", "code", data=d).stdout.strip()
        assert re.fullmatch(r"\d{6}", code)
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/session",
            json={"username": "demo", "password": pw.group(1), "code": code},
        )
        assert r.status_code == 200 and set(r.json()["user"]["roles"]) == set(ROLES)
    finally:
        proc.terminate()
        proc.wait(10)
