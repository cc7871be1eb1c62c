"""The completion routes answer the usual request before FastAPI's checks run; everything
unusual must still be refused exactly as those checks refuse it, appending nothing."""

from __future__ import annotations

import httpx

from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head


def test_odd_completions_are_refused_as_before(client: httpx.Client) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    enrollment_id = enrolled.json()["enrollment_id"]
    unit = f"/v1/enrollments/{enrollment_id}/units/u2/completion"
    start = head(client)

    assert_problem(client.post("/v1/enrollments/not-a-uuid/units/u2/completion"), 422)
    absent = "00000000-0000-4000-8000-000000000000"
    assert_problem(client.post(f"/v1/enrollments/{absent}/units/u2/completion"), 404)
    bad_unit = f"/v1/enrollments/{enrollment_id}/units/a%20b/completion"
    assert_problem(client.post(bad_unit), 422, "unit_id")
    assert_problem(client.post(unit, json={"occurred_at": "2024-01-01T00:00:00Z", "x": 1}), 422)
    assert_problem(client.post(unit, json={"occurred_at": "yesterday"}), 422, "occurred_at")
    with_query = client.post(unit + "?x=1", json={"occurred_at": "2999-01-01T00:00:00Z"})
    assert_problem(with_query, 422, "occurred_at")
    assert_problem(
        client.post(
            unit, content=b'{"occurred_at": ', headers={"Content-Type": "application/json"}
        ),
        422,
    )
    module = f"/v1/enrollments/{enrollment_id}/modules/nope/completion"
    assert_problem(client.post(module), 404)
    assert head(client) == start

    done = client.post(unit, json={"occurred_at": "2024-01-01T00:00:00Z"})
    assert done.status_code == 200, done.text
    assert done.json() == {
        "enrollment_id": enrollment_id,
        "appended": ["UnitCompleted"],
        "position": start + 1,
    }
    upper = client.post(unit.replace(enrollment_id, enrollment_id.upper()))
    assert upper.status_code == 200 and upper.json()["appended"] == []
    withdrawn = client.post(f"/v1/enrollments/{enrollment_id}/withdrawal", content=b"")
    assert withdrawn.status_code == 200, withdrawn.text
