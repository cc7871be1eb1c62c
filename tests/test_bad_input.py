"""Bad input through a real server: every refusal is a 4xx problem+json naming the field,
and nothing is appended (the log's head does not move)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bootstrap import Settings
from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head

BODY_LIMIT = 4096


@pytest.fixture
def limited(settings: Settings, tmp_path: Path) -> Iterator[httpx.Client]:
    server = Server(
        settings, tmp_path / "server.log", extra_env={"LEDGER_MAX_BODY_BYTES": str(BODY_LIMIT)}
    )
    with httpx.Client(base_url=server.url, timeout=DEADLINE) as client:
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


NESTED = b"[" * 10_000 + b"]" * 10_000


def test_every_malformed_body_names_the_body(client: httpx.Client) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    completion = f"/v1/enrollments/{enrolled.json()['enrollment_id']}/units/u2/completion"
    start = head(client)
    malformed = {
        "nested": NESTED,
        "not UTF-8": b'{"course_id": "\xff\xfe"}',
        "truncated": b'{"course_id": ',
        "a scalar": b"3",
        "a string": b'"course"',
    }
    for target in ("/v1/courses", "/v1/enrollments", completion, "/v1/completions:batch"):
        for name, body in malformed.items():
            refused = client.post(
                target, content=body, headers={"Content-Type": "application/json"}
            )
            assert refused.status_code == 422, (target, name, refused.text)
            assert_problem(refused, 422, "body")
    for target in ("/v1/courses", "/v1/enrollments", "/v1/completions:batch"):
        empty = client.post(target, content=b"", headers={"Content-Type": "application/json"})
        assert_problem(empty, 422, "body")
    assert head(client) == start  # nothing appended


def concrete(template: str) -> str:
    """An OpenAPI path with every parameter filled in."""
    return re.sub(r"\{generation\}", "1", re.sub(r"\{(?!generation)[a-z_]+\}", "x", template))


def test_every_405_says_what_is_allowed_and_head_answers_every_get(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for template, operations in paths.items():
        served = {method.upper() for method in operations}
        allowed = served | ({"HEAD"} if "GET" in served else set())
        target = concrete(template)
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - served:
            refused = client.request(method, target)
            assert_problem(refused, 405)
            assert set(refused.headers["allow"].split(", ")) == allowed, (method, target)
        if "GET" in served:
            got = client.get(target)
            headed = client.head(target)
            assert headed.status_code == got.status_code, target
            assert headed.content == b""
            assert headed.headers["content-type"] == got.headers["content-type"]
    got = client.get("/healthz")
    headed = client.head("/healthz")
    assert headed.status_code == 200
    assert headed.headers["content-length"] == str(len(got.content))
