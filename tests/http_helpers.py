"""Talking to a running server as a learning platform would: commands, then reads of them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

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


def head(client: httpx.Client) -> int:
    """The log's head position, as /readyz reports it."""
    position: int = call(client, "GET", "/readyz")["projection"]["head"]
    return position
