"""A learner's progress in a course, read the plain way (no query string), as a dashboard
polls it: the same answer as a read-your-writes read, and refused exactly as before when
the key, its scope or an id is wrong."""

from __future__ import annotations

import httpx

from tests.conftest import Server
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
    with httpx.Client(base_url=guarded.url, timeout=30) as client:
        assert client.post("/v1/courses", json=course_body(course), headers=admin).is_success
        enrolled = client.post(
            "/v1/enrollments", json={"learner_id": "ada", "course_id": course}, headers=writer
        )
        completion = f"/v1/enrollments/{enrolled.json()['enrollment_id']}/units/u2/completion"
        assert client.post(completion, headers=writer).status_code == 200
        position = head(client, reader)

        waited = client.get(url, params={"min_position": position}, headers=reader)
        assert waited.status_code == 200, waited.text
        plain = client.get(url, headers=reader)
        assert plain.status_code == 200, plain.text
        assert plain.headers["content-type"] == "application/json"
        assert plain.json() == waited.json()
        assert plain.json()["completed_units"] == 1

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
