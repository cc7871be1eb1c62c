"""One range for event times on every way in (domain/event_times.py): the single routes, each
batch item and each import line refuse a time before 1970 or after now plus 5 minutes, naming
`occurred_at`, and append nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

from bootstrap import LedgerServices, Settings
from domain.course import Unit
from tests.factories import new_id
from tests.http_helpers import assert_problem, course_body, head
from tests.test_import_cli import run_import

# Before year 1 in UTC; after year 9999 in UTC; a year ahead; just before the floor.
OUT_OF_RANGE = [
    "0001-01-01T00:00:00+00:01",
    "9999-12-31T23:59:59-12:00",
    (datetime.now(UTC) + timedelta(days=365)).isoformat(),
    "1969-12-31T23:59:59Z",
]
IN_RANGE = ["1970-01-01T00:00:00Z", (datetime.now(UTC) + timedelta(minutes=1)).isoformat()]


def test_the_single_routes_refuse_times_out_of_range(client: httpx.Client) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    enrolled = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": course})
    enrollment = f"/v1/enrollments/{enrolled.json()['enrollment_id']}"
    start = head(client)
    for when in OUT_OF_RANGE:
        for route in ("/units/u2/completion", "/withdrawal"):
            refused = client.post(enrollment + route, json={"occurred_at": when})
            assert_problem(refused, 422, "occurred_at")
    assert head(client) == start
    for when in IN_RANGE:
        assert client.post(
            enrollment + "/units/u2/completion", json={"occurred_at": when}
        ).is_success
    assert head(client) == start + 1


def test_each_batch_item_out_of_range_is_refused_naming_occurred_at(client: httpx.Client) -> None:
    course = new_id("course")
    assert client.post("/v1/courses", json=course_body(course)).status_code == 201
    start = head(client)
    items = [
        {"learner_id": new_id("ada"), "course_id": course, "unit_id": "u2", "occurred_at": when}
        for when in OUT_OF_RANGE
    ]
    body = client.post("/v1/completions:batch?enroll=true", json=items).json()
    assert [r["status"] for r in body["results"]] == ["error"] * len(OUT_OF_RANGE)
    assert {r["error"]["field"] for r in body["results"]} == {"occurred_at"}
    assert head(client) == start
    good = [{**items[0], "occurred_at": when} for when in IN_RANGE]
    body = client.post("/v1/completions:batch?enroll=true", json=good).json()
    assert [r["status"] for r in body["results"]] == ["appended", "already_complete"]


def test_each_import_line_out_of_range_is_refused_naming_occurred_at(
    settings: Settings, services: LedgerServices, tmp_path: Path
) -> None:
    course = new_id("course")
    services.ledger.create_course(course, "Course", [Unit("u1")])
    start = services.ledger.head_position()
    lines = [
        orjson.dumps(
            {"learner_id": "ada", "course_id": course, "unit_id": "u1", "occurred_at": when}
        )
        for when in OUT_OF_RANGE
    ]
    path = tmp_path / "completions.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")

    done = run_import(settings, path, "--enroll")

    assert done.returncode == 1, done.stderr
    for number in range(1, len(OUT_OF_RANGE) + 1):
        assert f"line {number} (occurred_at): " in done.stderr
    assert f"0 recorded, 0 already complete, {len(OUT_OF_RANGE)} refused" in done.stderr
    assert services.ledger.head_position() == start
