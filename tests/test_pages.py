"""The pages in a real headless Chromium against a real server, on both databases: what an
instructor sees (courses, a roster filtered, searched, sorted and paged both ways, its
charts, a learner's history) and what an operator does (a rebuild followed live), each page
checked by axe-core and reachable by keyboard; screenshots under test-artifacts/."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser import accessibility_violations, browser, new_page, screenshot
from tests.conftest import Server
from tests.http_helpers import call, path

__all__ = ["browser"]  # the fixture, imported for pytest

COURSE = "course-v1:Org+Pages"
LEARNERS = [f"learner-{n:02d}" for n in range(30)]


def seed(client: httpx.Client) -> dict[str, str]:
    """30 learners of a four-unit course: learner n has completed n % 5 units (4 of 4 done
    for n % 5 == 4); learner-00 withdrew. learner-07's second unit is revoked with a reason."""
    units = [{"unit_id": f"u{i}", "title": f"Unit {i}"} for i in range(1, 5)]
    call(client, "POST", "/v1/courses", {"course_id": COURSE, "units": units}, expect=201)
    enrollments: dict[str, str] = {}
    for n, learner in enumerate(LEARNERS):
        body = {"learner_id": learner, "course_id": COURSE}
        enrolled = call(client, "POST", "/v1/enrollments", body, expect=201)
        enrollments[learner] = enrolled["enrollment_id"]
        for unit in range(1, n % 5 + 1):
            completion = path("v1", "enrollments", enrolled["enrollment_id"], "units", f"u{unit}")
            call(client, "POST", completion + "/completion", {"reason": f"quiz {unit} passed"})
    revoke = path("v1", "enrollments", enrollments["learner-07"], "units", "u2", "completion")
    call(client, "DELETE", revoke, params={"reason": "marked by mistake"})
    call(client, "POST", path("v1", "enrollments", enrollments["learner-00"], "withdrawal"))
    return enrollments


def roster_learners(page: Page) -> list[str]:
    return page.locator("#roster tbody th").all_inner_texts()


def json_roster(client: httpx.Client, position: int) -> dict[str, Any]:
    return call(
        client,
        "GET",
        path("v1", "courses", COURSE, "progress"),
        params={"limit": 100, "min_position": position},
    )


def checked(page: Page, name: str) -> None:
    """Screenshot kept, and no accessibility violation."""
    screenshot(page, name)
    assert accessibility_violations(page) == [], name


def test_an_instructor_reads_courses_rosters_and_histories(
    browser: Browser, server: Server, client: httpx.Client
) -> None:
    seed(client)
    position = client.get("/readyz").json()["projection"]["head"]
    summary = json_roster(client, position)["summary"]
    page = new_page(browser)

    page.goto(server.url + "/")
    row = page.locator("tbody tr", has_text=COURSE)
    cells = row.locator("td").all_inner_texts()
    assert cells == [
        str(summary["enrolled"]),
        str(summary["completed"]),
        f"{summary['average_percentage']:g}%",
    ]
    assert summary["enrolled"] == 29  # learner-00 withdrew
    checked(page, "courses")

    row.get_by_role("link", name=COURSE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Course {COURSE}")
    # The histogram counts every learner not withdrawn; 100% are those with 4 units done.
    counts = page.locator("#histogram tbody td .bar-value").all_inner_texts()
    assert sum(map(int, counts)) == 29
    assert int(counts[-1]) == 6 == summary["completed"]
    # Unit shares in course order, falling from unit 1 to unit 4.
    shares = page.locator("#unit-shares tbody tr th").all_inner_texts()
    assert [s.split(" ")[0:2] for s in shares] == [["Unit", str(i)] for i in range(1, 5)]
    assert (
        page.locator("#unit-shares tbody td .bar-value")
        .first.inner_text()
        .startswith("82.8% (24 of 29)")
    )
    # One progress bar per learner, its value the learner's percentage.
    assert page.locator("#roster progress").count() == 30
    bar = page.get_by_label("learner-04: 100.0 percent")
    assert bar.get_attribute("value") == "100.0"
    checked(page, "roster")

    # Filters: completed only, sorted by learner descending.
    page.get_by_label("Status").select_option("completed")
    page.get_by_label("Order").select_option("desc")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile("status=completed"))
    completed = [f"learner-{n:02d}" for n in range(30) if n % 5 == 4]
    assert roster_learners(page) == sorted(completed, reverse=True)

    # A percentage range and a search, typed and submitted from the keyboard.
    page.goto(server.url + path("courses", COURSE))
    page.get_by_label("From %").fill("50")
    page.get_by_label("To %").fill("75")
    page.get_by_label("Learner", exact=True).fill("LEARNER-1")
    page.get_by_label("Learner", exact=True).press("Enter")
    expect(page).to_have_url(re.compile("q=LEARNER-1"))
    expected = [f"learner-{n}" for n in range(10, 20) if n % 5 in (2, 3)]
    assert roster_learners(page) == expected
    # The browser holds back a value out of range; the server refuses what gets through.
    page.get_by_label("From %").fill("101")
    page.get_by_role("button", name="Show").click()
    assert page.get_by_label("From %").evaluate("field => field.validity.rangeOverflow")
    page.goto(server.url + path("courses", COURSE) + "?min_percentage=60&max_percentage=40")
    expect(page.get_by_role("alert")).to_contain_text("min_percentage is above max_percentage")
    assert page.get_by_label("From %").get_attribute("aria-invalid") == "true"

    # Paging: 25 a page, next then previous, by keyset both ways.
    page.goto(server.url + path("courses", COURSE) + "?limit=25&sort=percentage")
    first = roster_learners(page)
    assert len(first) == 25
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile("after="))
    second = roster_learners(page)
    assert len(second) == 5 and not set(first) & set(second)
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    page.get_by_role("link", name="Previous page").click()
    expect(page).to_have_url(re.compile("before="))
    assert roster_learners(page) == first
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)

    # A learner's history: the step chart and the timeline with who acted and why.
    page.get_by_role("link", name="learner-07", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"learner-07 in {COURSE}")
    assert page.locator("#step-chart path.step").get_attribute("d")
    assert page.locator("#step-chart circle").count() == 4  # enrolled, two units, revoked
    timeline = page.locator("#timeline")
    expect(timeline.locator("li").first).to_contain_text("UnitCompletionRevoked")
    expect(timeline.locator(".reason").first).to_have_text("marked by mistake")
    expect(timeline.locator(".actor").first).to_have_text("local")
    checked(page, "history")


def test_pages_are_reached_by_keyboard(
    browser: Browser, server: Server, client: httpx.Client
) -> None:
    seed(client)
    page = new_page(browser)
    page.goto(server.url + "/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name=COURSE)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Course {COURSE}")
    page.get_by_label("Learner", exact=True).focus()
    page.keyboard.type("learner-2")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("q=learner-2"))
    assert roster_learners(page) == [f"learner-{n}" for n in range(20, 30)]


def test_an_operator_starts_a_rebuild_and_watches_it_live(
    browser: Browser, server: Server, client: httpx.Client
) -> None:
    seed(client)
    page = new_page(browser)
    page.goto(server.url + "/operations")
    expect(page.locator('#generations tr[data-generation="1"] [data-field="status"]')).to_have_text(
        "live"
    )
    expect(page.locator("#no-parked")).to_be_visible()
    checked(page, "operations")
    page.get_by_label("Rules").select_option("weighted-v1")
    page.get_by_role("button", name="Start a rebuild").click()
    expect(page.get_by_role("status")).to_contain_text("Rebuild of generation 2 started")
    # The page's script polls the JSON and updates the row in place, with no reload.
    rebuilt = page.locator('#generations tr[data-generation="2"]')
    expect(rebuilt.locator('[data-field="status"]')).to_have_text("live")
    expect(rebuilt.locator('[data-field="lag"]')).to_have_text("0")
    assert rebuilt.locator("progress").evaluate("bar => bar.value") == 100
    page.get_by_role("button", name="Retry the parked events").click()
    expect(page.get_by_role("status")).to_contain_text("0 applied")
