"""POST /v1/completions:batch against a real server: every item answered, bad ones harmless."""

from __future__ import annotations

import httpx
import orjson

from tests.deadlines import DEADLINE
from tests.factories import new_id


def create_course(client: httpx.Client) -> str:
    course_id = new_id("course")
    body = {
        "course_id": course_id,
        "title": "Course",
        "units": [
            {"unit_id": "u1", "modules": [{"module_id": "m1"}, {"module_id": "m2"}]},
            {"unit_id": "u2"},
        ],
    }
    assert client.post("/v1/courses", json=body).status_code == 201
    return course_id


def progress(client: httpx.Client, learner: str, course_id: str, position: int) -> httpx.Response:
    return client.get(
        f"/v1/learners/{learner}/courses/{course_id}/progress",
        params={"min_position": position},
    )


def test_a_batch_records_the_good_items_and_explains_the_bad(client: httpx.Client) -> None:
    course_id = create_course(client)
    ada, bob = new_id("ada"), new_id("bob")
    items = [
        {"learner_id": ada, "course_id": course_id, "unit_id": "u2"},
        {"learner_id": ada, "course_id": course_id, "module_id": "m1"},
        {"learner_id": ada, "course_id": course_id, "module_id": "m2"},
        {"learner_id": ada, "course_id": course_id, "unit_id": "u2"},
        {"learner_id": bob, "course_id": course_id, "unit_id": "nope"},
        {"learner_id": bob, "course_id": "no-such-course", "unit_id": "u1"},
        {"learner_id": bob, "course_id": course_id},
        {"learner_id": bob, "course_id": course_id, "unit_id": "u1", "module_id": "m1"},
    ]
    response = client.post("/v1/completions:batch", params={"enroll": "true"}, json=items)
    assert response.status_code == 200
    body = response.json()
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["appended"] * 3 + ["already_complete"] + ["error"] * 4
    assert body["results"][0]["appended"] == ["Enrolled", "UnitCompleted"]
    assert body["results"][2]["appended"] == ["ModuleCompleted", "UnitCompleted"]
    assert body["results"][4]["error"]["field"] == "unit_id"
    assert body["results"][5]["error"]["field"] == "course_id"
    assert (body["appended"], body["already_complete"], body["errors"]) == (3, 1, 4)

    done = progress(client, ada, course_id, body["position"])
    assert done.status_code == 200
    assert done.json()["percentage"] == 100.0
    # Nothing of bob's bad items was written: not even an enrollment.
    assert progress(client, bob, course_id, body["position"]).status_code == 404


def test_without_enroll_unknown_enrollments_are_errors(client: httpx.Client) -> None:
    course_id = create_course(client)
    enrolled, stranger = new_id("ada"), new_id("bob")
    client.post("/v1/enrollments", json={"learner_id": enrolled, "course_id": course_id})
    items = [
        {"learner_id": stranger, "course_id": course_id, "unit_id": "u2"},
        {"learner_id": enrolled, "course_id": course_id, "unit_id": "u2"},
    ]
    body = client.post("/v1/completions:batch", json=items).json()
    assert [r["status"] for r in body["results"]] == ["error", "appended"]
    assert body["results"][0]["error"]["field"] == "learner_id"
    assert "send ?enroll=true to enroll as needed" in body["results"][0]["error"]["detail"]


def test_ndjson_items_are_read_line_by_line(client: httpx.Client) -> None:
    course_id = create_course(client)
    learner = new_id("ada")
    lines = [
        orjson.dumps({"learner_id": learner, "course_id": course_id, "unit_id": "u1"}),
        b"{not json",
        b"",
        orjson.dumps(
            {
                "learner_id": learner,
                "course_id": course_id,
                "unit_id": "u2",
                "occurred_at": "2024-05-01T10:00:00Z",
            }
        ),
    ]
    response = client.post(
        "/v1/completions:batch?enroll=true",
        content=b"\n".join(lines),
        headers={"Content-Type": "application/x-ndjson"},
    )
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["appended", "error", "appended"]
    assert body["results"][1]["error"]["field"] == "item"
    done = progress(client, learner, course_id, body["position"]).json()
    assert done["completed_at"].startswith("2024-05-01T10:00:00")


def test_a_batch_that_is_too_large_or_not_a_list_is_refused(client: httpx.Client) -> None:
    item = {"learner_id": "a", "course_id": "c", "unit_id": "u"}
    too_many = client.post("/v1/completions:batch", json=[item] * 10_001)
    assert too_many.status_code == 422
    assert too_many.json()["field"] == "body"
    assert too_many.headers["content-type"].startswith("application/problem+json")
    not_a_list = client.post("/v1/completions:batch", json=item)
    assert not_a_list.status_code == 422
    assert not_a_list.json()["field"] == "body"


def test_a_full_batch_may_exceed_the_ordinary_body_limit(client: httpx.Client) -> None:
    """10,000 items with their times pass 1 MiB: the bulk route has a larger limit."""
    course_id = create_course(client)
    items = [
        {
            "learner_id": f"learner-with-a-longish-platform-key-{n:05d}",
            "course_id": course_id,
            "unit_id": "u2",
            "occurred_at": "2024-05-01T10:00:00.000000+00:00",
        }
        for n in range(10_000)
    ]
    body = orjson.dumps(items)
    assert len(body) > 1_048_576
    response = client.post(
        "/v1/completions:batch?enroll=true",
        content=body,
        headers={"Content-Type": "application/json"},
        timeout=DEADLINE,
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["appended"] == 10_000
