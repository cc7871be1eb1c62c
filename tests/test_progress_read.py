"""A learner's progress in a course, read the plain way (no query string), as a dashboard
polls it: the document a learner's history says it must be, the same answer as a
read-your-writes read, and refused exactly as before when the key, its scope or an id is
wrong."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head
from tests.test_access import bearer, created_keys, guarded, keys

__all__ = ["created_keys", "guarded", "keys"]


def test_a_plain_read_answers_like_a_waiting_read_and_refuses_like_it(
    guarded: Server, keys: dict[str, str]
) -> None:
    reader, writer, admin = bearer(keys["read"]), bearer(keys["write"]), bearer(keys["admin"])
    course = new_id("course")
    url = f"/v1/learners/ada/courses/{course}/progress"
    with httpx.Client(base_url=guarded.url, timeout=DEADLINE) as client:
        assert client.post("/v1/courses", json=course_body(course), headers=admin).is_success
        enrolled = client.post(
            "/v1/enrollments", json={"learner_id": "ada", "course_id": course}, headers=writer
        )
        enrollment_id = enrolled.json()["enrollment_id"]
        completion = client.post(
            f"/v1/enrollments/{enrollment_id}/units/u2/completion", headers=writer
        )
        assert completion.status_code == 200
        position = head(client, reader)

        waited = client.get(url, params={"min_position": position}, headers=reader)
        assert waited.status_code == 200, waited.text
        plain = client.get(url, headers=reader)
        assert plain.status_code == 200, plain.text
        assert plain.headers["content-type"] == "application/json"
        history = client.get(f"/v1/enrollments/{enrollment_id}/history", headers=reader).json()
        expected = expected_progress(
            course,
            enrollment_id,
            position=completion.json()["position"],
            updated_at=history["events"][-1]["recorded_at"],  # replayed from the events
            projection_position=position,
        )
        # Byte for byte: every field, its value and its place.
        assert plain.content == json.dumps(expected, separators=(",", ":")).encode()
        assert waited.content == plain.content

        for headers in (
            {},
            bearer("pl_not-a-key"),
            {"Authorization": "Basic eDp5"},
            {"Authorization": "Bearer"},
            {"Authorization": f"Bearer  {keys['read']}x"},
        ):
            assert_problem(client.get(url, headers=headers), 401, "Authorization")
        assert_problem(client.get(url, headers=writer), 403, "Authorization")
        assert_problem(
            client.get(f"/v1/learners/bob/courses/{course}/progress", headers=reader),
            404,
            "learner_id",
        )
        assert_problem(
            client.get(f"/v1/learners/a%20b/courses/{course}/progress", headers=reader),
            422,
            "learner_id",
        )
        assert_problem(
            client.get(f"/v1/learners/ada/courses/{'c' * 201}/progress", headers=reader),
            422,
            "course_id",
        )
    assert '"key":"k-read"' in guarded.log_path.read_text()  # the reader is named in the log


def expected_progress(
    course: str, enrollment_id: str, *, position: int, updated_at: str, projection_position: int
) -> dict[str, Any]:
    """Ada's document after completing u2 of `course_body`'s four units, written out by hand:
    every field, in the API's order."""

    def unit(unit_id: str, *, required: bool = True, modules: int = 0) -> dict[str, Any]:
        completed = unit_id == "u2"
        return {
            "unit_id": unit_id,
            "required": required,
            "completed": completed,
            "completed_modules": 0,
            "total_modules": modules,
            "percentage": 100.0 if completed else 0.0,
        }

    return {
        "learner_id": "ada",
        "course_id": course,
        "enrollment_id": enrollment_id,
        "completed_units": 1,
        "total_units": 4,
        "percentage": 25.0,
        "completed_at": None,
        "updated_at": updated_at,
        "position": position,
        "rules": "units-v1",
        "withdrawn": False,
        "units": [unit("u1", modules=2), unit("u2"), unit("u3", required=False), unit("u4")],
        "projection_position": projection_position,
        "held": False,
        "attempt": 1,
    }
