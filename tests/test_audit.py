"""Audit on both databases: timelines, progress as of an instant, and verify catching a bad row."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from bootstrap import LedgerServices, Settings
from cli.progress_ledger import main
from domain.course import Module, Unit
from projections.audit import EventLog, timeline, verify
from projections.progress_tables import GenerationTables
from tests.factories import four_unit_course
from tests.test_projection import make_history, project


def event_log(services: LedgerServices) -> EventLog:
    return EventLog(services.ledger.recorder, services.ledger.mapper, services.db)


def use_database(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    """The CLI reads its settings from the environment, like in production."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("LEDGER_DATABASE_SCHEMA", settings.database_schema)


def test_the_timeline_explains_every_change_of_percentage(services: LedgerServices) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    ada = ledger.enroll("ada", "c1").enrollment.id
    ledger.complete_module(ada, "m1")
    ledger.complete_module(ada, "m2")  # completes u1 in the same save
    ledger.add_module("c1", "u2", Module("m9"))  # u2's modules: ada's course numbers stay
    ledger.add_unit("c1", Unit("u5"))
    ledger.complete_unit(ada, "u4")
    ledger.remove_unit("c1", "u4")

    replayed = timeline(event_log(services), ada, "units-v1")

    assert [(m.type, m.course_event, m.progress.percentage) for m in replayed.moments] == [
        ("Enrolled", False, 0.0),
        ("ModuleCompleted", False, 0.0),
        ("ModuleCompleted", False, 0.0),
        ("UnitCompleted", False, 25.0),
        ("UnitAdded", True, 20.0),
        ("UnitCompleted", False, 40.0),
        ("UnitRemoved", True, 25.0),
    ]
    assert replayed.moments[3].data == {"unit_id": "u1"}
    positions = [m.position for m in replayed.moments]
    assert positions == sorted(positions)
    assert replayed.position == ledger.head_position()


def test_verify_passes_then_catches_a_corrupted_row(
    services: LedgerServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_history(services)
    project(services)
    clean = verify(event_log(services), services.generations)
    assert (clean.checked, clean.mismatches) == (12, [])  # and their 12 × 4 unit rows

    live = services.generations.live()
    with services.db.transaction() as cursor:
        cursor.execute(
            f"UPDATE {GenerationTables(services.db, live.number).course_progress} "
            "SET percentage = 99 WHERE learner_id = %s",
            ("learner-3",),
        )

    [mismatch] = verify(event_log(services), services.generations).mismatches
    assert (mismatch.learner_id, mismatch.course_id, mismatch.unit_id) == ("learner-3", "c1", None)
    assert mismatch.stored is not None and mismatch.replayed is not None
    assert (mismatch.stored[2], mismatch.replayed[2]) == (99.0, 50.0)

    use_database(monkeypatch, settings)
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH learner=learner-3 course=c1 stored=2/4,99.00%" in out
    assert "replayed=2/4,50.00%" in out
    assert main(["verify", "--course", "other-course"]) == 0

    with services.db.transaction() as cursor:
        cursor.execute(
            f"UPDATE {GenerationTables(services.db, live.number).unit_progress} "
            "SET completed = %s WHERE learner_id = %s AND unit_id = %s",
            (True, "learner-4", "u4"),
        )
    unit_mismatches = verify(event_log(services), services.generations).mismatches
    assert sorted((m.learner_id, m.unit_id or "") for m in unit_mismatches) == [
        ("learner-3", ""),
        ("learner-4", "u4"),
    ]
    assert main(["verify"]) == 1
    assert "learner=learner-4 course=c1 unit=u4 stored=completed=True" in capsys.readouterr().out


def test_audit_prints_one_line_per_event_with_the_percentage_after_it(
    services: LedgerServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ledger = services.ledger
    ledger.create_course("c1", "Course", four_unit_course())
    ada = ledger.enroll("ada", "c1").enrollment.id
    ledger.complete_unit(ada, "u2")
    between = datetime.now(UTC)
    time.sleep(0.01)
    ledger.complete_unit(ada, "u4")
    use_database(monkeypatch, settings)

    assert main(["audit", "ada", "c1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "ada in c1 under units-v1"
    assert ["Enrolled" in lines[1], "unit_id=u2" in lines[2], "unit_id=u4" in lines[3]] == [
        True
    ] * 3
    assert [line.split("->")[1].split()[0] for line in lines[1:4]] == ["0.00%", "25.00%", "50.00%"]
    assert lines[4].startswith("now: 50.00% (2/4)")

    assert main(["audit", "ada", "c1", "--as-of", between.isoformat()]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    assert lines[3].startswith(f"{between.isoformat()}: 25.00% (1/4)")


def test_history_and_as_of_over_http(client: httpx.Client) -> None:
    course = {
        "course_id": "c1",
        "units": [
            {"unit_id": "u1", "modules": [{"module_id": "m1"}]},
            {"unit_id": "u2"},
            {"unit_id": "u3", "required": False},
        ],
    }
    assert client.post("/v1/courses", json=course).status_code == 201
    enrollment = client.post("/v1/enrollments", json={"learner_id": "ada", "course_id": "c1"})
    enrollment_id = enrollment.json()["enrollment_id"]
    before_enrolment = enrollment.json()["position"]
    instants = []
    for path in ("modules/m1/completion", "units/u3/completion"):
        client.post(f"/v1/enrollments/{enrollment_id}/{path}").raise_for_status()
        instants.append(datetime.now(UTC).isoformat())
        time.sleep(0.01)
    added = client.post("/v1/courses/c1/units", json={"unit_id": "u4"}).json()

    first = client.get(f"/v1/enrollments/{enrollment_id}/history", params={"limit": 2}).json()
    assert [e["type"] for e in first["events"]] == ["Enrolled", "ModuleCompleted"]
    assert first["events"][0]["position"] == before_enrolment
    rest = client.get(
        f"/v1/enrollments/{enrollment_id}/history", params={"after": first["next"]}
    ).json()
    assert rest["next"] is None
    assert [(e["type"], e["course_event"], e["percentage"]) for e in rest["events"]] == [
        ("UnitCompleted", False, 33.33),
        ("UnitCompleted", False, 66.67),
        ("UnitAdded", True, 50.0),
    ]
    assert rest["events"][0]["data"] == {"unit_id": "u1"}
    assert rest["events"][0]["version"] == 3

    progress = "/v1/learners/ada/courses/c1/progress"
    then = client.get(progress, params={"as_of": instants[0]}).json()
    assert (then["percentage"], then["total_units"], then["rules"]) == (33.33, 3, "units-v1")
    assert then["position"] == rest["events"][0]["position"]
    assert client.get(progress, params={"as_of": instants[1]}).json()["percentage"] == 66.67
    now = client.get(progress, params={"min_position": added["position"]}).json()
    assert now["percentage"] == 50.0

    too_early = client.get(progress, params={"as_of": "2000-01-01T00:00:00Z"})
    assert (too_early.status_code, too_early.json()["field"]) == (404, "learner_id")
    naive = client.get(progress, params={"as_of": "2026-01-01T00:00:00"})
    assert (naive.status_code, naive.json()["field"]) == (422, "as_of")
    missing = client.get("/v1/enrollments/not-a-uuid/history")
    assert (missing.status_code, missing.json()["field"]) == (422, "enrollment_id")
    unknown = client.get("/v1/enrollments/00000000-0000-0000-0000-000000000000/history")
    assert unknown.status_code == 404
