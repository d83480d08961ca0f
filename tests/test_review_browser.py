"""The review UI in headless Chromium (Debian's system browser driven by Playwright):
sign in with password + TOTP, work an alert from the queue to closure, and read a
conversation full of hostile content with no script run and the page still usable."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reviewfix import HOSTILE_CONV, build_review_archive, conversation_key, make_users, server
from wxguard.review import accounts

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # scripts/test.sh installs it
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip
SHOTS = os.environ.get("WXGUARD_SCREENSHOTS")  # a folder: save the README's screenshots there


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    d = build_review_archive(tmp_path_factory.mktemp("browser"))
    users = make_users(d, prefix="ui-")
    with server(d) as base:
        yield {"data": d, "base": base, "users": users}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _sign_in(page: Any, base: str, e: accounts.Enrolment) -> None:
    page.goto(base + "/alerts")
    assert "/login" in page.url
    for _ in range(2):
        page.fill("input[name=username]", e.user)
        page.fill("input[name=password]", e.password)
        page.fill("input[name=code]", accounts.totp_code(e.totp_secret))
        page.click("button[type=submit]")
        page.wait_for_load_state()
        if "/login" not in page.url:
            return
        time.sleep(31 - time.time() % 30)  # that step's code was used; take the next one
    raise AssertionError("could not sign in: " + page.inner_text("main"))


def test_wrong_code_is_refused(site: dict[str, Any], browser: Any) -> None:
    page = browser.new_page()
    e = site["users"]["auditor"]
    page.goto(site["base"] + "/login")
    page.fill("input[name=username]", e.user)
    page.fill("input[name=password]", e.password)
    page.fill("input[name=code]", "123456" if accounts.totp_code(e.totp_secret) != "123456"
              else "654321")  # fmt: skip
    page.click("button[type=submit]")
    assert "wrong user name, password or authentication code" in page.inner_text("#login-error")
    page.close()


def test_work_an_alert_from_queue_to_closure(site: dict[str, Any], browser: Any) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    _sign_in(page, site["base"], site["users"]["reviewer"])
    assert page.url.endswith("/alerts")
    rows = page.locator("#queue tr.row")
    assert rows.count() > 0
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "queue.png"))
    # keyboard navigation: j moves to the first row, Enter opens it
    page.keyboard.press("j")
    assert "current" in (rows.nth(0).get_attribute("class") or "")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/alerts/\d+$"))
    alert_url = page.url
    assert page.locator("article.msg.evidence").count() >= 1
    assert page.locator("mark.hl").count() >= 1
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "alert.png"), full_page=True)
    page.click("#claim")
    assert "claim done" in page.inner_text(".flash")
    page.check("input[name=disposition][value=coaching-needed]")
    page.fill("#reason", "")
    page.fill("textarea[name=comment]", "spoke to the employee")
    page.click("#close")
    page.wait_for_url(re.compile(r"/alerts\?"))
    page.goto(alert_url)
    assert page.inner_text("#alert-state") == "closed"
    assert page.inner_text("#disposition") == "coaching-needed"
    history = page.inner_text("#history")
    assert "claim" in history and "close" in history and "spoke to the employee" in history
    page.close()


def test_hostile_conversation_renders_inert(site: dict[str, Any], browser: Any) -> None:
    page = browser.new_page()
    dialogs: list[str] = []
    violations: list[str] = []

    def on_console(m: Any) -> None:
        if "Content Security" in m.text:
            violations.append(m.text)

    def on_dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("console", on_console)
    page.on("dialog", on_dialog)
    _sign_in(page, site["base"], site["users"]["legal"])
    key = conversation_key(site["data"], HOSTILE_CONV)
    started = time.monotonic()
    page.goto(f"{site['base']}/conversations/{key}?why=hostile-test")
    assert time.monotonic() - started < 15
    # nothing the attacker wrote ran, and nothing tried to (no CSP reports either)
    assert page.evaluate("window.__pwned") is None
    assert dialogs == [] and violations == []
    assert page.locator("main img, main svg:not(.chart), main script").count() == 0
    body = page.inner_text("#thread")
    assert "<script>window.__pwned=2</script>" in body  # shown as text
    assert "⟦U+202E⟧" in body  # the bidi override is made visible
    assert "recalled by sender" in body and "¥888.00" in body
    assert page.locator("article.msg.recalled").count() == 1
    # the 1 MB message is cut for display, with a way to read all of it
    assert page.locator("text=Show the whole message").count() == 1
    # and the page is still usable: the last message is visible and links work
    last = page.locator("article.msg").last
    last.scroll_into_view_if_needed()
    assert "页面仍然可用" in last.inner_text()
    page.click("text=Alerts")
    page.wait_for_url(re.compile(r"/alerts$"))
    assert page.evaluate("window.__pwned") is None
    page.close()


def test_search_page_highlights_hits_and_is_audited(site: dict[str, Any], browser: Any) -> None:
    from wxguard.archive import Archive
    from wxguard.audit import events

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    _sign_in(page, site["base"], site["users"]["auditor"])
    page.goto(site["base"] + "/search")
    page.fill("input[name=q]", "合同")
    page.fill("input[name=why]", "matter 2026-17")
    page.click("#search-form button[type=submit]")
    page.wait_for_load_state()
    hits = page.locator("#search-hits li.hit")
    assert hits.count() > 0
    marks = page.locator("#search-hits mark").all_inner_texts()
    assert marks and all(m == "合同" for m in marks)
    assert re.search(r"\d[\d,]* messages", page.inner_text("#search-count"))
    page.fill("input[name=q]", "after:not-a-date")
    page.click("#search-form button[type=submit]")
    page.wait_for_load_state()
    assert "after" in page.inner_text("#search-error")
    page.close()
    with Archive.open(site["data"]) as a:
        searches = [e for e in events(a, action="search") if e.detail.get("query") == "合同"]
    assert searches and searches[0].detail.get("why") == "matter 2026-17"
    other = browser.new_page()
    _sign_in(other, site["base"], site["users"]["reviewer"])  # no message-search permission
    resp = other.goto(site["base"] + "/search?q=合同")
    assert resp is not None and resp.status == 403
    other.close()
