"""Talking to a running server as a learning platform would: commands, then reads of them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from tests.factories import four_unit_course

PROBLEM_JSON = "application/problem+json"


def path(*segments: str) -> str:
    """A URL path with every segment percent-encoded, so keys like `course-v1:Org+Run` fit."""
    return "/" + "/".join(quote(segment, safe="") for segment in segments)


def call(
    client: httpx.Client,
    method: str,
    url: str,
    body: Any = None,
    *,
    expect: int = 200,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One request; fails the test with the server's own words if the status is not `expect`."""
    response = client.request(method, url, json=body, params=params)
    assert response.status_code == expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def progress(client: httpx.Client, learner: str, course: str, position: int) -> dict[str, Any]:
    """A learner's progress in a course, as of at least `position` (read your writes)."""
    url = path("v1", "learners", learner, "courses", course, "progress")
    answer = call(client, "GET", url, params={"min_position": position})
    assert answer["projection_position"] >= position
    return answer


def numbers(answer: dict[str, Any]) -> tuple[int, int, float]:
    return answer["completed_units"], answer["total_units"], answer["percentage"]


def unit_numbers(answer: dict[str, Any]) -> dict[str, tuple[bool, int, int, float]]:
    """unit_id → (completed, completed_modules, total_modules, percentage), in course order."""
    return {
        u["unit_id"]: (u["completed"], u["completed_modules"], u["total_modules"], u["percentage"])
        for u in answer["units"]
    }


def head(client: httpx.Client, headers: dict[str, str] | None = None) -> int:
    """The log's head position, as /readyz reports it."""
    response = client.get("/readyz", headers=headers)
    assert response.status_code == 200, response.text
    position: int = response.json()["projection"]["head"]
    return position


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    if field is not None:
        assert body["field"] == field, body


def course_body(course_id: str) -> dict[str, object]:
    return {
        "course_id": course_id,
        "title": "Course",
        "units": [
            {
                "unit_id": unit.unit_id,
                "required": unit.required,
                "weight": unit.weight,
                "modules": [{"module_id": m.module_id} for m in unit.modules],
            }
            for unit in four_unit_course()
        ],
    }
