"""A real headless Chromium for the page tests: Debian's `chromium` (LEDGER_TEST_CHROMIUM
names another build), driven by Playwright; nothing downloads a browser. Screenshots go to
test-artifacts/screenshots/ (gitignored), kept after the run for people to look at."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import ROOT, needs_a_process
from tests.deadlines import DEADLINE

expect.set_options(timeout=DEADLINE * 1000)
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def chromium_path() -> str:
    named = os.environ.get("LEDGER_TEST_CHROMIUM") or shutil.which("chromium") or ""
    if not named or not Path(named).exists():
        pytest.fail(
            "the page tests need Debian's chromium (apt-get install chromium; .ci/run installs "
            "it) or LEDGER_TEST_CHROMIUM naming a Chromium executable"
        )
    return named


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    needs_a_process()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium_path(),
            headless=True,
            # As root (CI) Chromium's sandbox cannot start; the pages are our own.
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


def new_page(browser: Browser) -> Page:
    """A page of its own context (its own cookies), every wait bounded by the DEADLINE."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.set_default_timeout(DEADLINE * 1000)
    return page


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessibility_violations(page: Page) -> list[str]:
    """axe-core's violations of the page as it is now (the copy axe-playwright-python
    ships, injected into the page: it works offline)."""
    results = Axe().run(page)
    return [
        f"{violation['id']}: {violation['help']} ({len(violation['nodes'])} nodes)"
        for violation in results.response["violations"]
    ]
