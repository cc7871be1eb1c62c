"""The learner's lifecycle through a real server on both databases: revoking a completion,
who did what, starting again, and what completes a course."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from api.access import new_key
from bootstrap import LedgerServices, Settings
from cli.operations import run
from tests.conftest import Server
from tests.deadlines import DEADLINE
from tests.factories import four_unit_course
from tests.http_helpers import assert_problem, call, numbers, path, progress, unit_numbers
from tests.progress_reading import progress_of
from tests.test_http_scenario import COURSE, complete, create_course, enroll
from tests.test_projection import project


def history(client: httpx.Client, enrollment: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = call(
        client, "GET", path("v1", "enrollments", enrollment, "history")
    )["events"]
    return events


def revoke(
    client: httpx.Client, enrollment: str, kind: str, item: str, **params: str
) -> dict[str, Any]:
    url = path("v1", "enrollments", enrollment, kind, item, "completion")
    return call(client, "DELETE", url, params=params)


def test_a_revoked_completion_no_longer_counts_until_completed_again(
    client: httpx.Client,
) -> None:
    create_course(client)
    ada = enroll(client, "ada")["enrollment_id"]
    for unit in ("u2", "u4"):
        done = complete(client, ada, "units", unit)
    assert numbers(progress(client, "ada", COURSE, done["position"])) == (2, 4, 50.0)

    revoked = revoke(client, ada, "units", "u2", reason="graded by mistake")
    assert revoked["appended"] == ["UnitCompletionRevoked"]
    read = progress(client, "ada", COURSE, revoked["position"])
    assert numbers(read) == (1, 4, 25.0)
    assert unit_numbers(read)["u2"] == (False, 0, 0, 0.0)

    # Revoking what is not complete appends nothing, and succeeds.
    assert revoke(client, ada, "units", "u2")["appended"] == []
    assert revoke(client, ada, "units", "u3")["appended"] == []
    again = complete(client, ada, "units", "u2")
    assert again["appended"] == ["UnitCompleted"]
    assert numbers(progress(client, "ada", COURSE, again["position"])) == (2, 4, 50.0)

    shown = [(e["type"], e["actor"], e["reason"], e["percentage"]) for e in history(client, ada)]
    assert shown[-2:] == [
        ("UnitCompletionRevoked", "local", "graded by mistake", 25.0),
        ("UnitCompleted", "local", None, 50.0),
    ]


def test_revoking_a_module_reopens_its_completed_unit(client: httpx.Client) -> None:
    create_course(client)
    ada = enroll(client, "ada")["enrollment_id"]
    complete(client, ada, "modules", "m1")
    done = complete(client, ada, "modules", "m2")
    assert done["appended"] == ["ModuleCompleted", "UnitCompleted"]

    revoked = revoke(client, ada, "modules", "m2", on_behalf_of="teacher-7")
    assert revoked["appended"] == ["ModuleCompletionRevoked", "UnitCompletionRevoked"]
    read = progress(client, "ada", COURSE, revoked["position"])
    assert numbers(read) == (0, 4, 0.0)
    assert unit_numbers(read)["u1"] == (False, 1, 2, 50.0)
    assert history(client, ada)[-1]["on_behalf_of"] == "teacher-7"

    redone = complete(client, ada, "modules", "m2")
    assert redone["appended"] == ["ModuleCompleted", "UnitCompleted"]
    assert numbers(progress(client, "ada", COURSE, redone["position"])) == (1, 4, 25.0)


def test_a_reset_starts_a_new_attempt_and_history_keeps_the_old(client: httpx.Client) -> None:
    create_course(client)
    ada = enroll(client, "ada")["enrollment_id"]
    for unit in ("u1", "u2", "u3", "u4"):
        done = complete(client, ada, "units", unit)
    first = progress(client, "ada", COURSE, done["position"])
    assert (numbers(first), first["attempt"]) == ((4, 4, 100.0), 1)
    assert first["completed_at"] is not None
    before_reset = datetime.now(UTC).isoformat()

    refused = client.post(path("v1", "enrollments", ada, "reset"), json={})
    assert_problem(refused, 422, "reason")
    reset = call(
        client, "POST", path("v1", "enrollments", ada, "reset"), {"reason": "recertification"}
    )
    assert reset["appended"] == ["Reset"]
    second = progress(client, "ada", COURSE, reset["position"])
    assert (numbers(second), second["attempt"], second["completed_at"]) == ((0, 4, 0.0), 2, None)
    assert all(not unit["completed"] for unit in second["units"])

    redone = complete(client, ada, "units", "u1")
    assert numbers(progress(client, "ada", COURSE, redone["position"])) == (1, 4, 25.0)
    events = history(client, ada)
    assert [e["type"] for e in events].count("UnitCompleted") == 5
    assert [(e["type"], e["reason"], e["attempt"]) for e in events][-2:] == [
        ("Reset", "recertification", 2),
        ("UnitCompleted", None, 2),
    ]
    # As of before the reset: the first attempt, complete.
    url = path("v1", "learners", "ada", "courses", COURSE, "progress")
    then = call(client, "GET", url, params={"as_of": before_reset})
    assert (numbers(then), then["attempt"]) == ((4, 4, 100.0), 1)


def test_a_course_is_complete_at_its_threshold_which_can_change(client: httpx.Client) -> None:
    body = {
        "course_id": COURSE,
        "title": "Half is enough",
        "units": [{"unit_id": f"u{n}"} for n in range(1, 5)],
        "completion_threshold": 50,
    }
    call(client, "POST", "/v1/courses", body, expect=201)
    assert call(client, "GET", path("v1", "courses", COURSE))["completion_threshold"] == 50.0
    ada = enroll(client, "ada")["enrollment_id"]
    bob = enroll(client, "bob")["enrollment_id"]
    complete(client, ada, "units", "u1")
    done = complete(client, ada, "units", "u2")
    read = progress(client, "ada", COURSE, done["position"])
    assert read["percentage"] == 50.0 and read["completed_at"] is not None
    complete(client, bob, "units", "u1")

    raised = call(client, "PATCH", path("v1", "courses", COURSE), {"completion_threshold": 75})
    assert progress(client, "ada", COURSE, raised["position"])["completed_at"] is None
    roster = call(
        client,
        "GET",
        path("v1", "courses", COURSE, "progress"),
        params={"min_position": raised["position"]},
    )
    assert roster["summary"]["completed"] == 0

    lowered = call(client, "PATCH", path("v1", "courses", COURSE), {"completion_threshold": 25})
    for learner in ("ada", "bob"):
        assert progress(client, learner, COURSE, lowered["position"])["completed_at"] is not None
    roster = call(
        client,
        "GET",
        path("v1", "courses", COURSE, "progress"),
        params={"min_position": lowered["position"]},
    )
    assert roster["summary"]["completed"] == 2

    for refused in (0, 100.5, -1, "most"):
        response = client.patch(
            path("v1", "courses", COURSE), json={"completion_threshold": refused}
        )
        assert_problem(response, 422, "completion_threshold")
    assert_problem(client.post("/v1/courses", json={**body, "completion_threshold": 0}), 422)


def test_a_unit_can_be_changed_in_place(client: httpx.Client) -> None:
    create_course(client)
    ada = enroll(client, "ada")["enrollment_id"]
    complete(client, ada, "units", "u2")
    url = path("v1", "courses", COURSE, "units", "u2")
    changed = call(client, "PATCH", url, {"title": "Renamed", "required": False, "weight": 2.5})
    course = call(client, "GET", path("v1", "courses", COURSE))
    u2 = next(unit for unit in course["units"] if unit["unit_id"] == "u2")
    assert (u2["title"], u2["required"], u2["weight"]) == ("Renamed", False, 2.5)
    read = progress(client, "ada", COURSE, changed["position"])
    assert [u["required"] for u in read["units"]] == [True, False, False, True]
    assert numbers(read) == (1, 4, 25.0)  # units-v1 counts every unit, required or not

    unchanged = call(client, "PATCH", url, {"title": "Renamed"})
    assert unchanged["version"] == changed["version"]  # nothing new: nothing appended
    assert_problem(client.patch(url, json={"weight": 0}), 422, "weight")
    assert_problem(client.patch(url, json={"modules": []}), 422, "modules")
    missing = client.patch(path("v1", "courses", COURSE, "units", "u9"), json={"title": "x"})
    assert_problem(missing, 404, "unit_id")


def test_every_event_records_the_key_that_acted(settings: Settings, tmp_path: Path) -> None:
    admin, admin_line = new_key("lms-admin", {"read", "write", "admin"})
    writer, writer_line = new_key("grader", {"read", "write"})
    keys = {"LEDGER_API_KEYS": f"{admin_line};{writer_line}"}
    with (
        Server(settings, tmp_path / "server.log", keys) as server,
        httpx.Client(base_url=server.url, timeout=DEADLINE) as anonymous,
    ):
        as_admin = {"Authorization": f"Bearer {admin}"}
        as_writer = {"Authorization": f"Bearer {writer}"}
        anonymous.headers.update(as_admin)
        create_course(anonymous)
        ada = enroll(anonymous, "ada")["enrollment_id"]
        anonymous.headers.update(as_writer)
        complete(anonymous, ada, "units", "u2")  # the hot path names the key too
        url = path("v1", "enrollments", ada, "units", "u4", "completion")
        call(anonymous, "POST", url, {"on_behalf_of": "ada", "reason": "entered by staff"})
        events = history(anonymous, ada)
    assert [(e["type"], e["actor"], e["on_behalf_of"], e["reason"]) for e in events] == [
        ("Enrolled", "lms-admin", None, None),
        ("UnitCompleted", "grader", None, None),
        ("UnitCompleted", "grader", "ada", "entered by staff"),
    ]


def test_the_cli_revokes_resets_and_changes_courses_as_cli(
    services: LedgerServices, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    enrollment: UUID = ledger.enroll("ada", "c1").enrollment.id
    for unit in ("u1", "u2"):
        ledger.complete_unit(enrollment, unit)

    def cli(command: str, **options: Any) -> int:
        return run(services, argparse.Namespace(command=command, **options))

    assert (
        cli(
            "revoke",
            enrollment=enrollment,
            unit="u1",
            module=None,
            reason="typo",
            on_behalf_of=None,
        )
        == 0
    )
    assert "appended UnitCompletionRevoked" in capsys.readouterr().out
    assert cli("course", course="c1", threshold=25.0) == 0
    assert cli("unit", course="c1", unit="u4", title=None, required=False, weight=None) == 0
    project(services)
    read = progress_of(services, "ada", "c1")
    assert (read["completed_units"], read["completed_at"] is not None) == (1, True)
    assert cli("reset", enrollment=enrollment, reason="retake", on_behalf_of="ada") == 0
    assert cli("course", course="c1", threshold=0.0) == 2  # refused, named
    assert "completion_threshold" in capsys.readouterr().err
    project(services)
    read = progress_of(services, "ada", "c1")
    assert (read["completed_units"], read["attempt"]) == (0, 2)

    assert cli("audit", learner="ada", course="c1", as_of=None) == 0
    reset_line = capsys.readouterr().out.splitlines()[-2]  # the last is the summary
    assert "Reset" in reset_line and "attempt=2" in reset_line
    assert "by=cli" in reset_line and "for=ada" in reset_line and "reason='retake'" in reset_line
