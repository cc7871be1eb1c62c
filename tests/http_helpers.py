"""Small helpers for tests that talk to a real server."""

from __future__ import annotations

import httpx

from tests.factories import four_unit_course

PROBLEM_JSON = "application/problem+json"


def head(client: httpx.Client, headers: dict[str, str] | None = None) -> int:
    """The log's head position, as /readyz reports it."""
    position: int = client.get("/readyz", headers=headers).json()["projection"]["head"]
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
