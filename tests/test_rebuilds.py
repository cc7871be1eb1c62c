"""Rebuilds on both databases: resume after a death, cancel, drop, dry run and diff, the API."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from bootstrap import LedgerServices, Settings
from cli.progress_ledger import main
from domain.errors import AlreadyExistsError
from projections.audit import EventLog, verify
from projections.engine import ProjectionEngine
from projections.generations import Generation
from projections.rebuilds import Rebuilder, diff_generations
from tests.deadlines import DEADLINE
from tests.test_audit import use_database
from tests.test_projection import make_history, numbers, project, table_rows


class Died(BaseException):
    """The process dies (not an Exception, which the engine would take for an event it cannot
    apply and park)."""


def test_a_rebuild_that_dies_resumes_from_its_own_position(services: LedgerServices) -> None:
    make_history(services)
    project(services)
    engine = ProjectionEngine(
        services.ledger.recorder, services.ledger.mapper, services.generations, batch_size=5
    )
    rebuilder = Rebuilder(engine)
    generation = rebuilder.begin("required-units-v2")

    def die_after_two_batches(moved: Generation) -> None:
        if moved.position >= 10:
            raise Died

    with pytest.raises(Died):
        rebuilder.run(generation, on_batch=die_after_two_batches)

    resumed = rebuilder.begin("required-units-v2")
    assert (resumed.number, resumed.status, resumed.position) == (generation.number, "building", 10)
    applied: list[int] = []
    ended = rebuilder.run(resumed, on_batch=lambda moved: applied.append(moved.position))
    assert applied[0] == 15  # continued after 10, not from the start
    assert (ended.status, ended.position) == ("live", services.ledger.head_position())
    assert numbers(services, "learner-3") == (2, 3, 66.67)

    in_one_go = services.engine.catch_up(services.generations.create("required-units-v2"))
    assert table_rows(services, ended.number) == table_rows(services, in_one_go.number)
    log = EventLog(services.ledger.recorder, services.ledger.mapper, services.db)
    assert verify(log, services.generations).mismatches == []


def test_a_cancelled_rebuild_stops_and_can_be_dropped(services: LedgerServices) -> None:
    make_history(services)
    project(services)
    rebuilder = Rebuilder(services.engine)
    live = services.generations.live()
    building = rebuilder.begin("weighted-v1")
    with pytest.raises(AlreadyExistsError, match="cancel it before"):
        rebuilder.begin("required-units-v2")

    assert rebuilder.cancel(building.number).status == "cancelled"
    ended = rebuilder.run(building)
    assert (ended.status, ended.position) == ("cancelled", 0)  # its batch writes were refused
    assert services.generations.live().number == live.number

    with pytest.raises(AlreadyExistsError, match="live"):
        rebuilder.drop(live.number)
    with pytest.raises(AlreadyExistsError, match="only a building one"):
        rebuilder.cancel(live.number)
    rebuilder.drop(building.number)
    assert [g.number for g in services.generations.all()] == [live.number]


def test_dry_run_reports_the_changes_then_the_rebuild_switches(
    services: LedgerServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_history(services)
    project(services)
    use_database(monkeypatch, settings)

    assert main(["rebuild", "--rules", "required-units-v2", "--dry-run", "--progress"]) == 0
    captured = capsys.readouterr()
    [candidate] = [g for g in services.generations.all() if g.status == "built"]
    diff = diff_generations(services.db, 1, candidate.number)
    assert diff.changed == 12  # every total drops from 4 to 3: u3 is optional
    changes = {c.learner_id: c for c in diff.learners}
    assert (changes["learner-3"].old_percentage, changes["learner-3"].new_percentage) == (
        50.0,
        66.67,
    )
    assert "events/s ETA" in captured.err  # the progress bar (rich), on stderr only
    assert "events/s" not in captured.out
    assert f"{diff.changed} snapshots change from generation 1" in captured.out
    assert "learner-3 c1: 50.0% -> 66.67%, completed False -> False" in captured.out
    assert services.generations.live().number == 1

    assert main(["rebuild", "--rules", "required-units-v2"]) == 0
    captured = capsys.readouterr()
    assert f"resuming generation {candidate.number}" in captured.err
    assert services.generations.live().number == candidate.number
    assert numbers(services, "learner-3") == (2, 3, 66.67)

    assert main(["projections", "drop", "1"]) == 0
    assert "g1 " not in capsys.readouterr().out
    assert main(["projections", "drop", str(candidate.number)]) == 2


def wait_until(check: Any, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_rebuilds_through_the_api(client: httpx.Client) -> None:
    client.post(
        "/v1/courses",
        json={"course_id": "c1", "units": [{"unit_id": "a"}, {"unit_id": "b", "required": False}]},
    ).raise_for_status()
    for learner in ("ada", "bob"):
        enrollment = client.post("/v1/enrollments", json={"learner_id": learner, "course_id": "c1"})
        client.post(
            f"/v1/enrollments/{enrollment.json()['enrollment_id']}/units/a/completion"
        ).raise_for_status()
    rebuilds = "/v1/projections/course_progress/rebuilds"

    started = client.post(rebuilds, json={"rules": "required-units-v2", "dry_run": True})
    assert started.status_code == 202
    number = started.json()["generation"]
    # Its diff answers while it builds, and once it is built.
    wait_until(lambda: client.get(f"{rebuilds}/{number}/diff").status_code == 200)
    wait_until(lambda: client.get(f"{rebuilds}/{number}").json()["status"] == "built")
    diff = client.get(f"{rebuilds}/{number}/diff").json()
    assert (diff["changed"], diff["against_rules"], diff["rules"]) == (
        2,
        "units-v1",
        "required-units-v2",
    )
    assert [
        (c["learner_id"], c["old_percentage"], c["new_percentage"]) for c in diff["learners"]
    ] == [
        ("ada", 50.0, 100.0),
        ("bob", 50.0, 100.0),
    ]
    assert diff["learners"][0]["new_completed"] is True
    paged = client.get(f"{rebuilds}/{number}/diff", params={"limit": 1}).json()
    assert paged["next"] == "ada/c1"

    unknown = client.post(rebuilds, json={"rules": "units-v9"})
    assert (unknown.status_code, unknown.json()["field"]) == (422, "rules")
    # A finished dry run blocks nothing: a dry run under other rules replaces it.
    other = client.post(rebuilds, json={"rules": "weighted-v1", "dry_run": True})
    assert other.status_code == 202
    replacing = other.json()["generation"]
    wait_until(lambda: client.get(f"{rebuilds}/{replacing}").json()["status"] == "built")
    assert client.get(f"{rebuilds}/{number}").status_code == 404

    listed = client.get("/v1/projections").json()
    assert [(g["generation"], g["status"], g["rules"]) for g in listed["generations"]] == [
        (1, "live", "units-v1"),
        (replacing, "built", "weighted-v1"),
    ]
    refused = client.delete(f"{rebuilds}/{replacing}")
    assert (refused.status_code, refused.json()["field"]) == (409, "generation")
    assert client.get(f"{rebuilds}/999").status_code == 404

    # A rebuild under the dry run's rules resumes its generation and switches to it.
    dropped = client.post(rebuilds, json={"rules": "required-units-v2"}).json()
    switched = dropped["generation"]
    wait_until(lambda: client.get(f"{rebuilds}/{switched}").json()["status"] == "live")
    ada = client.get("/v1/learners/ada/courses/c1/progress").json()
    assert (ada["rules"], ada["percentage"], ada["completed_at"] is not None) == (
        "required-units-v2",
        100.0,
        True,
    )
    assert client.get(f"{rebuilds}/{replacing}").status_code == 404
    statuses = [g["status"] for g in client.get("/v1/projections").json()["generations"]]
    assert statuses == ["retired", "live"]
    again = client.post(rebuilds, json={"rules": "weighted-v1", "dry_run": True}).json()
    wait_until(lambda: client.get(f"{rebuilds}/{again['generation']}").json()["status"] == "built")
    resumed = client.post(rebuilds, json={"rules": "weighted-v1"}).json()
    assert resumed["generation"] == again["generation"]
    wait_until(lambda: client.get(f"{rebuilds}/{resumed['generation']}").json()["status"] == "live")


def test_a_dry_run_blocks_no_dry_run_or_rebuild_under_other_rules(
    services: LedgerServices,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_history(services)
    project(services)
    use_database(monkeypatch, settings)

    assert main(["rebuild", "--rules", "required-units-v2", "--dry-run", "--progress"]) == 0
    [first] = [g for g in services.generations.all() if g.status == "built"]
    assert main(["rebuild", "--rules", "weighted-v1", "--dry-run"]) == 0
    [second] = [g for g in services.generations.all() if g.status == "built"]
    assert (second.rules, second.number > first.number) == ("weighted-v1", True)
    assert first.number not in {g.number for g in services.generations.all()}
    capsys.readouterr()

    assert main(["rebuild", "--rules", "required-units-v2"]) == 0
    assert "rebuilding generation" in capsys.readouterr().err
    live = services.generations.live()
    assert (live.rules, live.number > second.number) == ("required-units-v2", True)
    assert [g.status for g in services.generations.all()] == ["retired", "live"]


def test_two_rebuilders_on_one_generation_never_apply_a_batch_twice(
    services: LedgerServices,
) -> None:
    """An API rebuild thread and a CLI resume of the same generation: the writes' position
    check lets exactly one write each batch, and the other carries on from there."""
    make_history(services)
    generations = services.generations
    generation = Rebuilder(services.engine).begin("required-units-v2")
    rebuilders = [
        Rebuilder(
            ProjectionEngine(
                services.ledger.recorder, services.ledger.mapper, generations, batch_size=3
            )
        )
        for _ in range(2)
    ]
    threads = [
        threading.Thread(target=r.run, args=(generation,), kwargs={"switch": False})
        for r in rebuilders
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE)
    assert not any(thread.is_alive() for thread in threads), "a rebuilder is stuck"

    built = generations.get(generation.number)
    assert (built.status, built.position) == ("building", services.ledger.head_position())
    in_one_go = services.engine.catch_up(generations.create("required-units-v2"))
    assert table_rows(services, built.number) == table_rows(services, in_one_go.number)


def roster_indexes(services: LedgerServices, generation: int) -> set[str]:
    table = f"course_progress_g{generation}"
    with services.db.transaction(commit=False) as cursor:
        if services.db.is_postgres:
            schema = services.db.table("x").split(".")[0].strip('"')
            cursor.execute(
                "SELECT indexname AS name FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (schema, table),
            )
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", (table,)
            )
        names = {str(row["name"]) for row in cursor.fetchall()}
    return {name for name in names if name.split("_course_progress_")[-1] in ROSTER_SORTS}


ROSTER_SORTS = {"roster", "by_percentage", "by_updated_at"}


def test_a_rebuild_makes_the_roster_indexes_once_caught_up_and_before_it_switches(
    services: LedgerServices,
) -> None:
    make_history(services)
    project(services)
    rebuilder = Rebuilder(services.engine)
    generation = rebuilder.begin("required-units-v2")
    assert roster_indexes(services, generation.number) == set()  # written faster without

    ended = rebuilder.run(generation)

    assert ended.status == "live"
    assert {
        name.split("_course_progress_")[-1] for name in roster_indexes(services, ended.number)
    } == (ROSTER_SORTS)
