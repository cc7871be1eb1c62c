"""The issue's "done when" scenario, through a real server on both databases: every command,
then a read with `min_position` of the position the command returned, with exact numbers."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.http_helpers import PROBLEM_JSON, call, head, numbers, path, progress, unit_numbers

COURSE = "course-v1:Org+Course+Run"
ADA = "ada@example.org"


def create_course(client: httpx.Client, course_id: str = COURSE) -> dict[str, Any]:
    """Four units; u1 has two modules."""
    body = {
        "course_id": course_id,
        "title": "Event sourcing",
        "units": [
            {"unit_id": "u1", "modules": [{"module_id": "m1"}, {"module_id": "m2"}]},
            {"unit_id": "u2", "title": "Middle"},
            {"unit_id": "u3", "required": False},
            {"unit_id": "u4"},
        ],
    }
    return call(client, "POST", "/v1/courses", body, expect=201)


def enroll(client: httpx.Client, learner: str, *, expect: int = 201) -> dict[str, Any]:
    body = {"learner_id": learner, "course_id": COURSE}
    return call(client, "POST", "/v1/enrollments", body, expect=expect)


def complete(client: httpx.Client, enrollment: str, kind: str, item: str) -> dict[str, Any]:
    answer = call(client, "POST", path("v1", "enrollments", enrollment, kind, item, "completion"))
    assert answer["enrollment_id"] == enrollment
    return answer


def test_the_done_when_scenario(client: httpx.Client) -> None:
    created = create_course(client)
    assert (created["course_id"], created["version"]) == (COURSE, 1)

    enrolled = enroll(client, ADA)
    assert (enrolled["learner_id"], enrolled["course_id"]) == (ADA, COURSE)
    ada = enrolled["enrollment_id"]
    read = progress(client, ADA, COURSE, enrolled["position"])
    assert (read["enrollment_id"], read["withdrawn"], read["completed_at"]) == (ada, False, None)
    assert numbers(read) == (0, 4, 0.0)
    assert unit_numbers(read) == {
        "u1": (False, 0, 2, 0.0),
        "u2": (False, 0, 0, 0.0),
        "u3": (False, 0, 0, 0.0),
        "u4": (False, 0, 0, 0.0),
    }
    assert [u["required"] for u in read["units"]] == [True, True, False, True]

    first_module = complete(client, ada, "modules", "m1")
    assert first_module["appended"] == ["ModuleCompleted"]
    read = progress(client, ADA, COURSE, first_module["position"])
    assert numbers(read) == (0, 4, 0.0)
    assert unit_numbers(read)["u1"] == (False, 1, 2, 50.0)
    assert read["position"] == first_module["position"]

    # The unit's last module completes the unit in the same save.
    last_module = complete(client, ada, "modules", "m2")
    assert last_module["appended"] == ["ModuleCompleted", "UnitCompleted"]
    read = progress(client, ADA, COURSE, last_module["position"])
    assert numbers(read) == (1, 4, 25.0)
    assert unit_numbers(read)["u1"] == (True, 2, 2, 100.0)

    unit = complete(client, ada, "units", "u2")
    assert unit["appended"] == ["UnitCompleted"]
    read = progress(client, ADA, COURSE, unit["position"])
    assert numbers(read) == (2, 4, 50.0)

    again = complete(client, ada, "units", "u2")  # already complete: appends nothing
    assert again["appended"] == []
    assert again["position"] >= unit["position"]
    assert numbers(progress(client, ADA, COURSE, again["position"])) == (2, 4, 50.0)

    unit_body = {"unit_id": "u5", "modules": [{"module_id": "m5"}]}
    added = call(client, "POST", path("v1", "courses", COURSE, "units"), unit_body, expect=201)
    assert (added["course_id"], added["version"]) == (COURSE, 2)
    read = progress(client, ADA, COURSE, added["position"])
    assert numbers(read) == (2, 5, 40.0)
    assert list(unit_numbers(read)) == ["u1", "u2", "u3", "u4", "u5"]
    assert unit_numbers(read)["u5"] == (False, 0, 1, 0.0)

    # u2 was completed: removing it takes it out of both counts.
    removed = call(client, "DELETE", path("v1", "courses", COURSE, "units", "u2"))
    assert removed["version"] == 3
    read = progress(client, ADA, COURSE, removed["position"])
    assert numbers(read) == (1, 4, 25.0)
    assert list(unit_numbers(read)) == ["u1", "u3", "u4", "u5"]

    read = progress(client, ADA, COURSE, complete(client, ada, "units", "u3")["position"])
    assert numbers(read) == (2, 4, 50.0)
    read = progress(client, ADA, COURSE, complete(client, ada, "modules", "m5")["position"])
    assert numbers(read) == (3, 4, 75.0)
    assert read["completed_at"] is None
    finished = complete(client, ada, "units", "u4")
    read = progress(client, ADA, COURSE, finished["position"])
    assert numbers(read) == (4, 4, 100.0)
    assert read["completed_at"] is not None
    assert read["position"] == finished["position"]

    structure = call(client, "GET", path("v1", "courses", COURSE))
    assert structure["version"] == 3
    assert [u["unit_id"] for u in structure["units"]] == ["u1", "u3", "u4", "u5"]
    assert [m["module_id"] for m in structure["units"][0]["modules"]] == ["m1", "m2"]
    assert structure["units"][1]["required"] is False


def test_modules_can_be_added_and_removed(client: httpx.Client) -> None:
    create_course(client)
    ada = enroll(client, ADA)["enrollment_id"]
    complete(client, ada, "modules", "m1")
    modules = path("v1", "courses", COURSE, "units", "u1", "modules")

    added = call(client, "POST", modules, {"module_id": "m0", "position": 0}, expect=201)
    read = progress(client, ADA, COURSE, added["position"])
    assert unit_numbers(read)["u1"] == (False, 1, 3, 33.33)
    structure = call(client, "GET", path("v1", "courses", COURSE))
    assert [m["module_id"] for m in structure["units"][0]["modules"]] == ["m0", "m1", "m2"]

    removed = call(client, "DELETE", f"{modules}/m2")
    read = progress(client, ADA, COURSE, removed["position"])
    assert unit_numbers(read)["u1"] == (False, 1, 2, 50.0)
    assert numbers(read) == (0, 4, 0.0)

    # A module added to a unit already completed leaves it completed: completion is a fact.
    done = complete(client, ada, "modules", "m0")
    assert done["appended"] == ["ModuleCompleted", "UnitCompleted"]
    call(
        client,
        "POST",
        path("v1", "courses", COURSE, "units", "u4", "modules"),
        {"module_id": "m4"},
        expect=201,
    )
    complete(client, ada, "units", "u4")
    late = call(client, "POST", modules, {"module_id": "m3"}, expect=201)
    read = progress(client, ADA, COURSE, late["position"])
    assert unit_numbers(read)["u1"] == (True, 2, 3, 100.0)
    assert unit_numbers(read)["u4"] == (True, 0, 1, 100.0)
    assert numbers(read) == (2, 4, 50.0)


def test_enrollments_rosters_and_withdrawal(client: httpx.Client) -> None:
    create_course(client)
    first = enroll(client, ADA, expect=201)
    second = enroll(client, ADA, expect=200)
    assert second["enrollment_id"] == first["enrollment_id"]
    ada = first["enrollment_id"]
    bob = enroll(client, "bob")["enrollment_id"]
    cy = enroll(client, "cy")["enrollment_id"]
    for unit in ("u1", "u2", "u3", "u4"):
        complete(client, ada, "units", unit)
    # A unit completed directly is complete whatever its modules say.
    direct = complete(client, bob, "units", "u1")
    read = progress(client, "bob", COURSE, direct["position"])
    assert unit_numbers(read)["u1"] == (True, 0, 2, 100.0)
    assert numbers(read) == (1, 4, 25.0)

    withdrawn = call(client, "POST", path("v1", "enrollments", bob, "withdrawal"))
    assert withdrawn["appended"] == ["Withdrawn"]
    read = progress(client, "bob", COURSE, withdrawn["position"])
    assert (read["withdrawn"], numbers(read)) == (True, (1, 4, 25.0))
    refused = client.post(path("v1", "enrollments", bob, "units", "u2", "completion"))
    assert (refused.status_code, refused.json()["field"]) == (409, "enrollment_id")

    roster = path("v1", "courses", COURSE, "progress")
    position = withdrawn["position"]
    page = call(client, "GET", roster, params={"limit": 2, "min_position": position})
    assert [item["learner_id"] for item in page["items"]] == [ADA, "bob"]
    assert [item["withdrawn"] for item in page["items"]] == [False, True]
    assert page["next"] is not None  # an opaque cursor: the page after bob
    # Withdrawn learners are listed but not counted: ada at 100 %, cy at 0 %.
    withdrawn_only = call(client, "GET", roster, params={"status": "withdrawn"})
    assert [item["learner_id"] for item in withdrawn_only["items"]] == ["bob"]
    bad_cursor = client.get(roster, params={"after": "bob"})
    assert (bad_cursor.status_code, bad_cursor.json()["field"]) == (400, "after")
    assert page["summary"] == {"enrolled": 2, "completed": 1, "average_percentage": 50.0}
    rest = call(client, "GET", roster, params={"limit": 2, "after": page["next"]})
    assert [item["learner_id"] for item in rest["items"]] == ["cy"]
    assert (rest["next"], rest["items"][0]["enrollment_id"]) == (None, cy)
    assert rest["summary"] == page["summary"]

    # Enrolling again after a withdrawal reopens the same enrollment.
    back = enroll(client, "bob", expect=200)
    assert back["enrollment_id"] == bob
    read = progress(client, "bob", COURSE, back["position"])
    assert (read["withdrawn"], numbers(read)) == (False, (1, 4, 25.0))

    other = "course-v1:Org+Other+2024"
    create_course(client, other)
    joined = call(
        client, "POST", "/v1/enrollments", {"learner_id": ADA, "course_id": other}, expect=201
    )
    everything = call(
        client,
        "GET",
        path("v1", "learners", ADA, "progress"),
        params={"min_position": joined["position"]},
    )
    assert everything["learner_id"] == ADA
    assert [(c["course_id"], numbers(c)) for c in everything["courses"]] == [
        (COURSE, (4, 4, 100.0)),
        (other, (0, 4, 0.0)),
    ]
    nobody = call(client, "GET", path("v1", "learners", "nobody", "progress"))
    assert nobody["courses"] == []


def test_refusals_are_problems_naming_the_field_and_append_nothing(client: httpx.Client) -> None:
    create_course(client)
    ada = enroll(client, ADA)["enrollment_id"]
    gone = enroll(client, "gone")["enrollment_id"]
    call(client, "POST", path("v1", "enrollments", gone, "withdrawal"))
    before = head(client)
    units = path("v1", "courses", COURSE, "units")
    modules = f"{units}/u1/modules"
    completion = path("v1", "enrollments", ada, "modules", "m1", "completion")
    unit_with_modules = {"unit_id": "u9", "modules": [{"module_id": "m9"}, {"module_id": "m1"}]}
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/v1/courses", {"course_id": COURSE}, 409, "course_id"),
        ("POST", "/v1/courses", {"course_id": "two words"}, 422, "course_id"),
        ("POST", "/v1/courses", {"course_id": "c/1"}, 422, "course_id"),
        ("POST", "/v1/courses", {"course_id": "x" * 201}, 422, "course_id"),
        ("POST", "/v1/courses", {"course_id": ""}, 422, "course_id"),
        ("POST", "/v1/courses", {"title": "no id"}, 422, "course_id"),
        ("POST", "/v1/courses", {"course_id": "c2", "colour": "red"}, 422, "colour"),
        (
            "POST",
            "/v1/courses",
            {"course_id": "c2", "units": [{"unit_id": "a", "modles": []}]},
            422,
            "units[0].modles",
        ),
        (
            "POST",
            "/v1/courses",
            {"course_id": "c2", "units": [{"unit_id": "a"}, {"unit_id": "a"}]},
            422,
            "units[1].unit_id",
        ),
        (
            "POST",
            "/v1/courses",
            {
                "course_id": "c2",
                "units": [
                    {"unit_id": "a", "modules": [{"module_id": "x"}]},
                    {"unit_id": "b", "modules": [{"module_id": "x"}]},
                ],
            },
            422,
            "units[1].modules[0].module_id",
        ),
        (
            "POST",
            "/v1/courses",
            {"course_id": "c2", "units": [{"unit_id": "a b"}]},
            422,
            "units[0].unit_id",
        ),
        ("POST", units, {"unit_id": "u2"}, 422, "unit_id"),
        ("POST", units, unit_with_modules, 422, "modules[1].module_id"),
        (
            "POST",
            path("v1", "courses", "no-such-course", "units"),
            {"unit_id": "u9"},
            404,
            "course_id",
        ),
        ("DELETE", f"{units}/u9", None, 404, "unit_id"),
        ("POST", modules, {"module_id": "m2"}, 422, "module_id"),
        ("POST", f"{units}/u9/modules", {"module_id": "m9"}, 404, "unit_id"),
        ("DELETE", f"{modules}/m9", None, 404, "module_id"),
        ("POST", "/v1/enrollments", {"learner_id": ADA, "course_id": "nope"}, 404, "course_id"),
        (
            "POST",
            "/v1/enrollments",
            {"learner_id": "ada smith", "course_id": COURSE},
            422,
            "learner_id",
        ),
        ("POST", "/v1/enrollments", {"learner_id": ADA}, 422, "course_id"),
        (
            "POST",
            path("v1", "enrollments", ada, "modules", "m9", "completion"),
            None,
            404,
            "module_id",
        ),
        ("POST", path("v1", "enrollments", ada, "units", "u9", "completion"), None, 404, "unit_id"),
        (
            "POST",
            path("v1", "enrollments", ada, "units", "u 1", "completion"),
            None,
            422,
            "unit_id",
        ),
        (
            "POST",
            path("v1", "enrollments", str(uuid.uuid4()), "units", "u1", "completion"),
            None,
            404,
            "enrollment_id",
        ),
        (
            "POST",
            path("v1", "enrollments", "not-a-uuid", "units", "u1", "completion"),
            None,
            422,
            "enrollment_id",
        ),
        (
            "POST",
            path("v1", "enrollments", gone, "units", "u1", "completion"),
            None,
            409,
            "enrollment_id",
        ),
        ("POST", completion, {"occurred_at": "2024-05-01T10:00:00"}, 422, "occurred_at"),
        ("POST", completion, {"occurred_at": "yesterday"}, 422, "occurred_at"),
        ("POST", completion, {"when": "2024-05-01T10:00:00Z"}, 422, "when"),
        (
            "GET",
            path("v1", "learners", "bob", "courses", COURSE, "progress"),
            None,
            404,
            "learner_id",
        ),
        ("GET", path("v1", "learners", "b o b", "progress"), None, 422, "learner_id"),
        ("GET", path("v1", "courses", "no-such-course"), None, 404, "course_id"),
        ("GET", path("v1", "courses", COURSE, "progress") + "?limit=0", None, 422, "limit"),
        (
            "GET",
            path("v1", "learners", ADA, "progress") + "?min_position=-1",
            None,
            422,
            "min_position",
        ),
    ]
    for method, url, body, status, field in cases:
        response = client.request(method, url, json=body)
        assert response.status_code == status, (method, url, body, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON, response.headers
        problem = response.json()
        assert (problem["status"], problem["field"]) == (status, field), (method, url, problem)
        assert problem["title"] and problem["detail"]

    not_json = client.post(
        completion, content=b"{not json", headers={"content-type": "application/json"}
    )
    assert (not_json.status_code, not_json.json()["field"]) == (422, "body")
    assert head(client) == before
