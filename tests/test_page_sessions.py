"""Signing in to the pages with keys configured, through a real server and a real browser:
a signed, HttpOnly, SameSite=Strict cookie; read scope for pages; admin scope and the
session's CSRF token for actions, refused (and nothing started) otherwise."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from bootstrap import Settings
from tests.browser import accessibility_violations, browser, new_page, screenshot
from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.test_access import create_key

__all__ = ["browser"]  # the fixture, imported for pytest


@pytest.fixture
def keys() -> dict[str, tuple[str, str]]:
    return {
        "read": create_key("page-reader", "read"),
        "admin": create_key("page-admin", "read,admin"),
    }


@pytest.fixture
def guarded(
    settings: Settings, tmp_path: Path, keys: dict[str, tuple[str, str]]
) -> Iterator[Server]:
    lines = ";".join(line for _, line in keys.values())
    running = Server(
        settings,
        tmp_path / "server.log",
        extra_env={"LEDGER_API_KEYS": lines, "LEDGER_SESSION_SECRET": "a test secret"},
    )
    yield running
    running.stop()


def sign_in(page: Page, server: Server, key: str, start: str = "/operations") -> None:
    page.goto(server.url + start)
    expect(page).to_have_url(f"{server.url}/sign-in?next={start}")
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    expect(page).to_have_url(server.url + start)


def generations(server: Server, admin_key: str) -> int:
    answer = httpx.get(
        server.url + "/v1/projections",
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=DEADLINE,
    )
    return len(answer.json()["generations"])


def test_sign_in_sets_a_strict_http_only_cookie_and_scopes_hold(
    browser: Browser, guarded: Server, keys: dict[str, tuple[str, str]]
) -> None:
    reader, admin = keys["read"][0], keys["admin"][0]
    page = new_page(browser)
    page.goto(guarded.url + "/operations")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    screenshot(page, "sign-in")
    assert accessibility_violations(page) == []
    page.get_by_label("API key").fill("pl_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That key is not known.")

    sign_in(page, guarded, reader)
    (cookie,) = page.context.cookies()
    assert cookie["name"] == "ledger_session"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert reader not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
    # A reader sees the page but no action, and a forged action is refused.
    expect(page.get_by_role("button", name="Start a rebuild")).to_have_count(0)
    token = page.locator('input[name="csrf_token"]').first.get_attribute("value")
    cookies = {"ledger_session": cookie["value"]}
    forged = httpx.post(
        guarded.url + "/operations/rebuilds",
        data={"csrf_token": token or "", "rules": "weighted-v1"},
        cookies=cookies,
        timeout=DEADLINE,
    )
    assert forged.status_code == 403 and "admin" in forged.text
    # A tampered cookie is no session.
    tampered = httpx.get(
        guarded.url + "/operations",
        cookies={"ledger_session": cookie["value"][:-2] + "xx"},
        timeout=DEADLINE,
    )
    assert tampered.status_code == 303 and tampered.headers["location"].startswith("/sign-in")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")

    sign_in(page, guarded, admin)
    admin_cookie = {"ledger_session": page.context.cookies()[0]["value"]}
    before = generations(guarded, admin)
    for fields in ({"rules": "weighted-v1"}, {"rules": "weighted-v1", "csrf_token": "wrong"}):
        refused = httpx.post(
            guarded.url + "/operations/rebuilds",
            data=fields,
            cookies=admin_cookie,
            timeout=DEADLINE,
        )
        assert refused.status_code == 403 and "CSRF" in refused.text
    assert generations(guarded, admin) == before  # nothing started
    page.get_by_label("Rules").select_option("weighted-v1")
    page.get_by_role("button", name="Start a rebuild").click()
    expect(page.get_by_role("status")).to_contain_text("started")
    assert generations(guarded, admin) == before + 1
