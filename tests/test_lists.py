"""The lists and the exports through a real server (and the real CLI), on both databases:
courses with their counts, an enrollment by id, a learner's enrollments and paged progress,
roster filters and sorts, the roster as CSV, `progress-ledger export`; an erased learner is
in none of them."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import orjson

from bootstrap import Settings
from tests.factories import new_id
from tests.http_helpers import assert_problem, call, course_body, path
from tests.test_erasure import cli


def enroll(client: httpx.Client, learner: str, course: str) -> str:
    answer = call(
        client, "POST", "/v1/enrollments", {"learner_id": learner, "course_id": course}, expect=201
    )
    enrollment: str = answer["enrollment_id"]
    return enrollment


def complete(client: httpx.Client, enrollment: str, unit: str) -> int:
    url = path("v1", "enrollments", enrollment, "units", unit, "completion")
    position: int = call(client, "POST", url)["position"]
    return position


def learners_of(page: dict[str, Any]) -> list[str]:
    return [item["learner_id"] for item in page["items"]]


def test_lists_exports_and_an_erased_learner_in_none(
    settings: Settings, client: httpx.Client
) -> None:
    first, second = sorted([new_id("course"), new_id("course")])
    for course in (first, second):
        call(client, "POST", "/v1/courses", course_body(course), expect=201)
    enrollments = {f"learner-{n}": enroll(client, f"learner-{n}", first) for n in range(6)}
    position = 0
    for n, enrollment in enumerate(enrollments.values()):
        for unit in ("u1", "u2", "u3", "u4")[: n % 5]:
            position = complete(client, enrollment, unit)
    call(client, "POST", path("v1", "enrollments", enrollments["learner-1"], "withdrawal"))
    extra = enroll(client, "learner-2", second)
    position = complete(client, extra, "u1")
    wait = {"min_position": position}

    courses = call(client, "GET", "/v1/courses", params={**wait, "limit": 1})
    assert [c["course_id"] for c in courses["items"]] == [first]
    assert courses["items"][0] == {
        "course_id": first,
        "units": 4,
        "completion_threshold": 100.0,
        "enrolled": 5,
        "completed": 1,
        "average_percentage": 45.0,
    }
    rest = call(client, "GET", "/v1/courses", params={"after": courses["next"]})
    assert ([c["course_id"] for c in rest["items"]], rest["next"]) == ([second], None)

    one = call(client, "GET", path("v1", "enrollments", enrollments["learner-3"]))
    assert (one["learner_id"], one["completed_units"], len(one["units"])) == ("learner-3", 3, 4)
    assert_problem(
        client.get(path("v1", "enrollments", "00000000-0000-0000-0000-000000000000")),
        404,
        "enrollment_id",
    )

    mine = call(client, "GET", path("v1", "learners", "learner-2", "enrollments"))
    assert [c["course_id"] for c in mine["courses"]] == [first, second]
    assert all(c["units"] == [] for c in mine["courses"])
    paged = call(
        client, "GET", path("v1", "learners", "learner-2", "progress"), params={"limit": 1}
    )
    assert ([c["course_id"] for c in paged["courses"]], paged["next"]) == ([first], first)
    after = call(
        client,
        "GET",
        path("v1", "learners", "learner-2", "progress"),
        params={"after": paged["next"]},
    )
    assert ([c["course_id"] for c in after["courses"]], after["next"]) == ([second], None)

    roster = path("v1", "courses", first, "progress")
    top = call(client, "GET", roster, params={"sort": "percentage", "descending": "true"})
    assert learners_of(top)[:2] == ["learner-4", "learner-3"]
    done = call(client, "GET", roster, params={"status": "completed"})
    assert learners_of(done) == ["learner-4"]
    assert learners_of(call(client, "GET", roster, params={"status": "withdrawn"})) == ["learner-1"]
    middle = call(client, "GET", roster, params={"min_percentage": 40, "max_percentage": 80})
    assert learners_of(middle) == ["learner-2", "learner-3"]
    assert learners_of(call(client, "GET", roster, params={"learner": "NER-5"})) == ["learner-5"]
    assert_problem(client.get(roster, params={"sort": "email"}), 422, "sort")
    assert_problem(client.get(roster, params={"min_percentage": 90, "max_percentage": 10}), 400)

    as_csv = client.get(roster, params={"limit": 1}, headers={"Accept": "text/csv"})
    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["learner_id"] for row in rows] == [f"learner-{n}" for n in range(6)]
    assert rows[3]["percentage"] == "75.0" and rows[1]["withdrawn"] == "true"

    exported = cli(settings, "export", "--course", first, "--format", "ndjson")
    assert exported.returncode == 0, exported.stderr
    lines = [orjson.loads(line) for line in exported.stdout.splitlines()]
    assert [line["learner_id"] for line in lines] == [f"learner-{n}" for n in range(6)]
    exported_csv = cli(settings, "export", "--course", first, "--status", "completed")
    assert exported_csv.returncode == 0, exported_csv.stderr
    assert exported_csv.stdout.splitlines()[1].startswith("learner-4,")
    shown = cli(settings, "export", "--course", first, "--progress")
    assert "6/?" in shown.stderr and "rows/s" in shown.stderr  # the bar: rows, rate
    assert shown.stdout.count("\n") == 7

    erased = call(client, "DELETE", path("v1", "learners", "learner-2"))
    wait = {"min_position": erased["position"]}
    assert "learner-2" not in learners_of(call(client, "GET", roster, params=wait))
    assert call(client, "GET", "/v1/courses", params=wait)["items"][0]["enrolled"] == 4
    assert call(client, "GET", path("v1", "learners", "learner-2", "enrollments"))["courses"] == []
    assert_problem(client.get(path("v1", "enrollments", extra)), 404, "enrollment_id")
    as_csv = client.get(roster, headers={"Accept": "text/csv"})
    assert "learner-2" not in as_csv.text
    exported = cli(settings, "export", "--course", first)
    assert "learner-2" not in exported.stdout
