"""Bad input through a real server: every refusal is a 4xx problem+json naming the field,
and nothing is appended (the log's head does not move)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bootstrap import Settings
from tests.conftest import Server
from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head

BODY_LIMIT = 4096


@pytest.fixture
def limited(settings: Settings, tmp_path: Path) -> Iterator[httpx.Client]:
    server = Server(
        settings, tmp_path / "server.log", extra_env={"LEDGER_MAX_BODY_BYTES": str(BODY_LIMIT)}
    )
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
    server.stop()


def test_bad_input_is_refused_and_appends_nothing(limited: httpx.Client) -> None:
    client = limited
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    completion = f"/v1/enrollments/{enrolled.json()['enrollment_id']}/units/u2/completion"
    start = head(client)

    big = {"course_id": new_id("big"), "title": "x" * BODY_LIMIT}
    assert_problem(client.post("/v1/courses", json=big), 413, "body")

    def chunked() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"course_id": "chunked", "title": "'
        for _ in range(BODY_LIMIT // 100 + 2):
            yield b"y" * 100
        yield b'"}'

    streamed = client.post(
        "/v1/courses", content=chunked(), headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413, "body")

    as_text = client.post(
        "/v1/courses", content=b"course_id=c", headers={"Content-Type": "text/plain"}
    )
    assert_problem(as_text, 415, "Content-Type")
    untyped = client.post(
        completion, content=b'{"occurred_at": null}', headers={"Content-Type": ""}
    )
    assert_problem(untyped, 415, "Content-Type")

    malformed = client.post(
        "/v1/courses", content=b'{"course_id": ', headers={"Content-Type": "application/json"}
    )
    assert_problem(malformed, 422)
    unknown = client.post(
        "/v1/enrollments", json={"learner_id": "bob", "course_id": course, "x": 1}
    )
    assert_problem(unknown, 422, "x")
    too_long = client.post("/v1/enrollments", json={"learner_id": "b" * 201, "course_id": course})
    assert_problem(too_long, 422, "learner_id")
    bad_id = client.post("/v1/enrollments", json={"learner_id": "a b", "course_id": course})
    assert_problem(bad_id, 422, "learner_id")
    future = client.post(completion, json={"occurred_at": "2999-01-01T00:00:00Z"})
    assert_problem(future, 422, "occurred_at")
    naive = client.post(completion, json={"occurred_at": "2024-01-01T00:00:00"})
    assert_problem(naive, 422, "occurred_at")
    assert_problem(
        client.get(f"/v1/courses/{course}/progress", params={"limit": 5000}), 422, "limit"
    )
    assert_problem(client.get("/v1/learners/" + "l" * 201 + "/progress"), 422, "learner_id")

    assert head(client) == start
    assert client.post(completion, json={"occurred_at": "2024-01-01T00:00:00Z"}).status_code == 200
    assert head(client) == start + 1
